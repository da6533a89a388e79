"""Every text Vigie writes for a person, rendered in French and in English: the alerts of
every kind, the forum posts, the helpdesk notes and the incident timelines. None carries a
word of the other language (tests/language.py), and the French reads as French: the
phrases the issue quoted are gone."""

from __future__ import annotations

import dataclasses
import re

import pytest

from docs_bridge import forum_text
from monitor.incidents.engine import StatusChange
from monitor.incidents.watch import SystemWatch, UnrecordedAlerts, database_alert
from monitor.incidents.wording import Late, change_message, recovered_words, resolved_words
from monitor.notifications import CheckSnapshot, Link
from monitor.shortage import Shortage
from monitor.words import Bilingual, duration, every, of_name, say
from plugins.notify_apprise.live import StateNow
from plugins.notify_apprise.messages import MessageContext, message_for, storm_message
from tests.language import assert_in_language, foreign_words
from tests.plugins.test_notify_apprise import T0, incident, maintenance, system_alert
from tickets_bridge import evidence

LANGS = ("fr", "en")
#: links whose titles are names, the same in both languages (a guide's title is data)
LINKS = (Link("guide", "Nextcloud", "https://guides.example.org/nextcloud"),
         Link("ticket", "#1234", "https://aide.example.org/ticket/1234", public=False))


def event(kind: str = "opened", **changes):
    """An incident on the web hosting service (a name that takes an elision)."""
    base = incident("web", kind, impact=changes.pop("impact", "degraded"), links=LINKS,
                    title_fr="Lenteurs de l'hébergement web", title_en="Slow web hosting",
                    message_fr="Nous cherchons la cause.", message_en="We are looking into it.")
    return dataclasses.replace(base, **changes)


def check(reason_fr="Le serveur a répondu 503", reason_en="The server answered 503"):
    return CheckSnapshot("web", "home", "http", "Page d'accueil", "Home page", "down",
                         reason_fr, reason_en, T0 - 120)


def change(current="degraded", previous="operational", at=T0):
    return StatusChange("web", Bilingual("Hébergement web", "Web hosting"), previous, current, at,
                        (check(),))


def incident_events():
    resolved = dataclasses.replace(event("resolved", phase="resolved"), resolved_at=T0 + 140)
    return {
        "opened": event(), "updated": event("updated", phase="identified"),
        "monitoring": event("updated", phase="monitoring", impact="partial_outage"),
        "reminder": event("reminder", at=T0 + 7_260, impact="major_outage"),
        "resolved": resolved,
    }


def alerts():
    """Every kind of alert, by name: (event, state now)."""
    unrecorded = UnrecordedAlerts("Europe/Paris")
    down = unrecorded.alert_for(change("major_outage"), 1)
    up = unrecorded.alert_for(change("operational", "major_outage", T0 + 140), 1)
    shortage = Shortage(clock=lambda: T0)
    shortage.note("checks")
    shortage.note("listener")
    found = {f"incident.{name}": (e, None) for name, e in incident_events().items()}
    found.update({
        "incident.recovered_since": (event(), StateNow("operational", T0 + 600)),
        "incident.changed": (event(), StateNow("major_outage")),
        "maintenance.announced": (maintenance("announced"), None),
        "maintenance.started": (maintenance("started"), None),
        "maintenance.ended": (maintenance("ended"), None),
        "maintenance.cancelled": (dataclasses.replace(maintenance("cancelled"),
                                                      cancelled_at=T0), None),
        "system.store": (database_alert(T0 + 140, "postgresql://db.example.org/vigie", T0),
                         None),
        "system.plain": (system_alert(), None),
        "unrecorded.down": (down, None), "unrecorded.up": (up, None),
    })
    for number, alert in enumerate(shortage.due(T0)):
        found[f"shortage.{number}"] = (alert, None)
    return found


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", sorted(alerts()))
def test_every_alert_speaks_one_language(name, lang):
    alert, now = alerts()[name]
    message = message_for(alert, MessageContext(languages=(lang,)), now)
    assert_in_language(f"{message.title}\n{without_details(message.body)}", lang, name)


