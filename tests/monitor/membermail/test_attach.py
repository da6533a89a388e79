"""The member-mail sender inside ``vigie run``: registered by the subscriptions when mail
is configured, listening to the durable hooks, asking the ticker for announcements and
reminders, counted on /metrics; nothing without ``site.public_url``."""

from __future__ import annotations

import logging

from monitor.incidents.context import DURABLE_HOOKS
from monitor.membermail.plugin import MemberMail
from monitor.metrics import render
from monitor.subscriptions.jobs import MEMBER_MAIL_PLUGIN
from tests.monitor.subscriptions.test_system import runtime

MAIL = """\
site: {public_url: "https://etat.example.coop/", timezone: Europe/Paris}
mail: {host: 127.0.0.1, port: 2525, security: none, from_address: "etat@example.coop"}
"""


def test_vigie_run_registers_the_sender_with_mail_configured(tmp_path):
    run = runtime(tmp_path, MAIL + "subscriptions: {maintenance_reminder: 2h, send_rate: 5}\n")
    plugin = run.subscriptions.mail
    assert isinstance(plugin, MemberMail)
    assert run.plugin_manager.get_plugin(MEMBER_MAIL_PLUGIN) is plugin
    ctx = run.incidents.ctx
    for hook in DURABLE_HOOKS[:4]:  # incidents and maintenance, not system alerts
        assert MEMBER_MAIL_PLUGIN in ctx.subscribers[hook]
    assert MEMBER_MAIL_PLUGIN not in ctx.subscribers["vigie_system_alert"]
    assert ctx.announce_planned == (MEMBER_MAIL_PLUGIN,)
    assert ctx.reminders_before == {MEMBER_MAIL_PLUGIN: 7200.0}
    assert MEMBER_MAIL_PLUGIN in run.incidents.worker.subscribers()
    assert plugin.site.public_url == "https://etat.example.coop"
    assert plugin.rate.gap == 0.2 and plugin.batch_size == 200
    assert plugin.budget == run.config.file.incidents.outbox.call_timeout / 2
    text = render(run.metrics_registry).decode()
    for outcome in ("sent", "refused", "deferred"):
        assert f'vigie_member_mails_total{{outcome="{outcome}"}} 0.0' in text


def test_no_reminder_when_switched_off(tmp_path):
    run = runtime(tmp_path, MAIL + "subscriptions: {maintenance_reminder: off}\n")
    assert run.incidents.ctx.reminders_before == {}
    assert run.incidents.ctx.announce_planned == (MEMBER_MAIL_PLUGIN,)


def test_without_a_public_address_no_mail_is_sent_and_the_log_says_why(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, "monitor.membermail.plugin"):
        run = runtime(tmp_path, MAIL.replace('public_url: "https://etat.example.coop/", ', ""))
    assert run.subscriptions.mail is None
    assert run.plugin_manager.get_plugin(MEMBER_MAIL_PLUGIN) is None
    assert "site.public_url is not set" in caplog.text
    assert b"vigie_member_mails_total" not in render(run.metrics_registry)
