"""Subscriptions inside ``vigie run``: built by default, the service handed to plugins
and the dashboard, ``vigie_subscribers{state}`` on /metrics from the last count, the purge
pass, nothing when switched off, Vigie starting without mail."""

from __future__ import annotations

import logging
from pathlib import Path

from monitor.metrics import render
from monitor.plugins import ProbeRegistry, build_plugin_manager
from monitor.runtime import Runtime
from monitor.subscriptions import system as system_module
from monitor.subscriptions.service import Subscriptions
from tests.monitor.subscriptions.conftest import MAIL, SERVICES
from tests.monitor.test_incidents import FakeProbePlugin, make_config


def runtime(tmp_path: Path, extra: str = MAIL) -> Runtime:
    config = make_config(tmp_path, extra, base=SERVICES)
    pm = build_plugin_manager(load_entry_points=False,
                              extra_plugins=[("fake", FakeProbePlugin())])
    return Runtime(config, pm, ProbeRegistry.from_plugin_manager(pm))


def test_switched_off_nothing_is_built(tmp_path):
    run = runtime(tmp_path, MAIL + "subscriptions: {enabled: false}\n")
    assert run.subscriptions is None and run.startup_context().subscriptions is None
    assert b"vigie_subscribers" not in render(run.metrics_registry)


def test_the_service_reaches_plugins_and_the_dashboard(tmp_path, monkeypatch):
    attached = []
    monkeypatch.setattr(system_module, "attach_member_mail",
                        lambda run, service: attached.append(service) or "sender")
    run = runtime(tmp_path)
    service = run.startup_context().subscriptions
    assert isinstance(service, Subscriptions) and service is run.subscriptions.service
    assert service.available and attached == [service] and run.subscriptions.mail == "sender"
    from dashboard import create_app

    app = create_app(run, {"TESTING": True}, store=run.store)
    assert app.extensions["vigie.subscriptions"] is service


def test_without_mail_vigie_starts_and_sends_nothing(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(system_module, "attach_member_mail",
                        lambda run, service: (_ for _ in ()).throw(AssertionError))
    with caplog.at_level(logging.INFO, "monitor.subscriptions.system"):
        run = runtime(tmp_path, "")
    assert run.subscriptions is not None and not run.subscriptions.service.available
    assert run.subscriptions.mail is None
    assert "mail.host is not set" in caplog.text


async def test_the_metric_counts_by_state_and_the_purge_runs(tmp_path):
    run = runtime(tmp_path)
    run.store.upgrade()
    system = run.subscriptions
    text = render(run.metrics_registry).decode()
    assert 'vigie_subscribers{state="pending"} 0.0' in text
    assert await system.count_once() is None  # the store is not ready yet: skipped
    run.store_ready = True
    service = system.service
    for n in range(3):
        service.request(f"m{n}@example.org", "fr", everything=True, services=[], groups=[],
                        client_address="192.0.2.1")
    service.confirm(__import__("json").loads(_last_payload(run))["token"])
    assert await system.count_once() == {"pending": 2, "confirmed": 1}
    text = render(run.metrics_registry).decode()
    assert 'vigie_subscribers{state="pending"} 2.0' in text
    assert 'vigie_subscribers{state="confirmed"} 1.0' in text
    service.clock = lambda: 10**10  # far in the future: the pending ones are old
    assert await system.purge_once() == 2
    assert await system.count_once() == {"pending": 0, "confirmed": 1}


def _last_payload(run) -> str:
    from sqlalchemy import select

    from monitor.incidents.models import OutboxEntry

    with run.store.session() as s:
        return s.scalars(select(OutboxEntry.payload).order_by(OutboxEntry.id.desc())).first()


def test_the_member_mail_hook_point_says_when_the_sender_is_missing(tmp_path, monkeypatch,
                                                                   caplog):
    monkeypatch.setattr(system_module, "MEMBER_MAIL_MODULE", "monitor.nosuchpackage.plugin")
    with caplog.at_level(logging.WARNING, "monitor.subscriptions.system"):
        run = runtime(tmp_path)
    assert run.subscriptions.mail is None
    assert "monitor.nosuchpackage.plugin is missing" in caplog.text


def test_the_metric_is_documented_and_valid_for_promtool(tmp_path):
    from tests.conftest import which_or_require
    import subprocess

    run = runtime(tmp_path)
    text = render(run.metrics_registry)
    docs = (Path(__file__).resolve().parents[3] / "docs" / "metrics.md").read_text()
    assert "`vigie_subscribers{state}`" in docs
    promtool = which_or_require("promtool", "promtool is missing (Debian package prometheus)")
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                             timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr
