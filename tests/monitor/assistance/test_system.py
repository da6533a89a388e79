"""Members' assistance inside ``vigie run``: refused at start with one line when the desk
cannot deliver, the receipt sender registered when mail is set, the service handed to the
dashboard, the outcomes on /metrics, the purge pass."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from monitor.assistance.service import RECEIPT_PLUGIN
from monitor.metrics import render
from monitor.plugins import ProbeRegistry, build_plugin_manager, hookimpl
from monitor.runtime import Runtime, StartupError
from tests.monitor.assistance.conftest import ASSISTANCE
from tests.monitor.test_incidents import CONFIG, FakeProbePlugin, make_config


class Desk:
    @hookimpl
    def vigie_assistance_request(self, request):
        return None


class NotADesk:
    @hookimpl
    def vigie_incident_opened(self, event):
        return None


def runtime(tmp_path: Path, extra: str = "", **plugins) -> Runtime:
    config = make_config(tmp_path, ASSISTANCE + extra, base=CONFIG)
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[
        ("fake", FakeProbePlugin()), *plugins.items()])
    return Runtime(config, pm, ProbeRegistry.from_plugin_manager(pm))


def test_a_desk_not_loaded_refuses_to_start_with_one_line(tmp_path):
    with pytest.raises(StartupError) as caught:
        runtime(tmp_path)
    message = str(caught.value)
    assert message.startswith("assistance.desk: no plugin named 'desk' is loaded")
    assert "fake" in message and "\n" not in message


def test_a_desk_that_cannot_deliver_requests_refuses_to_start(tmp_path):
    with pytest.raises(StartupError, match="'desk' does not implement vigie_assistance_request"):
        runtime(tmp_path, desk=NotADesk())


def test_off_by_default_nothing_is_built(tmp_path):
    config = make_config(tmp_path, base=CONFIG)
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[("fake", FakeProbePlugin())])
    run = Runtime(config, pm, ProbeRegistry.from_plugin_manager(pm))
    assert run.assistance is None and run.startup_context().assistance is None
    assert b"vigie_assistance" not in render(run.metrics_registry)


def test_the_service_reaches_plugins_and_its_outcomes_reach_metrics(tmp_path):
    run = runtime(tmp_path, desk=Desk())
    service = run.startup_context().assistance
    assert service is run.assistance.service and service.settings.enabled
    assert run.plugin_manager.get_plugin(RECEIPT_PLUGIN) is None  # no mail: no receipt
    service.count("guide_helped")
    text = render(run.metrics_registry).decode()
    assert 'vigie_assistance_requests_total{outcome="guide_helped"} 1.0' in text
    assert 'vigie_assistance_requests_total{outcome="sent"} 0.0' in text
    from dashboard import create_app

    app = create_app(run, {"TESTING": True}, store=run.store)
    assert app.extensions["vigie.assistance"] is service


def test_with_mail_the_receipt_sender_is_registered(tmp_path):
    run = runtime(tmp_path, 'mail: {host: 127.0.0.1, from_address: "s@example.coop"}\n',
                  desk=Desk())
    assert run.plugin_manager.get_plugin(RECEIPT_PLUGIN) is not None
    assert run.assistance.service.receipts


async def test_the_purge_pass_waits_for_the_database_then_purges(tmp_path):
    run = runtime(tmp_path, "  retention: 1h\n", desk=Desk())
    assert await run.assistance.purge_once() is None  # the store is not prepared yet
    run.store.upgrade()
    run.store.sync_catalog(run.config)
    run.store_ready = True
    service = run.assistance.service
    service.clock = lambda: time.time() - 7200  # sent two hours ago
    old = service.submit(_draft(service), [])
    service.clock = time.time
    purged = await run.assistance.purge_once()
    assert purged.requests == 1 and service.state(old.reference) is None
    run.store.dispose()


def _draft(service):
    from monitor.assistance.service import Draft

    return Draft(token="t", language="fr", category="other", title="Aide",
                 description="Bonjour", name="A", email="a@example.org", member_id=None,
                 user_agent="UA", client_address="192.0.2.1")


def test_a_dashboard_alone_builds_its_own_service(tmp_path):
    from dashboard import create_app
    from monitor.store import Store

    config = make_config(tmp_path, ASSISTANCE, base=CONFIG)
    store = Store(f"sqlite:///{tmp_path / 'v.sqlite'}")
    app = create_app(config, {"TESTING": True}, store=store)
    service = app.extensions["vigie.assistance"]
    assert service is not None and service.settings.desk == "desk"
    (tmp_path / "off").mkdir()
    off = create_app(make_config(tmp_path / "off", base=CONFIG), {"TESTING": True}, store=store)
    assert off.extensions["vigie.assistance"] is None
    service.close()
    store.dispose()
