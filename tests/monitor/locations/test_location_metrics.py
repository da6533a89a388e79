"""The ``location`` series of ``/metrics``: values read from a fresh registry, promtool on
the output, every family documented and reserved from probes' samples."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from monitor.config import Check, LocalizedText, LocationSettings
from monitor.locations.book import LocationBook
from monitor.locations.metrics import LOCATION_METRICS, LocationCollector
from monitor.metrics import RESERVED_METRICS
from monitor.probe import CheckRef, ProbeConfig, ProbeResult, reason
from tests.conftest import which_or_require

DOCS = Path(__file__).resolve().parents[3] / "docs" / "metrics.md"
SETTINGS = LocationSettings.model_validate(
    {"remote": [{"name": "lyon"}, {"name": "nice"}], "silent_after": "10m"})


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def check(check_id: str, locations: tuple[str, ...], quorum: int = 1) -> Check:
    return Check(CheckRef("web", check_id, "http"), LocalizedText(fr=check_id), 300.0, 10.0,
                 1, 30.0, ProbeConfig(), locations=locations, quorum=quorum)


def book_and_registry() -> tuple[LocationBook, Clock, CollectorRegistry]:
    clock = Clock()
    book = LocationBook([check("home", ("local", "lyon", "nice"), 2),
                         check("plain", ("local",))], SETTINGS, clock=clock)
    registry = CollectorRegistry()
    registry.register(LocationCollector(book))
    return book, clock, registry


def test_each_location_s_status_and_reachability(tmp_path):
    book, clock, registry = book_and_registry()
    book.record("web/home", "local", ProbeResult.up(started_at=clock.now - 5))
    book.record("web/home", "lyon", ProbeResult.down(reason("http.status", "503", "503"),
                                                     started_at=clock.now - 3))
    value = registry.get_sample_value
    labels = {"service": "web", "check": "home"}
    assert value("vigie_check_location_status", {**labels, "location": "local"}) == 0
    assert value("vigie_check_location_status", {**labels, "location": "lyon"}) == 2
    assert value("vigie_check_location_status", {**labels, "location": "nice"}) == 3
    assert value("vigie_check_location_last_run_timestamp_seconds",
                 {**labels, "location": "lyon"}) == clock.now - 3
    assert value("vigie_check_location_last_run_timestamp_seconds",
                 {**labels, "location": "nice"}) is None
    assert value("vigie_check_locations_failing", labels) == 1
    # a check run on the server alone has no location series
    assert value("vigie_check_location_status",
                 {"service": "web", "check": "plain", "location": "local"}) is None
    assert value("vigie_location_reachable", {"location": "nice"}) == 1
    assert value("vigie_location_last_result_timestamp_seconds", {"location": "lyon"}) == \
        clock.now
    assert value("vigie_location_last_result_timestamp_seconds", {"location": "nice"}) is None

    clock.now += 600
    assert [c.location for c in book.look()] == ["lyon", "nice"]
    assert value("vigie_location_reachable", {"location": "nice"}) == 0
    assert value("vigie_location_reachable", {"location": "local"}) == 1
    # an unreachable location's failure is not counted
    assert value("vigie_check_locations_failing", labels) == 0


def test_promtool_accepts_the_output():
    promtool = which_or_require("promtool", "promtool is missing (Debian package prometheus)")
    book, clock, registry = book_and_registry()
    book.record("web/home", "nice", ProbeResult.up(started_at=clock.now))
    checked = subprocess.run([promtool, "check", "metrics"], input=generate_latest(registry),
                             capture_output=True, timeout=30)
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()


def test_every_family_is_documented_and_reserved():
    _, _, registry = book_and_registry()
    emitted = set(re.findall(r"^# TYPE (vigie_\w+) ", generate_latest(registry).decode(),
                             re.M))
    assert emitted == LOCATION_METRICS
    assert LOCATION_METRICS <= RESERVED_METRICS
    docs = DOCS.read_text(encoding="utf-8")
    assert [name for name in sorted(emitted) if f"`{name}" not in docs] == []
