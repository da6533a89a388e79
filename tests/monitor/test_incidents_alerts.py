"""System alerts: certificates expiring (from any probe's samples), outbox backlog, a
plugin failing repeatedly, the database unreachable; and the metrics collector."""

from __future__ import annotations

import dataclasses
from zoneinfo import ZoneInfoNotFoundError

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from monitor.incidents.metrics import IncidentCollector
from monitor.incidents.outbox import Backlog, DeliveryStats
from monitor.incidents.watch import SystemWatch, database_alert
from monitor.words import Bilingual
from tests.monitor.test_incidents import build_harness


def test_certificate_expiry_warns_once_per_check_and_day(tmp_path):
    h = build_harness(f"sqlite:///{tmp_path / 'v.sqlite'}", tmp_path)
    now = h.clock.now
    samples = {"tls_cert_expiry_timestamp_seconds": now + 5 * 86400,
               "smtp_cert_expiry_timestamp_seconds": {"mx1": now + 90 * 86400,
                                                      "mx2": now + 86400},
               "response_seconds": 0.2}
    found = h.engine.cert_warnings("mail/smtp", "mail", samples, now)
    assert sorted(k for k, _ in found) == ["smtp_cert_expiry_timestamp_seconds/mx2",
                                           "tls_cert_expiry_timestamp_seconds"]
    assert h.engine.warn_certificates("mail/smtp", "mail", found, now) == 2
    assert h.engine.cert_warnings("mail/smtp", "mail", samples, now + 60) == []  # same day
    # a new process the same day: written again, stored once (the key holds the day)
    assert h.engine.warn_certificates("mail/smtp", "mail", found, now + 60) == 0
    alerts = sorted(h.events("vigie_system_alert"), key=lambda a: a.details["sample"])
    assert [a.code for a in alerts] == ["tls.expiring", "tls.expiring"]
    assert alerts[0].severity == "critical" and alerts[1].severity == "warning"
    assert alerts[0].service_id == "mail" and "mail/smtp" in alerts[0].title_en
    assert len(h.engine.cert_warnings("mail/smtp", "mail", samples, now + 86400)) == 2
    h.store.dispose()


def test_results_without_certificate_samples_never_touch_the_time_zone(tmp_path):
    """The day and limit are computed only for a certificate sample: most results (every
    http one) have samples and no certificate. A zone that cannot load shows it."""
    h = build_harness(f"sqlite:///{tmp_path / 'v.sqlite'}", tmp_path)
    h.engine.ctx = dataclasses.replace(h.ctx, timezone="No/Such_Zone")
    samples = {"http_status_code": 200, "http_response_seconds": 0.2}
    assert h.engine.cert_warnings("mail/smtp", "mail", samples, h.clock.now) == []
    with pytest.raises(ZoneInfoNotFoundError):
        h.engine.cert_warnings("mail/smtp", "mail", {
            **samples, "tls_cert_expiry_timestamp_seconds": h.clock.now + 86400}, h.clock.now)
    h.store.dispose()


def test_backlog_and_failing_plugin_alerts_are_raised_once_until_they_clear(tmp_path):
    h = build_harness(f"sqlite:///{tmp_path / 'v.sqlite'}", tmp_path)
    stats = DeliveryStats()
    settings = h.config.file.incidents.outbox
    watch = SystemWatch(h.store.session, h.ctx, settings, stats)
    now = h.clock.now
    assert watch.check(Backlog(3, 0, now - 60), now) == []
    [alert] = watch.check(Backlog(3, 0, now - 3600), now)  # oldest pending 1 h > 15 min
    assert alert.code == "outbox.backlog" and "3" in alert.message_en
    assert watch.check(Backlog(500, 0, now - 3600), now + 15) == []  # still raised
    assert watch.check(Backlog(0, 0, None), now + 30) == []  # cleared
    assert [a.code for a in watch.check(Backlog(100, 0, now), now + 45)] == ["outbox.backlog"]

    stats.failing_streak["notifier"] = 5
    [alert] = watch.check(Backlog(0, 0, None), now + 60)
    assert alert.code == "plugin.failing" and alert.details["plugin"] == "notifier"
    assert watch.check(Backlog(0, 0, None), now + 75) == []
    assert [a.code for a in h.events("vigie_system_alert")] == [
        "outbox.backlog", "outbox.backlog", "plugin.failing"]
    h.store.dispose()


