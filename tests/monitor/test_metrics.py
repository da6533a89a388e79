"""Tests of monitor.metrics: values read from a fresh registry, promtool on the real output."""

from __future__ import annotations

import logging
import math
import platform
import re
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import ClassVar

import pytest
from prometheus_client import generate_latest
from pydantic import SecretStr

from monitor.config import Check, LocalizedText, Service
from monitor.events import fire
from monitor.exposition import render
from monitor.metrics import CORE_METRICS, build_registry
from monitor.plugins import build_plugin_manager, hookimpl
from monitor.probe import CheckRef, Probe, ProbeConfig, ProbeResult, SampleSpec, Status, reason
from monitor.state import StateBook
from monitor.stats import SchedulerStats, WriterStats
from tests.conftest import which_or_require


class WebConfig(ProbeConfig):
    """A check config holding a secret, to prove it never reaches the output."""

    url: str = "http://127.0.0.1/"
    password: SecretStr | None = None


class WebProbe(Probe):
    """A probe kind declaring one plain sample, one labelled sample and one info key."""

    kind = "web"
    Config = WebConfig
    samples = (
        SampleSpec("tls_cert_expiry_timestamp_seconds", "When the certificate expires."),
        SampleSpec("web_phase_duration_seconds", "Time spent per phase.", label="phase"),
    )
    info_keys: ClassVar[tuple[str, ...]] = ("version",)


class MailProbe(Probe):
    """A second kind sharing the certificate sample; declares no info."""

    kind = "mail"
    samples = (SampleSpec("tls_cert_expiry_timestamp_seconds", "When the certificate expires."),)


@dataclass
class View:
    """The runtime's side of the metrics, as monitor.metrics.MetricsView describes it."""

    state: StateBook
    scheduler_stats: SchedulerStats = field(default_factory=SchedulerStats)
    writer_stats: WriterStats = field(default_factory=WriterStats)
    probe_kinds: dict[str, type[Probe]] = field(
        default_factory=lambda: {"web": WebProbe, "mail": MailProbe})
    hook_failures: Counter[tuple[str, str]] = field(default_factory=Counter)


def make_check(service: str, check: str, kind: str = "web", confirm: int = 2,
               options: ProbeConfig | None = None) -> Check:
    """A resolved check as monitor.config_loader would build it."""
    return Check(CheckRef(service, check, kind), LocalizedText(fr=check), 300.0, 10.0,
                 confirm, 30.0, options or WebConfig())


def make_view(services: dict[str, list[Check]], groups: dict[str, str] | None = None) -> View:
    """A view over services given as ``{service id: [checks]}``."""
    groups = groups or {}
    return View(StateBook([
        Service(sid, LocalizedText(fr=sid), groups.get(sid), None, tuple(checks))
        for sid, checks in services.items()
    ]))


def result(status: Status, at: float = 1_700_000_000.5, duration: float = 0.25,
           **kwargs) -> ProbeResult:
    """A raw result as the runner hands it to the state book."""
    return ProbeResult(status, duration=duration, started_at=at, **kwargs)


def check_labels(service: str, check: str, kind: str = "web") -> dict[str, str]:
    return {"service": service, "check": check, "kind": kind}


def test_check_up_status_duration_and_last_run_follow_confirmed_state():
    view = make_view({"web": [make_check("web", "home"), make_check("web", "api"),
                              make_check("web", "blip"), make_check("web", "new")]})
    book = view.state
    book.apply("web/home", result(Status.UP, duration=0.125))
    book.apply("web/api", result(Status.DOWN))
    book.apply("web/api", result(Status.DOWN, at=1_700_000_030.0, duration=10.0))
    book.apply("web/blip", result(Status.UP))
    book.apply("web/blip", result(Status.DOWN))  # one failure: not confirmed (confirm=2)
    registry = build_registry(view, process=False)

    get = registry.get_sample_value
    assert get("vigie_check_up", check_labels("web", "home")) == 1.0
    assert get("vigie_check_status", check_labels("web", "home")) == 0.0
    assert get("vigie_check_duration_seconds", check_labels("web", "home")) == 0.125
    assert get("vigie_check_up", check_labels("web", "api")) == 0.0
    assert get("vigie_check_status", check_labels("web", "api")) == float(Status.DOWN)
    assert get("vigie_check_duration_seconds", check_labels("web", "api")) == 10.0
    assert get("vigie_check_last_run_timestamp_seconds",
               check_labels("web", "api")) == 1_700_000_030.0
    # damping: the blip is still confirmed up, but its last run is the failing one
    assert get("vigie_check_up", check_labels("web", "blip")) == 1.0
    assert get("vigie_check_status", check_labels("web", "blip")) == 0.0
    # never run: unknown, not up, and no run-dependent series
    assert get("vigie_check_up", check_labels("web", "new")) == 0.0
    assert get("vigie_check_status", check_labels("web", "new")) == float(Status.UNKNOWN)
    assert get("vigie_check_duration_seconds", check_labels("web", "new")) is None
    assert get("vigie_check_last_run_timestamp_seconds", check_labels("web", "new")) is None
    assert get("vigie_checks_configured") == 4.0


