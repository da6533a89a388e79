"""Inside ``vigie run`` (the real Runtime): an endpoint added while Vigie runs receives the
next event without a restart, signed; the subscribers follow it; ``/metrics`` counts the
endpoints and shows neither a secret nor an address."""

from __future__ import annotations

import asyncio
import logging
import urllib.request

from standardwebhooks.webhooks import Webhook

from monitor.config_loader import load_config
from monitor.incidents.service import Operations
from monitor.plugins import ProbeRegistry, build_plugin_manager
from monitor.runtime import Runtime
from monitor.webhooks.service import WebhookOperations
from tests.conftest import free_port
from tests.monitor.test_incidents_runtime import SwitchPlugin
from tests.monitor.test_outbox import Outcomes
from tests.peers import Changes


async def test_an_endpoint_added_while_running_gets_the_next_event(
        tmp_path, signed_receiver, caplog):
    caplog.set_level(logging.DEBUG, logger="monitor")
    receiver = await signed_receiver()
    port = free_port()
    path = tmp_path / "vigie.yaml"
    path.write_text(f"""\
data_dir: data
server: {{listen: '127.0.0.1:{port}'}}
scheduler: {{spread_first_runs: false}}
webhooks: {{refresh_every: 0.05s}}
services:
  - id: files
    name: {{fr: Fichiers, en: Files}}
    checks:
      - {{id: sw, kind: switch, interval: 1h}}
""")
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[("switch", SwitchPlugin())])
    registry = ProbeRegistry.from_plugin_manager(pm)
    runtime = Runtime(load_config(path, registry), pm, registry)
    outcomes = runtime.incidents.stats.deliveries = Outcomes()
    # the test waits for the registry's passes, not for time
    passes = Changes()
    apply = runtime.webhooks.registry.apply

    def noted(reading):
        apply(reading)
        passes.note()

    runtime.webhooks.registry.apply = noted
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(runtime.run(stop, ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        ctx = runtime.incidents.ctx
        assert not any(p.startswith("webhook-") for p in ctx.subscribers["vigie_incident_opened"])

        def add():  # what the admin page or `vigie webhook add` does, in another thread
            with runtime.store.write_session() as s, s.begin():
                return WebhookOperations().add_endpoint(s, name="Outil", url=receiver.url)

        new = await asyncio.to_thread(add)
        receiver.secrets = [new.secret]
        await passes.wait(lambda: pm.get_plugin("webhook-1") is not None)
        assert "webhook-1" in ctx.subscribers["vigie_incident_opened"]

        def open_incident():  # an incident opened by hand, as the in-process admin does
            with runtime.store.write_session() as s, s.begin():
                Operations(ctx).open_incident(s, services=["files"], title_fr="Lenteurs",
                                              message_fr="Nous regardons.")

        await asyncio.to_thread(open_incident)
        await receiver.changes.wait(lambda: receiver.verified)
        [request] = receiver.requests
        assert Webhook(new.secret).verify(request.body, request.headers)["type"] == \
            "incident.opened"

        # the outcome is counted once recorded, after the receiver answered
        await outcomes.changes.wait(lambda: outcomes[("webhook-1", "delivered")] == 1)
        metrics = await asyncio.to_thread(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode())
        assert 'vigie_webhook_endpoints{state="enabled"} 1.0' in metrics
        assert 'vigie_outbox_deliveries_total{plugin="webhook-1",result="delivered"}' in metrics
        assert new.secret not in metrics and str(receiver.url) not in metrics
        assert "/hooks/vigie" not in metrics

        def disable():
            with runtime.store.write_session() as s, s.begin():
                WebhookOperations().disable_endpoint(s, 1)

        await asyncio.to_thread(disable)
        await passes.wait(lambda: pm.get_plugin("webhook-1") is None)
        assert "webhook-1" not in ctx.subscribers["vigie_incident_opened"]
        # Vigie's log lines (the receiver's access log is the receiver's business)
        logged = "\n".join(r.getMessage() for r in caplog.records
                           if not r.name.startswith("aiohttp"))
        assert "delivering to endpoint 1" in logged
        assert new.secret not in logged
        assert "/hooks/vigie" not in logged
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