def test_database_alert_text():
    alert = database_alert(1000.0 + 600, "postgresql://vigie@db/vigie", 1000.0)
    assert alert.code == "store.unreachable" and alert.severity == "critical"
    assert "10 min" in alert.message_fr and "postgresql://vigie@db/vigie" in alert.message_en


class FakeSystem:
    """What the collector reads from an IncidentSystem."""

    def __init__(self, state, stats, leader: bool = True) -> None:
        self.runtime = type("R", (), {"state": state, "is_leader": lambda self: leader})()
        self.stats = stats
        self.in_maintenance = {"mail"}
        self.refused_windows = 1
        self.open_incidents = 2
        self.engine = type("E", (), {"pending": 3, "dropped": 1})()


def test_collector_exports_incident_maintenance_and_outbox_metrics(tmp_path):
    h = build_harness(f"sqlite:///{tmp_path / 'v.sqlite'}", tmp_path)
    stats = DeliveryStats()
    stats.deliveries[("notifier", "delivered")] = 4
    stats.deliveries[("notifier", "failed")] = 1
    stats.backlog = Backlog(7, 2, None)
    registry = CollectorRegistry()
    registry.register(IncidentCollector(FakeSystem(h.state, stats)))
    text = generate_latest(registry).decode()
    assert "vigie_incidents_open 2.0" in text
    assert 'vigie_maintenance_active{service="mail"} 1.0' in text
    assert 'vigie_maintenance_active{service="web"} 0.0' in text
    assert "vigie_maintenance_windows_refused 1.0" in text
    assert 'vigie_outbox_deliveries_total{plugin="notifier",result="failed"} 1.0' in text
    assert "vigie_outbox_backlog 7.0" in text and "vigie_outbox_dead_letters 2.0" in text
    assert "vigie_outbox_oldest_pending_age_seconds 0.0" in text
    assert "vigie_incident_changes_pending 3.0" in text
    assert "vigie_incident_changes_dropped_total 1.0" in text
    assert registry.get_sample_value("vigie_outbox_deliveries_total",
                                     {"plugin": "notifier", "result": "delivered"}) == 4
    h.store.dispose()

    # a node of a cluster that does not lead exports its own deliveries only
    registry = CollectorRegistry()
    registry.register(IncidentCollector(FakeSystem(h.state, stats, leader=False)))
    text = generate_latest(registry).decode()
    assert 'vigie_outbox_deliveries_total{plugin="notifier",result="failed"} 1.0' in text
    assert "vigie_incidents_open" not in text and "vigie_outbox_backlog" not in text
    assert "vigie_maintenance_active" not in text


def test_unrecorded_alerts_tell_a_service_down_once_and_back_once_per_database_outage():
    from monitor.incidents.engine import StatusChange
    from monitor.incidents.watch import UnrecordedAlerts

    def change(previous, current, at=1000.0):
        return StatusChange("mail", Bilingual("Courriel", "Mail"), previous, current, at)

    alerts = UnrecordedAlerts("Europe/Paris")
    down = alerts.alert_for(change("operational", "partial_outage"), outage=1)
    assert (down.code, down.severity, down.service_id) == ("unrecorded.down", "warning", "mail")
    assert down.title_en == "Mail: partial outage (not recorded yet)"
    # worse, still failing: already told
    assert alerts.alert_for(change("partial_outage", "major_outage"), outage=1) is None
    up = alerts.alert_for(change("major_outage", "operational", 1090.0), outage=1)
    assert (up.code, up.severity) == ("unrecorded.up", "info")
    assert "failing from" in up.message_en
    assert alerts.alert_for(change("operational", "maintenance"), outage=1) is None
    # failing since before the database went away: its incident is recorded, nothing new
    assert alerts.alert_for(change("major_outage", "degraded"), outage=2) is None
    assert alerts.alert_for(change("degraded", "operational"), outage=2) is None
    # told during an earlier outage, back during this one: its incident was recorded since
    assert alerts.alert_for(change(None, "major_outage"), outage=3).severity == "critical"
    assert alerts.alert_for(change("major_outage", "operational"), outage=4) is None