def test_values_are_read_at_scrape_time_not_copied_at_build():
    view = make_view({"web": [make_check("web", "home", confirm=1)]})
    registry = build_registry(view, process=False)
    assert registry.get_sample_value("vigie_check_up", check_labels("web", "home")) == 0.0
    view.state.apply("web/home", result(Status.UP))
    assert registry.get_sample_value("vigie_check_up", check_labels("web", "home")) == 1.0
    view.state.apply("web/home", result(Status.MAINTENANCE))
    assert registry.get_sample_value("vigie_check_status", check_labels("web", "home")) == 4.0


def test_service_status_is_one_hot_with_group_and_up_and_maintenance():
    view = make_view({"web": [make_check("web", "a", confirm=1), make_check("web", "b", confirm=1)],
                      "mail": [make_check("mail", "smtp", kind="mail", confirm=1)],
                      "idle": [make_check("idle", "x")]},
                     groups={"web": "hosting"})
    book = view.state
    book.apply("web/a", result(Status.UP))
    book.apply("web/b", result(Status.DOWN))
    book.apply("mail/smtp", result(Status.DEGRADED))
    book.set_maintenance("idle", True, at=1.0)
    get = build_registry(view, process=False).get_sample_value

    def status(service: str, group: str = "") -> dict[str, float]:
        return {label: get("vigie_service_status",
                           {"service": service, "group": group, "status": label})
                for label in ("operational", "degraded", "partial_outage", "major_outage",
                              "maintenance", "unknown")}

    assert status("web", "hosting") == {"operational": 0, "degraded": 0, "partial_outage": 1,
                                        "major_outage": 0, "maintenance": 0, "unknown": 0}
    assert status("mail")["degraded"] == 1 and sum(status("mail").values()) == 1
    assert status("idle")["maintenance"] == 1 and sum(status("idle").values()) == 1
    assert get("vigie_service_up", {"service": "web"}) == 0.0
    assert get("vigie_service_up", {"service": "mail"}) == 1.0  # degraded still works
    assert get("vigie_service_up", {"service": "idle"}) == 0.0
    assert get("vigie_service_maintenance", {"service": "idle"}) == 1.0
    assert get("vigie_service_maintenance", {"service": "web"}) == 0.0


def test_service_availability_follows_the_one_definition():
    """``vigie_service_availability_ratio`` is the weight of the current status
    (monitor.availability); no sample while it is not counted (maintenance, unknown), so
    ``avg_over_time`` gives the availability of the page over any range."""
    view = make_view({"web": [make_check("web", "a", confirm=1), make_check("web", "b", confirm=1)],
                      "mail": [make_check("mail", "smtp", kind="mail", confirm=1)],
                      "down": [make_check("down", "x", confirm=1)],
                      "idle": [make_check("idle", "x")],
                      "never": [make_check("never", "x")]})
    book = view.state
    book.apply("web/a", result(Status.UP))
    book.apply("web/b", result(Status.DOWN))
    book.apply("mail/smtp", result(Status.DEGRADED))
    book.apply("down/x", result(Status.DOWN))
    book.set_maintenance("idle", True, at=1.0)
    get = build_registry(view, process=False).get_sample_value
    name = "vigie_service_availability_ratio"
    assert get(name, {"service": "web"}) == 0.7  # partial outage
    assert get(name, {"service": "mail"}) == 1.0  # only slow: available
    assert get(name, {"service": "down"}) == 0.0
    assert get(name, {"service": "idle"}) is None  # maintenance: not counted
    assert get(name, {"service": "never"}) is None  # unknown: not counted


