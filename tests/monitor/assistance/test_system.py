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


class LiveDesk:
    """Tells when a request reached it; suggests one thread from Vigie's loop."""

    def __init__(self) -> None:
        import threading

        self.got = threading.Event()
        self.loop_thread = None

    @hookimpl
    async def vigie_assistance_request(self, request):
        from monitor.notifications import Link

        self.got.set()
        return [Link(kind="ticket", title="#7", url="https://desk.example/7", public=False,
                     external_id="7")]

    @hookimpl
    async def vigie_assistance_suggestions(self, query):
        import threading

        self.loop_thread = threading.current_thread().name
        from monitor.assistance.request import Suggestion

        return [Suggestion("forum", "Fil", "https://forum.example/t/1")]


async def test_inside_vigie_run_a_request_reaches_the_desk_and_suggestions_use_its_loop(
        tmp_path):
    import asyncio
    import threading

    from monitor.assistance.request import AssistanceQuery
    from monitor.runtime import serve
    from tests.conftest import free_port

    desk = LiveDesk()
    config = make_config(tmp_path, ASSISTANCE + f"server: {{listen: '127.0.0.1:{free_port()}'}}\n",
                         base=CONFIG)
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[
        ("fake", FakeProbePlugin()), ("desk", desk)])
    ready, stop = asyncio.Event(), asyncio.Event()
    captured = {}

    class Grab:
        @hookimpl
        def vigie_startup(self, ctx):
            captured["service"] = ctx.assistance

    pm.register(Grab(), name="grab")
    task = asyncio.create_task(serve(config, pm, ProbeRegistry.from_plugin_manager(pm),
                                     ready=ready, stop=stop))
    try:
        await asyncio.wait_for(ready.wait(), timeout=30)
        service = captured["service"]
        query = AssistanceQuery("web", "web", "Web", None, "erreur")
        found = await asyncio.to_thread(service.suggest, query)
        assert [s.url for s in found] == ["https://forum.example/t/1"]
        assert desk.loop_thread == threading.current_thread().name  # Vigie's loop
        receipt = await asyncio.to_thread(service.submit, _draft(service), [])
        assert await asyncio.to_thread(desk.got.wait, 30)
        # the outcome is recorded right after the call returns: wait for it on the store
        for _ in range(3000):
            if await asyncio.to_thread(service.state, receipt.reference) == "delivered":
                break
            await asyncio.to_thread(desk.got.wait, 0.01)
        assert service.state(receipt.reference) == "delivered"
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
