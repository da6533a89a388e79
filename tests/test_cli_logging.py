"""A quiet log: one line per meaningful event by default, as the real command prints it.

Vigie's own loggers say what happens (a service changing status, Vigie listening); the
libraries say only their warnings: no SQLAlchemy pool lines, no Alembic set-up lines, no
Apprise pair beside each alert. ``--verbose`` brings the libraries' detail back.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from monitor.logs import own_packages
from tests.conftest import free_port
from tests.peers import Process
from tests.plugins.test_demo import free_base_port

VIGIE = [sys.executable, "-m", "monitor"]
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} "
                      r"(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL) (?P<name>\S+): ")


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("VIGIE_CONFIG", "VIGIE_USER")}


def log_lines(stderr: str) -> list[tuple[str, str]]:
    """``(level, logger)`` of each log line."""
    return [(m["level"], m["name"]) for m in map(LOG_LINE.match, stderr.splitlines()) if m]


def libraries_below_warning(stderr: str) -> list[tuple[str, str]]:
    """The log lines of libraries (not Vigie's loggers) below WARNING."""
    own = own_packages()
    return [(level, name) for level, name in log_lines(stderr)
            if name.split(".")[0] not in own and level in ("DEBUG", "INFO")]


def vigie(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*VIGIE, *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, env=env())


CONFIG = """\
services:
  - id: web
    name: Web
    checks: [{id: tcp, kind: tcp, host: 127.0.0.1, port: 9}]
"""


def test_every_plugin_s_package_logs_as_vigie():
    from importlib.metadata import entry_points

    packages = {entry.module.split(".")[0] for entry in entry_points(group="vigie")}
    assert packages and packages <= own_packages()
    assert {"monitor", "plugins", "dashboard", "docs_bridge", "tickets_bridge"} <= own_packages()


def test_commands_log_no_library_detail_by_default_and_all_of_it_with_verbose(tmp_path):
    (tmp_path / "vigie.yaml").write_text(CONFIG)
    for command in (["db", "upgrade"], ["notice", "add", "Coupure"], ["notice", "list"],
                    ["incident", "list"], ["user", "list"]):
        out = vigie(*command, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        assert libraries_below_warning(out.stderr) == [], (command, out.stderr)
        assert "Traceback" not in out.stderr

    (tmp_path / "data" / "vigie.sqlite").unlink()
    verbose = vigie("-v", "db", "upgrade", cwd=tmp_path)
    assert verbose.returncode == 0, verbose.stderr
    names = {name for _, name in libraries_below_warning(verbose.stderr)}
    assert "alembic.runtime.migration" in names
    assert any(name.startswith("sqlalchemy.pool") for name in names)


def test_a_demo_run_and_a_command_beside_it_log_no_library_detail(tmp_path):
    base, port = free_base_port(), free_port()
    data = tmp_path / "demo"
    proc = subprocess.Popen(
        [*VIGIE, "demo", "--port", str(port), "--targets-port", str(base),
         "--data-dir", str(data)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, env=env(), cwd=tmp_path)
    demo = Process(proc, stream=proc.stderr)
    try:
        demo.wait_line("listening on", "Vigie listening")
        # Apprise has spoken once the demo's inbox says an alert came (the webmail is down)
        demo.wait_line("inbox received an alert", "the first alert", timeout=120)
        beside = vigie("-c", str(data / "vigie-demo.yaml"), "notice", "list", cwd=tmp_path)
        assert beside.returncode == 0, beside.stderr
    finally:
        text = demo.stop(signal.SIGINT)
    assert "Traceback" not in text
    assert re.search(r"INFO monitor\.runtime: Vigie .*listening on", text)  # Vigie's events
    assert libraries_below_warning(text) == [], text
    assert libraries_below_warning(beside.stderr) == [], beside.stderr
