"""``vigie run`` runs on uvloop when it is installed (as the benchmarks measure it), on
asyncio's own loop with ``VIGIE_EVENT_LOOP=asyncio``; and the heap trim it does after
start-up is a real glibc call."""

from __future__ import annotations

import asyncio
import importlib.util
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

import monitor.runtime
from monitor import malloc
from monitor.cli import cli

HAS_UVLOOP = importlib.util.find_spec("uvloop") is not None


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "vigie.yaml"
    path.write_text("data_dir: data\nplugins: {blocked: [demo]}\nservices:\n"
                    "  - id: web\n    name: Web\n    checks:\n"
                    "      - {id: home, kind: http, url: 'http://127.0.0.1:9/'}\n",
                    encoding="utf-8")
    return path


def _loop_of_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The module of the event loop class ``vigie run`` serves on (serve() replaced)."""
    seen: list[str] = []

    async def serve(config, plugin_manager, registry, **_: object) -> None:
        seen.append(type(asyncio.get_running_loop()).__module__)

    monkeypatch.setattr(monitor.runtime, "serve", serve)
    result = CliRunner().invoke(cli, ["-c", str(_config(tmp_path)), "run"])
    assert result.exit_code == 0, result.output
    assert len(seen) == 1
    return seen[0]


@pytest.mark.skipif(not HAS_UVLOOP, reason="uvloop is not installed")
def test_vigie_run_serves_on_uvloop(tmp_path, monkeypatch):
    monkeypatch.delenv("VIGIE_EVENT_LOOP", raising=False)
    assert _loop_of_run(tmp_path, monkeypatch).startswith("uvloop")


def test_vigie_run_can_be_told_to_use_asyncios_loop(tmp_path, monkeypatch):
    monkeypatch.setenv("VIGIE_EVENT_LOOP", "asyncio")
    assert _loop_of_run(tmp_path, monkeypatch).startswith("asyncio")


def _is_glibc() -> bool:
    try:
        return bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (AttributeError, ValueError, OSError):
        return False


def test_the_heap_trim_is_glibcs_and_returns_freed_pages():
    assert malloc.available() == _is_glibc()
    if not _is_glibc():
        assert malloc.trim() is False
        return
    # 64 KiB blocks come from the heap (below the mmap threshold); freeing all but the
    # last leaves free pages that only malloc_trim can give back
    blocks = [bytearray(64 * 1024) for _ in range(1024)]
    last = blocks[-1]
    del blocks
    assert malloc.trim() is True
    assert len(last) == 64 * 1024


def test_the_malloc_policy_is_set_by_the_runtime_not_by_importing_metrics():
    # importing the metrics module sets nothing (it used to call mallopt at import)
    source = (Path(__file__).resolve().parents[2] / "monitor" / "metrics.py").read_text(
        encoding="utf-8")
    assert "mallopt" not in source and "ctypes" not in source
    # the runtime calls configure() at start; it applies on glibc only
    assert malloc.configure() is _is_glibc()
    runtime_source = (Path(__file__).resolve().parents[2] / "monitor" / "runtime.py").read_text(
        encoding="utf-8")
    assert "malloc.configure()" in runtime_source
