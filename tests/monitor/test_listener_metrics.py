"""The listener's and the resource shortages' metrics: values, promtool, documentation,
and names reserved against probe samples."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from monitor.connections import ListenerStats
from monitor.exposition import render
from monitor.listener_metrics import LISTENER_METRICS, ListenerCollector
from monitor.metrics import build_registry
from monitor.probe import Probe, SampleSpec
from monitor.shortage import Shortage
from tests.conftest import which_or_require
from tests.monitor.test_metrics import make_check, make_view

DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def busy_listener() -> tuple[ListenerStats, Shortage]:
    stats = ListenerStats()
    for _ in range(3):
        stats.opened()
    stats.refused["address"] += 2
    stats.timeouts["head"] += 5
    stats.requests_refused["body_too_large"] += 1
    stats.hold(1234)
    stats.spooled, stats.spooled_bytes = 2, 14_000_000
    stats.accept_paused, stats.accept_pauses = True, 1
    shortage = Shortage()
    shortage.note("checks")
    return stats, shortage


def test_the_listener_families_read_the_live_counters():
    registry = CollectorRegistry()
    registry.register(ListenerCollector(*busy_listener()))
    get = registry.get_sample_value
    assert get("vigie_http_connections") == 3
    assert get("vigie_http_connections_refused_total", {"limit": "address"}) == 2
    assert get("vigie_http_connections_refused_total", {"limit": "total"}) == 0
    assert get("vigie_http_timeouts_total", {"phase": "head"}) == 5
    assert get("vigie_http_timeouts_total", {"phase": "body"}) == 0
    assert get("vigie_http_requests_refused_total", {"reason": "body_too_large"}) == 1
    assert get("vigie_http_request_body_bytes") == 1234
    assert get("vigie_http_request_body_spooled_bytes_total") == 14_000_000
    assert get("vigie_http_accept_paused") == 1 and get("vigie_http_accept_pauses_total") == 1
    assert get("vigie_resource_shortages_total", {"source": "checks"}) == 1
    assert get("vigie_resource_shortages_total", {"source": "listener"}) == 0
    emitted = set(re.findall(r"^# TYPE (vigie_\w+) ", generate_latest(registry).decode(), re.M))
    assert emitted == LISTENER_METRICS


def test_promtool_accepts_them_and_the_docs_list_them():
    promtool = which_or_require("promtool", "promtool is missing (Debian package prometheus)")
    registry = CollectorRegistry()
    registry.register(ListenerCollector(*busy_listener()))
    checked = subprocess.run([promtool, "check", "metrics"], input=generate_latest(registry),
                             capture_output=True, timeout=30)
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    docs = DOCS.read_text(encoding="utf-8")
    assert [name for name in sorted(LISTENER_METRICS) if f"`{name}" not in docs] == []


class Clashing(Probe):
    """A probe kind declaring a sample named like a listener family."""

    kind = "web"
    samples = (SampleSpec("http_connections", "Connections the target has open."),)


def test_a_probe_sample_cannot_take_a_listener_name():
    view = make_view({"web": [make_check("web", "home", confirm=1)]})
    view.probe_kinds = {"web": Clashing}
    from monitor.probe import ProbeResult, Status

    view.state.apply("web/home", ProbeResult(Status.UP, samples={"http_connections": 7.0},
                                             started_at=1.0))
    text = render(build_registry(view, process=False)).decode()
    assert "vigie_http_connections" not in text
