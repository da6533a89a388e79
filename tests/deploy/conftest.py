"""Fixtures of the deploy kit's tests: the metric names a running Vigie really exports."""

from __future__ import annotations

import asyncio
import re
import textwrap
from pathlib import Path

import aiohttp
import pytest

from monitor.plugins import build_plugin_manager, hookimpl
from monitor.runtime import run_from_path
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"

_TYPE_LINE = re.compile(r"^# TYPE (\S+) (\w+)$", re.M)
_SAMPLE_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", re.M)
#: series names a family of each type exposes besides its own name
_SUFFIXES = {"counter": ("_total", "_created"), "summary": ("_sum", "_count", "_created"),
             "histogram": ("_bucket", "_sum", "_count", "_created")}


def names_in_exposition(text: str) -> set[str]:
    """Every series name a text exposition declares or contains."""
    names = set(_SAMPLE_LINE.findall(text))
    for family, kind in _TYPE_LINE.findall(text):
        # the 0.0.4 format names a counter family with its _total already
        family = family.removesuffix("_total") if kind == "counter" else family
        if kind != "counter":  # a counter's series is only ever <family>_total
            names.add(family)
        names.update(family + suffix for suffix in _SUFFIXES.get(kind, ()))
    return names


class _Desk:
    """A helpdesk plugin, so that the members' assistance runs (and exports its metric)."""

    @hookimpl
    def vigie_assistance_request(self, request):
        return None


async def _scrape(tmp: Path) -> str:
    """Start ``vigie run`` on a small configuration and return its /metrics."""
    port = free_port()
    config = tmp / "vigie.yaml"
    # one check of each kind declaring certificate samples is enough: a probe kind's
    # sample families are exported as soon as the kind is registered
    config.write_text(textwrap.dedent(f"""\
        data_dir: {tmp / "data"}
        server: {{listen: "127.0.0.1:{port}"}}
        assistance: {{enabled: true, desk: test-desk}}
        services:
          - id: web
            name: Web
            checks:
              - {{id: port, kind: tcp, host: 127.0.0.1, port: {free_port()}}}
        """))
    ready, stop = asyncio.Event(), asyncio.Event()
    pm = build_plugin_manager(extra_plugins=[("test-desk", _Desk())])
    task = asyncio.create_task(run_from_path(config, ready=ready, stop=stop,
                                             plugin_manager=pm))
    try:
        await asyncio.wait_for(ready.wait(), timeout=20)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                assert response.status == 200
                return await response.text()
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=20)


@pytest.fixture(scope="session")
def exported_metrics(tmp_path_factory) -> set[str]:
    """Names of the series a real ``vigie run`` serves at /metrics."""
    text = asyncio.run(_scrape(tmp_path_factory.mktemp("vigie-metrics")))
    return names_in_exposition(text) | names_in_exposition(_cluster_exposition())


def _cluster_exposition() -> str:
    """What a node of a cluster exports beside (it needs PostgreSQL: its collector,
    rendered from a node's view)."""
    from prometheus_client import CollectorRegistry, generate_latest

    from monitor.cluster.metrics import ClusterCollector

    class View:
        live, leader, fencing_epoch, checks_owned = ("a", "b"), True, 3, 10

    registry = CollectorRegistry()
    registry.register(ClusterCollector(View()))
    return generate_latest(registry).decode()


def queried_metrics(expression: str) -> set[str]:
    """The ``vigie_*`` (and ``process_*``) series names a PromQL expression reads; a
    ``__name__`` regular expression counts for every exported name it matches."""
    return set(re.findall(r"\b((?:vigie|process)_[a-z0-9_]+)\b(?!\s*\()", expression))


def name_patterns(expression: str) -> list[str]:
    """``__name__=~"…"`` regular expressions in a PromQL expression."""
    return re.findall(r'__name__\s*=~\s*"([^"]+)"', expression)