def test_service_never_derived_is_unknown():
    view = make_view({"web": [make_check("web", "a")]})
    get = build_registry(view, process=False).get_sample_value
    labels = {"service": "web", "group": ""}
    assert get("vigie_service_status", {**labels, "status": "unknown"}) == 1.0
    assert get("vigie_service_status", {**labels, "status": "operational"}) == 0.0


def test_scheduler_and_writer_counters():
    view = make_view({"web": [make_check("web", "a")]})
    stats = view.scheduler_stats
    stats.runs[("web", "up")] += 7
    stats.runs[("web", "down")] += 2
    for lag in [0.01 * i for i in range(1, 101)]:  # 0.01 … 1.00
        stats.record_lag(lag)
    stats.last_cycle_at, stats.last_cycle_duration, stats.cycles = 1_700_000_100.0, 301.5, 3
    stats.queued, stats.in_flight, stats.workers = 4, 12, 256
    writer = view.writer_stats
    writer.written, writer.dropped, writer.buffered, writer.write_errors = 1000, 5, 42, 3
    writer.database_up, writer.last_write_at = False, 1_700_000_090.0
    get = build_registry(view, process=False).get_sample_value

    assert get("vigie_check_runs_total", {"kind": "web", "status": "up"}) == 7
    assert get("vigie_check_runs_total", {"kind": "web", "status": "down"}) == 2
    assert get("vigie_scheduler_lag_seconds", {"quantile": "0.5"}) == pytest.approx(0.50)
    assert get("vigie_scheduler_lag_seconds", {"quantile": "0.9"}) == pytest.approx(0.90)
    assert get("vigie_scheduler_lag_seconds", {"quantile": "0.99"}) == pytest.approx(0.99)
    assert get("vigie_scheduler_lag_seconds_count") == 100
    assert get("vigie_scheduler_lag_seconds_sum") == pytest.approx(50.5)
    assert get("vigie_scheduler_last_cycle_timestamp_seconds") == 1_700_000_100.0
    assert get("vigie_scheduler_cycle_duration_seconds") == 301.5
    assert get("vigie_scheduler_cycles_total") == 3
    assert get("vigie_scheduler_queued_checks") == 4
    assert get("vigie_scheduler_in_flight_checks") == 12
    assert get("vigie_scheduler_workers") == 256
    assert get("vigie_results_written_total") == 1000
    assert get("vigie_results_dropped_total") == 5
    assert get("vigie_results_buffered") == 42
    assert get("vigie_result_write_errors_total") == 3
    assert get("vigie_store_up") == 0.0
    assert get("vigie_store_last_write_timestamp_seconds") == 1_700_000_090.0


def test_lag_quantiles_are_nan_before_any_run():
    get = build_registry(make_view({}), process=False).get_sample_value
    assert math.isnan(get("vigie_scheduler_lag_seconds", {"quantile": "0.5"}))
    assert get("vigie_scheduler_lag_seconds_count") == 0


async def test_hook_failures_counted_by_fire_are_exported():
    view = make_view({})

    class Broken:
        @hookimpl
        def vigie_cycle_completed(self, at, checks, duration):
            raise RuntimeError("boom")

    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[("broken", Broken())])
    await fire(pm, "vigie_cycle_completed", failures=view.hook_failures, at=1.0, checks=1,
               duration=1.0)
    await fire(pm, "vigie_cycle_completed", failures=view.hook_failures, at=2.0, checks=1,
               duration=1.0)
    get = build_registry(view, process=False).get_sample_value
    assert get("vigie_plugin_hook_failures_total",
               {"plugin": "broken", "hook": "vigie_cycle_completed"}) == 2


def test_build_info():
    get = build_registry(make_view({}), process=False).get_sample_value
    assert get("vigie_build_info", {"version": version("vigie"),
                                    "python": platform.python_version()}) == 1.0