def without_details(body: str) -> str:
    """A system alert's body without its "Details" block: the producer's data (codes, Unix
    times, a plugin's own labels), not Vigie's words."""
    return re.sub(r"\n(Détails :|Details:)\n(- .*\n?)*", "\n", body)


@pytest.mark.parametrize("lang", LANGS)
def test_a_storm_alert_speaks_one_language(lang):
    events = [event(), dataclasses.replace(incident("nextcloud", links=LINKS, title_fr="Nextcloud",
                                                     title_en="Nextcloud"), incident_id=43)]
    message = storm_message(events, {42}, 90, MessageContext(languages=(lang,)),
                            {43: StateNow("operational", T0 + 60)})
    assert_in_language(f"{message.title}\n{message.body}", lang, "storm")


@pytest.mark.parametrize("lang", LANGS)
def test_system_watch_alerts_speak_one_language(lang):
    from types import SimpleNamespace

    from monitor.incidents.outbox import Backlog

    watch = SystemWatch(None, None, SimpleNamespace(backlog_alert=1, oldest_pending_alert=60,
                                                    plugin_failing_after=1),
                        SimpleNamespace(failing_streak={"notify_apprise": 3}))
    watch.sessions = None
    alerts = []
    # the alerts are built before they are written: write them nowhere
    import monitor.incidents.watch as module
    original = module.emit_system_alert
    module.emit_system_alert = lambda *a, **k: None
    try:
        watch.sessions = lambda: _NoSession()
        alerts = watch.check(Backlog(pending=3, dead=0, oldest_pending_at=T0 - 600), now=T0)
    finally:
        module.emit_system_alert = original
    assert {a.code for a in alerts} == {"outbox.backlog", "plugin.failing"}
    for alert in alerts:
        text = f"{alert.title_fr}\n{alert.message_fr}" if lang == "fr" \
            else f"{alert.title_en}\n{alert.message_en}"
        assert_in_language(text, lang, alert.code)


class _NoSession:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def begin(self):
        return self


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", ["opened", "updated", "resolved"])
def test_every_forum_text_speaks_one_language(name, lang):
    e = incident_events()[name]
    text = {"opened": lambda: forum_text.topic_title(e, lang) + "\n" +
            forum_text.topic_body(e, "Europe/Paris", lang),
            "updated": lambda: forum_text.update_body(e, "Europe/Paris", lang),
            "resolved": lambda: forum_text.resolution_body(e, "Europe/Paris", lang)}[name]()
    assert_in_language(text, lang, f"forum {name}")


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", ["opened", "updated", "resolved"])
def test_every_ticket_text_speaks_one_language(name, lang):
    e = incident_events()[name]
    text = {"opened": lambda: evidence.ticket_title(e, lang) + "\n" +
            evidence.opening_note(e, "Europe/Paris", lang),
            "updated": lambda: evidence.update_note(e, "Europe/Paris", lang),
            "resolved": lambda: evidence.resolution_note(e, "Europe/Paris", lang)}[name]()
    assert_in_language(text, lang, f"ticket {name}")


def timelines():
    late = Late(T0 + 1_500, "Europe/Paris")
    found = {}
    for impact in ("degraded", "partial_outage", "major_outage"):
        for kind in ("opened", "reopened", "status"):
            found[f"{kind}.{impact}"] = change_message(change(impact), kind)
            found[f"{kind}.{impact}.late"] = change_message(change(impact), kind, late)
        found[f"recovered.{impact}.late"] = recovered_words(
            change("operational", impact, T0 + 60), impact, T0, late)
    found["recovered"] = recovered_words(change("operational"), "degraded", T0, None)
    names = [Bilingual("Hébergement web", "Web hosting"), Bilingual("Messagerie", "Mail")]
    for quiet in (0, 600):
        found[f"resolved.{quiet}"] = resolved_words(names[:1], quiet)
        found[f"resolved.two.{quiet}"] = resolved_words(names, quiet)
    return found


@pytest.mark.parametrize("name", sorted(timelines()))
def test_every_timeline_entry_speaks_one_language(name):
    entry = timelines()[name]
    assert_in_language(entry.say("fr"), "fr", name)
    assert_in_language(entry.say("en"), "en", name)


# The phrases the issue quoted ----------------------------------------------------------------


