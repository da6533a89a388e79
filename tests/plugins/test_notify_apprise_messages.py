"""Alert texts and routing rules, without a receiver (the deliveries are tested with real
receivers in test_notify_apprise.py)."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from monitor.config_loader import load_config
from monitor.notifications import CheckSnapshot
from monitor.probe import ProbeResult, Status
from monitor.state import StateBook
from plugins.notify_apprise.live import StateNow, incident_now
from plugins.notify_apprise.messages import (
    MessageContext,
    format_duration,
    format_time,
    message_for,
    storm_message,
)
from plugins.notify_apprise.routing import notify_type, scope, select, severity
from plugins.notify_apprise.settings import RouteSettings
from tests.plugins.test_notify_apprise import (  # noqa: F401 (registry: a fixture)
    T0,
    incident,
    maintenance,
    registry,
    service,
    system_alert,
    write_config,
)

PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(("when", "fr", "en"), [
    (datetime(2026, 11, 28, 14, 5, tzinfo=PARIS), "14 h 05 UTC+1 (28/11)",
     "14:05 UTC+1 (28 Nov)"),  # winter time (CET)
    (datetime(2026, 7, 14, 9, 0, tzinfo=PARIS), "9 h 00 UTC+2 (14/07)",
     "09:00 UTC+2 (14 Jul)"),  # summer time (CEST)
])
def test_times_are_local_to_the_site_with_their_offset(when, fr, en):
    assert format_time(when.timestamp(), "fr", "Europe/Paris") == fr
    assert format_time(when.timestamp(), "en", "Europe/Paris") == en


@pytest.mark.parametrize(("zone", "fr"), [
    ("America/Montreal", "8 h 05 UTC-5 (28/11)"),
    ("Asia/Kolkata", "18 h 35 UTC+5:30 (28/11)"),
    ("UTC", "13 h 05 UTC (28/11)"),
])
def test_times_follow_the_configured_zone(zone, fr):
    assert format_time(T0, "fr", zone) == fr


def test_a_period_across_the_change_to_winter_time_gives_both_offsets():
    # 25 October 2026: at 3:00 CEST the clocks go back to 2:00 CET
    start = datetime(2026, 10, 25, 1, 30, tzinfo=PARIS).timestamp()
    end = start + 2 * 3600  # two real hours later, 2:30 on the wall clock
    event = incident(kind="resolved", phase="resolved", opened_at=start, at=end,
                     resolved_at=end)

    message = message_for(event, MessageContext(languages=("fr", "en")))

    assert "Du 1 h 30 UTC+2 (25/10) au 2 h 30 UTC+1 (25/10), soit 2 heures" in message.body
    assert "From 01:30 UTC+2 (25 Oct) to 02:30 UTC+1 (25 Oct), 2 hours" in message.body


#: a clock time (``22 h 14``, ``22:14``) not followed by its offset
_BARE_TIME = re.compile(r"\b\d{1,2}(?: h |:)\d\d\b(?! UTC)")


@pytest.mark.parametrize(("when", "offset", "fr", "en"), [
    (datetime(2026, 1, 15, 22, 14, tzinfo=PARIS), "UTC+1", "Depuis : 22 h 14 UTC+1 (15/01)",
     "Since: 22:14 UTC+1 (15 Jan)"),
    (datetime(2026, 8, 15, 22, 14, tzinfo=PARIS), "UTC+2", "Depuis : 22 h 14 UTC+2 (15/08)",
     "Since: 22:14 UTC+2 (15 Aug)"),
], ids=["winter", "summer"])
def test_every_time_in_an_alert_carries_its_offset(when, offset, fr, en):
    at = when.timestamp()
    check = dataclasses.replace(incident().checks[0], since=at - 120)
    ctx = MessageContext(languages=("fr", "en"), public_url="https://etat.example.org/")
    events = [incident(kind=kind, opened_at=at, at=at + 600, checks=(check,),
                       resolved_at=at + 600 if kind == "resolved" else None)
              for kind in ("opened", "updated", "reminder", "resolved")]
    events += [dataclasses.replace(maintenance(kind), starts_at=at, ends_at=at + 3600)
               for kind in ("announced", "started", "ended")]
    events.append(system_alert(at=at))

    opened = message_for(events[0], ctx).body
    assert fr in opened and en in opened
    assert f"depuis 22 h 12 {offset} (" in opened
    bodies = [message_for(event, ctx).body for event in events]
    bodies.append(storm_message(events[:2], {42}, 120, ctx).body)
    for body in bodies:
        assert _BARE_TIME.findall(body) == [], body
        assert offset in body


@pytest.mark.parametrize(("seconds", "fr", "en"), [
    (30, "moins d'une minute", "less than a minute"),
    (45 * 60, "45 minutes", "45 minutes"),
    (2 * 3600, "2 heures", "2 hours"),
    (2 * 3600 + 5 * 60, "2 heures 5 minutes", "2 hours 5 minutes"),
    (3 * 86400 + 4 * 3600, "3 jours 4 heures", "3 days 4 hours"),
    (86400, "1 jour", "1 day"),
])
def test_durations(seconds, fr, en):
    assert format_duration(seconds, "fr") == fr
    assert format_duration(seconds, "en") == en


def test_an_incident_on_two_services_names_both_and_says_which_check_is_whose():
    event = incident("mysql", services=(service("mysql"), service("postgresql")), checks=(
        CheckSnapshot("mysql", "port", "tcp", "Port 3306", "Port 3306", "down",
                      "Connexion refusée", "Connection refused", None),
        CheckSnapshot("postgresql", "port", "tcp", "Port 5432", "Port 5432", "down",
                      "Connexion refusée", "Connection refused", None)))

    message = message_for(event, MessageContext())

    assert message.title == "🔴 Bases MySQL, Bases PostgreSQL : panne majeure"
    assert "Services : Bases MySQL (groupe databases), Bases PostgreSQL (groupe databases)" \
        in message.body
    assert "- Bases PostgreSQL › Port 5432 : Connexion refusée\n" in message.body


def test_an_update_carries_the_volunteers_message():
    event = incident(kind="updated", phase="identified", message_fr="Le disque est plein.",
                     message_en="The disk is full.")

    fr = message_for(event, MessageContext())
    both = message_for(event, MessageContext(languages=("fr", "en")))

    assert fr.title == "🔴 Nextcloud : panne majeure (mise à jour)"
    assert "Suivi : cause identifiée" in fr.body
    assert "Message : Le disque est plein." in fr.body
    assert "Message: The disk is full." in both.body
    assert "Progress: cause identified" in both.body


def test_english_first_when_configured_so():
    message = message_for(incident(), MessageContext(languages=("en", "fr")))

    assert message.title == "🔴 Nextcloud: major outage"
    assert message.body.index("Since: 14:05") < message.body.index("Depuis : 14 h 05")


def test_a_resolved_incident_recalls_what_was_failing():
    message = message_for(incident(kind="resolved", phase="resolved", resolved_at=T0 + 600),
                          MessageContext())

    assert message.title == "✅ Nextcloud : rétabli après 10 minutes"
    assert message.notify_type == "success"
    assert "État : rétabli (c'était : panne majeure)" in message.body
    assert "Ce qui échouait :" in message.body
    assert "Vérifications en échec" not in message.body


def test_the_status_page_falls_back_to_the_site_address():
    event = incident(status_page_url=None, incident_url=None, links=())

    message = message_for(event, MessageContext(public_url="https://etat.coop.example/"))

    assert message.body.endswith("Liens :\n- Page d'état : https://etat.coop.example/")


def test_a_maintenance_announced_ahead():
    message = message_for(maintenance("announced"), MessageContext(languages=("fr", "en")))

    assert message.title == "📅 Maintenance prévue : Mise à jour de PostgreSQL"
    assert message.notify_type == "info"
    assert "Début : 16 h 10 UTC+1 (28/11)\nFin prévue : 17 h 10 UTC+1 (28/11)" in message.body
    assert "📅 Maintenance planned: PostgreSQL upgrade" in message.body
    assert "Databases will be unavailable for 5 minutes." in message.body


def test_a_system_alert_in_english_too():
    message = message_for(system_alert("outbox.backlog", "warning",
                                       title_fr="Les alertes s'accumulent",
                                       title_en="Alerts are piling up"),
                          MessageContext(languages=("fr", "en"),
                                         public_url="https://etat.example.org/"))

    assert message.title == "🟠 Les alertes s'accumulent"
    assert message.notify_type == "warning"
    assert "🟠 Alerts are piling up" in message.body
    assert "When: 14:05 UTC+1 (28 Nov)" in message.body
    assert "Code: outbox.backlog" in message.body


def test_a_storm_message_puts_the_worst_first_in_its_title_and_type():
    events = [incident("web", incident_id=1, impact="degraded"),
              incident("mysql", incident_id=2, impact="major_outage")]

    message = storm_message(events, {1}, 120, MessageContext())

    assert message.title == "🔴 2 services en panne en même temps"
    assert message.notify_type == "failure"
    assert "en moins de 2 minutes" in message.body
    assert "- Hébergement web : performances dégradées, depuis 14 h 05 UTC+1 (28/11) — INC-1 (déjà signalé)" \
        in message.body


def test_a_storm_of_equal_severities_names_the_worst_impact_in_its_title():
    # the one order (monitor.status): a partial outage is worse than a degraded service,
    # though both were "warning" in the table this title once ranked by
    events = [incident("web", incident_id=1, impact="degraded"),
              incident("mysql", incident_id=2, impact="partial_outage")]

    message = storm_message(events, {1}, 120, MessageContext())

    assert message.title.startswith("🟠 ")


# Severity and routing -------------------------------------------------------------------


@pytest.mark.parametrize(("impact", "expected"), [
    ("major_outage", "critical"), ("partial_outage", "warning"), ("degraded", "warning")])
def test_severity_follows_the_impact_for_every_event_of_an_incident(impact, expected):
    for kind in ("opened", "updated", "reminder", "resolved"):
        assert severity(incident(kind=kind, impact=impact)) == expected
    assert notify_type(incident(kind="resolved", impact=impact)) == "success"
    assert notify_type(incident(kind="reminder", impact=impact)) == {
        "critical": "failure", "warning": "warning"}[expected]


def receivers(*tag_sets):
    return [SimpleNamespace(id=str(i), tags=frozenset(tags)) for i, tags in enumerate(tag_sets)]


def test_codes_route_system_alerts_by_pattern():
    targets = receivers({"tls"}, {"ops"}, {"all"})
    routes = [RouteSettings(codes=["tls.*"], tags=["tls"]),
              RouteSettings(events=["system"], severities=["critical"], tags=["ops"])]

    def chosen(alert):
        return [t.id for t in select(scope(alert, {}), targets, routes, ["all"])]

    assert chosen(system_alert("tls.expiring", "warning")) == ["0"]
    assert chosen(system_alert("store.unreachable", "critical")) == ["1"]
    assert chosen(system_alert("outbox.backlog", "warning")) == ["2"]


def test_system_alerts_about_a_service_route_by_its_group():
    targets = receivers({"dba"}, {"all"})
    routes = [RouteSettings(groups=["databases"], tags=["dba"])]
    alert = system_alert("tls.expiring", "warning", service_id="mysql")

    assert [t.id for t in select(scope(alert, {"mysql": "databases"}), targets, routes,
                                 ["all"])] == ["0"]


def test_every_criterion_of_a_rule_must_match():
    targets = receivers({"dba"}, {"all"})
    routes = [RouteSettings(groups=["databases"], severities=["critical"],
                            events=["incident.opened"], tags=["dba"])]

    def chosen(event):
        return [t.id for t in select(scope(event, {}), targets, routes, ["all"])]

    assert chosen(incident("mysql")) == ["0"]
    assert chosen(incident("mysql", impact="degraded")) == ["1"]
    assert chosen(incident("mysql", kind="reminder")) == ["1"]
    assert chosen(incident("web")) == ["1"]
    assert chosen(dataclasses.replace(maintenance(), services=(service("mysql"),))) == ["1"]


# The state at sending time ----------------------------------------------------------------


@pytest.fixture
def states(tmp_path, registry) -> StateBook:
    """The live states of :data:`SERVICES` (one check each): the forum and MySQL down,
    the others not judged yet."""
    config = load_config(write_config(tmp_path, None), registry)
    book = StateBook(config.services)
    for key in ("forum/port", "mysql/port"):
        book.restore(key, Status.DOWN, T0 - 120)
    book.restore_services(T0 - 60)
    return book


def test_the_state_now_is_told_only_when_it_changed_and_the_probes_can_tell(states):
    forum = incident("forum")
    assert incident_now(forum, states) is None  # still as the event says

    states.apply("forum/port", ProbeResult.up(started_at=T0 + 30))
    assert incident_now(forum, states) == StateNow("operational", T0 + 30)
    assert incident_now(forum, None) is None
    assert incident_now(dataclasses.replace(forum, automatic=False), states) is None
    assert incident_now(dataclasses.replace(forum, kind="resolved"), states) is None
    assert incident_now(incident("web"), states) is None  # its check has no verdict yet

    states.restore("mysql/port", Status.DEGRADED, T0 + 40)
    states.restore_services(T0 + 40)
    both = incident("mysql", services=(service("mysql"), service("forum")))
    assert incident_now(both, states) == StateNow("degraded")


def test_an_alert_whose_incident_changed_since_says_what_it_is_now():
    ctx = MessageContext(languages=("fr", "en"))

    worse = message_for(incident(impact="degraded"), ctx, StateNow("major_outage"))
    better = message_for(incident(kind="updated"), ctx, StateNow("partial_outage"))
    over = message_for(incident(kind="reminder"), ctx, StateNow("operational", T0 + 600))

    assert (worse.title, worse.notify_type) == ("🔴 Nextcloud : panne majeure", "failure")
    assert "État : panne majeure (c'était : performances dégradées)" in worse.body
    assert "State: major outage (was: degraded performance)" in worse.body
    assert (better.title, better.notify_type) == (
        "🟠 Nextcloud : panne partielle (mise à jour)", "warning")
    assert (over.title, over.notify_type) == ("✅ Nextcloud : panne majeure, déjà rétabli",
                                              "success")
    assert "State: back to normal since 14:15 UTC+1 (28 Nov); was: major outage" in over.body
    assert "What was failing:" in over.body


def test_a_storm_message_tells_each_state_now():
    events = [incident("nextcloud", incident_id=1), incident("forum", incident_id=2),
              incident("mysql", incident_id=3)]
    nows = {2: StateNow("operational", T0 + 60), 3: StateNow("degraded")}

    message = storm_message(events, {1}, 120, MessageContext(), nows)
    calm = storm_message(events[1:], set(), 120, MessageContext(),
                         {**nows, 3: StateNow("operational", T0 + 90)})

    assert message.title == "🔴 3 services en panne en même temps, 1 déjà rétabli"
    assert message.notify_type == "failure"
    assert "- Forum : rétabli depuis 14 h 06 UTC+1 (28/11) ; c'était : panne majeure — INC-2\n" \
        in message.body
    assert "- Bases MySQL : performances dégradées (c'était : panne majeure), depuis 14 h 05 UTC+1 (28/11)" \
        in message.body
    assert "Forum › status.php" not in message.body  # a recovered service's checks: history
    assert (calm.title, calm.notify_type) == (
        "✅ 2 services en panne en même temps, 2 déjà rétablis", "success")