def test_declared_samples_become_gauges_and_undeclared_ones_do_not():
    view = make_view({"web": [make_check("web", "home", confirm=1)],
                      "mail": [make_check("mail", "smtp", kind="mail", confirm=1)]})
    view.state.apply("web/home", result(Status.UP, samples={
        "tls_cert_expiry_timestamp_seconds": 1_800_000_000,
        "web_phase_duration_seconds": {"connect": 0.01, "tls": 0.02, "bad": "x"},
        "undeclared_thing_seconds": 9.0,
    }))
    view.state.apply("mail/smtp", result(Status.DOWN, samples={
        "tls_cert_expiry_timestamp_seconds": 1_750_000_000.0,
        "web_phase_duration_seconds": {"connect": 5.0},  # declared by web, not by mail
    }))
    registry = build_registry(view, process=False)
    get = registry.get_sample_value
    assert get("vigie_tls_cert_expiry_timestamp_seconds",
               {"service": "web", "check": "home"}) == 1_800_000_000
    assert get("vigie_tls_cert_expiry_timestamp_seconds",
               {"service": "mail", "check": "smtp"}) == 1_750_000_000
    assert get("vigie_web_phase_duration_seconds",
               {"service": "web", "check": "home", "phase": "tls"}) == 0.02
    assert get("vigie_web_phase_duration_seconds",
               {"service": "web", "check": "home", "phase": "bad"}) is None
    assert get("vigie_web_phase_duration_seconds",
               {"service": "mail", "check": "smtp", "phase": "connect"}) is None
    text = render(registry).decode()
    assert "undeclared_thing" not in text
    assert text.count("# TYPE vigie_tls_cert_expiry_timestamp_seconds gauge") == 1


def test_reserved_or_conflicting_sample_names_are_left_out(caplog):
    class Greedy(Probe):
        kind = "other"  # after "mail", which declares the certificate sample without label
        samples = (SampleSpec("check_up", "Clashes with a core metric."),
                   SampleSpec("tls_cert_expiry_timestamp_seconds", "Other label.", label="host"),
                   SampleSpec("bad-name", "Not a metric name."))

    view = make_view({"g": [make_check("g", "a", kind="other", confirm=1)]})
    view.probe_kinds["other"] = Greedy
    view.state.apply("g/a", result(Status.UP, samples={
        "check_up": 5.0, "tls_cert_expiry_timestamp_seconds": {"x": 1.0}, "bad-name": 1.0}))
    with caplog.at_level(logging.WARNING, logger="monitor.metrics"):
        registry = build_registry(view, process=False)
        text = render(registry).decode()
    assert registry.get_sample_value("vigie_check_up", check_labels("g", "a", "other")) == 1.0
    assert 'host="x"' not in text and "bad-name" not in text
    assert "# TYPE vigie_tls_cert_expiry_timestamp_seconds gauge" in text  # mail's stays
    assert "kind other: sample 'check_up'" in caplog.text
    assert "kind other: sample 'tls_cert_expiry_timestamp_seconds' left out" in caplog.text


def test_info_exports_declared_keys_only_with_escaped_values():
    tricky = 'v2 "beta"\\build\nnext'
    view = make_view({"web": [make_check("web", "home", confirm=1)]})
    view.state.apply("web/home", result(Status.UP, info={
        "version": tricky, "server_banner": "Apache/2.4 (Debian) secret-internal-host"}))
    registry = build_registry(view, process=False)
    assert registry.get_sample_value(
        "vigie_web_info", {"service": "web", "check": "home", "version": tricky}) == 1.0
    text = render(registry).decode()
    assert 'version="v2 \\"beta\\"\\\\build\\nnext"' in text
    assert "secret-internal-host" not in text and "server_banner" not in text
    assert "vigie_mail_info" not in text  # mail declares no info keys


def test_no_secret_or_free_text_reaches_the_output():
    secret = "Tr0ub4dor&3-very-secret"
    options = WebConfig(url="http://127.0.0.1/", password=SecretStr(secret))
    view = make_view({"web": [make_check("web", "home", confirm=1, options=options)]})
    view.state.apply("web/home", result(
        Status.DOWN, reason=reason("x", "Refusé pour {p}", "Refused for {p}", p=secret),
        info={"version": "1.0", "dsn": f"postgresql://vigie:{secret}@127.0.0.1/db"}))
    text = render(build_registry(view, process=False)).decode()
    assert 'version="1.0"' in text  # the info family is there…
    assert secret not in text  # …but neither the config secret nor undeclared info
    assert "Refus" not in text  # reasons are free text: never a label