def test_french_agrees_with_the_impact_detected():
    # was "performances dégradées détectée"
    fr = change_message(change("degraded"), "opened").fr
    assert "performances dégradées détectées par la surveillance" in fr
    fr = change_message(change("major_outage"), "opened").fr
    assert "panne majeure détectée par la surveillance" in fr
    fr = change_message(change("degraded"), "opened", Late(T0 + 1_500, "Europe/Paris")).fr
    assert "détectées par la surveillance automatique à" in fr and "(enregistrées à" in fr


def test_no_zero_minutes_and_plural_services():
    # was "fonctionne normalement depuis 0 min"
    said = resolved_words([Bilingual("Hébergement web", "Web hosting")], 0)
    assert "0 min" not in said.fr and "0 min" not in said.en
    assert said.fr == "Hébergement web fonctionne de nouveau normalement : incident résolu."
    said = resolved_words([Bilingual("Messagerie", "Mail"), Bilingual("Forum")], 600)
    fr, en = said.fr, said.en
    assert fr.startswith("Messagerie, Forum fonctionnent normalement depuis 10 minutes")
    assert en.startswith("Mail, Forum have worked normally for 10 minutes")


def test_durations_are_words_in_both_languages():
    # was "il y a 2m20s (attendu toutes les 1m)"
    assert duration(140, smallest=1).fr == "2 minutes 20 secondes"
    assert duration(140, smallest=1).en == "2 minutes 20 seconds"
    assert duration(3600).fr == "1 heure" and duration(3600).en == "1 hour"
    assert duration(0).fr == "moins d'une minute" and duration(59).en == "less than a minute"
    assert duration(89 * 86400).fr == "89 jours" and duration(86400 + 3600).en == "1 day 1 hour"
    assert duration(7320).fr == "2 heures 2 minutes"
    assert every(60).fr == "toutes les minutes" and every(60).en == "every minute"
    assert every(300).fr == "toutes les 5 minutes" and every(90).en == "every 90 seconds"
    assert every(86400).fr == "tous les jours" and every(7200).en == "every 2 hours"


@pytest.mark.parametrize(("name", "expected"), [
    ("Hébergement web", "d'Hébergement web"), ("IMAP", "d'IMAP"), ("Etherpad", "d'Etherpad"),
    ("Nextcloud", "de Nextcloud"), ("Hauteville", "de Hauteville"), ("Yunohost", "de Yunohost"),
    ("2 serveurs", "de 2 serveurs"),
])
def test_de_is_elided_before_a_vowel_sound(name, expected):
    # was "Disponibilité de Hébergement web"
    assert of_name(name) == expected


def test_messages_elide_de_before_a_name_in_french_only():
    assert say("fr", "{day} at {time}", day="hier", time="8 h") == "hier à 8 h"
    fr = say("fr", "{service} was down from {start} to {end} and is working again; we are "
                   "monitoring it (recorded at {recorded}: Vigie's database was unreachable).",
             service="Forum", start="8 h", end="9 h", recorded="10 h")
    assert "de 8 h à 9 h" in fr  # digits take no elision
    assert "Disponibilité d'Hébergement web" in _availability("fr", "Hébergement web")
    assert "Availability of Hébergement web" in _availability("en", "Hébergement web")


def _availability(lang: str, name: str) -> str:
    from monitor.words import elide

    text = say(lang, "Availability of %(service)s, day by day")
    return elide(text, {"service": name}, lang) % {"service": name}


def test_phases_and_impacts_are_worded_alike_in_alerts_forum_and_tickets():
    # was "recherche en cours" on the forum, "recherche de la cause" in the alerts
    e = event(phase="investigating")
    alert = message_for(e, MessageContext(languages=("fr",)))
    forum = forum_text.topic_body(e, "Europe/Paris")
    ticket = evidence.opening_note(e)
    for text in (alert.body, forum, ticket):
        assert "recherche de la cause" in text and "performances dégradées" in text
        assert "recherche en cours" not in text


def test_the_detector_finds_the_other_language():
    assert foreign_words("Nextcloud : panne majeure depuis 14 h", "en") == \
        ["depuis", "panne"]
    assert foreign_words("Nextcloud is down since 14:05", "fr") == ["down", "is", "since"]
    assert not foreign_words("Service : Nextcloud — https://the.example.org/is/down", "fr")


# Texts converted in the second pass ------------------------------------------------------


def test_a_shortage_alert_counts_in_words_not_with_parentheses():
    # was "1 exécution(s) de vérifications ont échoué"
    shortage = Shortage(clock=lambda: T0)
    shortage.note("checks")
    one = shortage.due(T0)[0]
    assert one.message_fr.startswith("1 exécution de vérification a échoué")
    assert one.message_en.startswith("1 check run failed")
    shortage = Shortage(clock=lambda: T0)
    for _ in range(3):
        shortage.note("checks")
    many = shortage.due(T0)[0]
    assert many.message_fr.startswith("3 exécutions de vérifications ont échoué")
    assert "(s)" not in many.message_fr + one.message_fr
    for alert in (one, many):
        assert_in_language(f"{alert.title_fr}\n{alert.message_fr}", "fr", "shortage")
        assert_in_language(f"{alert.title_en}\n{alert.message_en}", "en", "shortage")


@pytest.mark.parametrize("days", [-2, 10])
def test_a_certificate_alert_says_when_in_words(days):
    # was "expire le … (-2 jours)" for an expired certificate
    from types import SimpleNamespace

    from monitor.incidents.engine import IncidentEngine
    import monitor.incidents.engine as module

    sent = []
    engine = IncidentEngine.__new__(IncidentEngine)
    engine.ctx = SimpleNamespace(timezone="Europe/Paris")
    engine.sessions = lambda: _NoSession()
    engine.on_written = lambda: None
    original = module.emit_system_alert
    module.emit_system_alert = lambda _s, _c, alert, at: sent.append(alert) or 1
    try:
        engine.warn_certificates("web/https", "web", [("tls_expiry", T0 + days * 86400)], T0)
    finally:
        module.emit_system_alert = original
    alert = sent[0]
    assert "-" not in alert.message_fr.split("le ")[-1].split(",")[-1]
    if days < 0:
        assert "a expiré" in alert.message_fr and "il y a 2 jours" in alert.message_fr
        assert "expired" in alert.title_en and "2 days ago" in alert.message_en
    else:
        assert "dans 10 jours" in alert.message_fr and "in 10 days" in alert.message_en
    assert_in_language(f"{alert.title_fr}\n{alert.message_fr}", "fr", "certificate")
    assert_in_language(f"{alert.title_en}\n{alert.message_en}", "en", "certificate")


def input_errors():
    """A refusal of each kind the operations, the API bodies and the rules give."""
    from dashboard.admin import bodies
    from monitor.incidents import recurrence
    from monitor.incidents.inputs import InvalidInput, choice_field, text_field

    found = {}
    for name, call in {
        "too long": lambda: text_field("title_fr", "x" * 300, required=True, limit=200),
        "required": lambda: text_field("message_fr", "", required=True, limit=200),
        "choice": lambda: choice_field("impact", "loud", ("degraded", "major_outage")),
        "body type": lambda: bodies.MaintenanceChange.read({"weekly": 3}),
        "body unknown": lambda: bodies.NoticeChange.read({"colour": "red"}),
        "unix time": lambda: bodies.NoticeChange.read({"title_fr": "x", "starts_at": 12.0}),
    }.items():
        with pytest.raises(InvalidInput) as exc:
            call()
        found[name] = exc.value.words
    for name, call in {
        "rule frequency": lambda: recurrence.build_rule(rrule="FREQ=MINUTELY"),
        "rule day": lambda: recurrence.build_rule(weekly="caturday"),
        "rule duration": lambda: recurrence.check_rule("RRULE:FREQ=DAILY;BYHOUR=2", 2 * 86400),
    }.items():
        with pytest.raises(recurrence.RuleError) as exc:
            call()
        found[name] = exc.value.words
    return found


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", sorted(input_errors()))
def test_every_input_error_speaks_one_language(name, lang):
    # the words a field allows are identifiers (degraded, starts_at), not a language
    text = re.sub(r"\((possibles :|allowed:|one of:) [^)]*\)", "", input_errors()[name].say(lang))
    assert_in_language(text, lang, name)