def test_render_is_exactly_what_generate_latest_writes():
    view = make_view({"a-b": [make_check("a-b", "c_1", confirm=1), make_check("a-b", "c2")],
                      "mail": [make_check("mail", "smtp", kind="mail", confirm=1)]},
                     groups={"a-b": "g"})
    view.state.apply("a-b/c_1", result(Status.UP, duration=1e-7, at=1_712_345_678.123456,
                                       samples={"web_phase_duration_seconds":
                                                {'we"ird\\ph\nase': 0.5, "connect": 12345678.9},
                                                "tls_cert_expiry_timestamp_seconds": -1.0},
                                       info={"version": 'x"y'}))
    view.state.apply("mail/smtp", result(
        Status.DOWN, duration=float("inf"),
        samples={"tls_cert_expiry_timestamp_seconds": float("nan")}))
    view.scheduler_stats.runs[("web", "up")] = 1
    registry = build_registry(view, process=False)
    first = render(registry)
    assert first == generate_latest(registry)
    assert render(registry) == first  # the label cache gives the same text the second time


def test_promtool_accepts_the_rendered_output(tmp_path):
    promtool = which_or_require("promtool", "promtool is missing (Debian package prometheus)")
    view = make_view({"web": [make_check("web", "home", confirm=1), make_check("web", "new")],
                      "mail": [make_check("mail", "smtp", kind="mail", confirm=1)]},
                     groups={"web": "hosting"})
    view.state.apply("web/home", result(Status.UP, samples={
        "tls_cert_expiry_timestamp_seconds": 1_800_000_000,
        "web_phase_duration_seconds": {"connect": 0.01}}, info={"version": 'a "b"'}))
    view.state.apply("mail/smtp", result(Status.DOWN))
    view.scheduler_stats.runs[("web", "up")] = 3
    view.scheduler_stats.record_lag(0.2)
    view.hook_failures[("some-plugin", "vigie_startup")] += 0  # a zero-valued series
    output = render(build_registry(view))  # with the process collector, as served

    checked = subprocess.run([promtool, "check", "metrics"], input=output,
                             capture_output=True, timeout=30)
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    # promtool does reject a bad exposition, so the check above can fail
    bad = output + (b"# HELP vigie_bad a counter without _total\n"
                    b"# TYPE vigie_bad counter\nvigie_bad 1\n")
    rejected = subprocess.run([promtool, "check", "metrics"], input=bad,
                              capture_output=True, timeout=30)
    assert rejected.returncode != 0


def test_ten_thousand_checks_render_every_check():
    # how fast (under 300 ms at 10,000 checks, docs/performance.md) is measured by
    # bench/metrics_render.py, on a quiet machine; this test keeps the output right
    services = {}
    for s in range(500):
        services[f"svc-{s}"] = [make_check(f"svc-{s}", f"check-{c}", confirm=1) for c in range(20)]
    view = make_view(services)
    now = time.time()
    for key in view.state.checks:
        view.state.apply(key, result(Status.UP, at=now, duration=0.0123, samples={
            "tls_cert_expiry_timestamp_seconds": now + 3e6}, info={"version": "2.4.62"}))
    registry = build_registry(view, process=False)
    render(registry)  # warm the label cache, as every scrape after the first finds it
    output = render(registry)
    assert output.count(b"\nvigie_check_up{") == 10_000
    assert output == render(registry)  # the warm label cache changes nothing


DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def test_every_core_metric_is_reserved_and_documented():
    view = make_view({"web": [make_check("web", "home", confirm=1)]})
    view.probe_kinds = {}  # core families only
    text = render(build_registry(view, process=False)).decode()
    emitted = set(re.findall(r"^# TYPE (vigie_\w+) ", text, re.M))
    assert emitted == CORE_METRICS
    docs = DOCS.read_text(encoding="utf-8")
    assert [name for name in sorted(emitted) if f"`{name}" not in docs] == []


def test_example_alert_rules_in_the_docs_are_valid(tmp_path):
    promtool = which_or_require("promtool", "promtool is missing (Debian package prometheus)")
    docs = DOCS.read_text(encoding="utf-8")
    alerts = docs[docs.index("## Example alerts"):]
    rules = tmp_path / "rules.yml"
    rules.write_text(alerts.split("```yaml\n", 1)[1].split("```", 1)[0], encoding="utf-8")
    checked = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True,
                             text=True, timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 9 rules found" in checked.stdout
