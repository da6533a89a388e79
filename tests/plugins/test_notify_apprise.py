"""The Apprise notifier, with real deliveries on 127.0.0.1.

Receivers: ``json://`` to a local aiohttp server (each path is one receiver) and
``mailto://`` to a local aiosmtpd SMTP server with a login. The notifier is built from a
real ``vigie.yaml`` loaded by :func:`monitor.config_loader.load_config`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email
import email.policy
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from monitor.config_loader import load_config
from monitor.notifications import (
    CheckSnapshot,
    IncidentEvent,
    Link,
    MaintenanceEvent,
    RetryLater,
    ServiceSnapshot,
    SystemAlert,
)
from monitor.plugins import ProbeRegistry, build_plugin_manager, config_sections
from monitor.startup import StartupContext
from monitor.state import StateBook
from plugins import notify_apprise
from plugins.notify_apprise import DeliveryFailed, Notifier
from tests.conftest import free_port
from tests.peers import Changes

#: 28 November 2026, 14:05 in Paris (13:05 UTC)
T0 = datetime(2026, 11, 28, 14, 5, tzinfo=ZoneInfo("Europe/Paris")).timestamp()

SERVICES = {  # id: (French name, English name, group)
    "nextcloud": ("Nextcloud", "Nextcloud", "collaboration"),
    "mysql": ("Bases MySQL", "MySQL databases", "databases"),
    "postgresql": ("Bases PostgreSQL", "PostgreSQL databases", "databases"),
    "web": ("Hébergement web", "Web hosting", "web"),
    "mail": ("Messagerie", "Mail", "mail"),
    "forum": ("Forum", "Forum", "community"),
}


# Receivers ----------------------------------------------------------------------------


class JsonReceiver:
    """A local HTTP server taking Apprise ``json://`` posts; each path is one receiver."""

    def __init__(self) -> None:
        self.port = 0
        self.received: dict[str, list[dict[str, Any]]] = defaultdict(list)
        #: (receiver, HTTP status) of every post answered, refused ones included
        self.answered: list[tuple[str, int]] = []
        self.replies: dict[str, tuple[int, dict[str, str]]] = {}
        self.hung: set[str] = set()
        self.release = asyncio.Event()
        #: noted at each post answered
        self.changes = Changes()

    def url(self, name: str) -> str:
        """The Apprise URL of the receiver ``name``."""
        return f"json://127.0.0.1:{self.port}/{name}"

    def reply(self, name: str, status: int, headers: dict[str, str] | None = None) -> None:
        """Make ``name`` answer ``status`` from now on."""
        self.replies[name] = (status, headers or {})

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        payload = await request.json()
        if name in self.hung:
            await self.release.wait()
        status, headers = self.replies.get(name, (200, {}))
        self.answered.append((name, status))
        if status < 300:
            self.received[name].append(payload)
        self.changes.note()
        return web.Response(status=status, headers=headers, text="ok")


@pytest.fixture
async def receiver():
    """A running :class:`JsonReceiver`."""
    recv = JsonReceiver()
    app = web.Application()
    app.router.add_post("/{name}", recv.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    recv.port = runner.addresses[0][1]
    yield recv
    recv.release.set()
    await runner.cleanup()


class MailSink:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], email.message.EmailMessage]] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = auth_data.login == b"vigie" and auth_data.password == b"s3cret:pass"
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok)


@pytest.fixture
def mail_sink():
    """A local SMTP server (no TLS, login vigie / s3cret:pass) on a free port."""
    sink = MailSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port(),
                            authenticator=sink.authenticate, auth_require_tls=False)
    controller.start()
    sink.port = controller.port
    yield sink
    controller.stop()


# Configuration and events ---------------------------------------------------------------


@pytest.fixture(scope="module")
def registry() -> ProbeRegistry:
    """The probe kinds, to load a real configuration."""
    return ProbeRegistry.from_plugin_manager(build_plugin_manager())


def write_config(tmp_path: Path, notifications: dict | None, **site: Any) -> Path:
    """A ``vigie.yaml`` with :data:`SERVICES` and the given ``notifications`` section."""
    groups = sorted({g for _, _, g in SERVICES.values()})
    data: dict[str, Any] = {
        "site": {"public_url": "https://etat.example.org/", **site},
        "groups": [{"id": g, "name": {"fr": f"Groupe {g}", "en": f"Group {g}"}}
                   for g in groups],
        "services": [{"id": sid, "name": {"fr": fr, "en": en}, "group": group,
                      "checks": [{"id": "port", "kind": "tcp", "host": "127.0.0.1",
                                  "port": 9}]}
                     for sid, (fr, en, group) in SERVICES.items()],
    }
    if notifications is not None:
        data["notifications"] = notifications
    path = tmp_path / "vigie.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def make_notifier(tmp_path: Path, registry: ProbeRegistry, **notifications: Any) -> Notifier:
    """A notifier built the way ``vigie run`` builds it, from a loaded configuration;
    storm control is off unless ``storm`` is given (deliveries here are sequential)."""
    notifications.setdefault("storm", {"enabled": False})
    pm = build_plugin_manager()
    config = load_config(write_config(tmp_path, notifications), registry, config_sections(pm))
    return Notifier.from_config(config.sections["notifications"], config)


def service(sid: str, status: str = "major_outage") -> ServiceSnapshot:
    """A snapshot of one of :data:`SERVICES`."""
    fr, en, group = SERVICES[sid]
    return ServiceSnapshot(sid, fr, en, group, status)


def incident(sid: str = "nextcloud", kind: str = "opened", incident_id: int = 42,
             impact: str = "major_outage", **changes: Any) -> IncidentEvent:
    """An incident event on ``sid`` opened at :data:`T0`, with a guide and a ticket."""
    fr, en, _ = SERVICES[sid]
    event = IncidentEvent(
        kind=kind, idempotency_key=f"incident-{incident_id}-{kind}-apprise",
        incident_id=incident_id, reference=f"INC-{incident_id}",
        title_fr=f"Panne de {fr}", title_en=f"{en} outage",
        impact=impact, phase="investigating", automatic=True, opened_at=T0, at=T0 + 60,
        services=(service(sid, impact),),
        checks=(CheckSnapshot(sid, "status", "http", "status.php", "status.php", "down",
                              "Le serveur a répondu 503 au lieu de 200-399",
                              "The server answered 503 instead of 200-399", T0 - 120),),
        links=(Link("guide", f"Se connecter à {fr}", f"https://guides.example.org/{sid}"),
               Link("ticket", "Ticket #1234", "https://aide.example.org/ticket/1234",
                    public=False)),
        incident_url=f"https://etat.example.org/incidents/{incident_id}",
        status_page_url="https://etat.example.org/",
    )
    return dataclasses.replace(event, **changes)


def maintenance(kind: str = "started") -> MaintenanceEvent:
    """The PostgreSQL upgrade window, 16:10 to 17:10 on 28 November."""
    return MaintenanceEvent(kind=kind, idempotency_key=f"maintenance-7-{kind}", window_id=7,
                            title_fr="Mise à jour de PostgreSQL",
                            title_en="PostgreSQL upgrade",
                            starts_at=T0 + 7_500, ends_at=T0 + 11_100,
                            services=(service("postgresql", "maintenance"),),
                            message_fr="Les bases seront indisponibles 5 minutes.",
                            message_en="Databases will be unavailable for 5 minutes.")


def system_alert(code: str = "store.unreachable", severity: str = "critical",
                 **changes: Any) -> SystemAlert:
    """Vigie cannot reach its database."""
    alert = SystemAlert(
        code=code, idempotency_key=f"system-{code}-1", severity=severity,
        title_fr="Vigie ne joint plus sa base de données",
        title_en="Vigie cannot reach its database",
        message_fr="Les résultats sont gardés en mémoire en attendant.",
        message_en="Results are kept in memory meanwhile.", at=T0,
        details={"buffered": "1250"})
    return dataclasses.replace(alert, **changes)


# Deliveries -----------------------------------------------------------------------------


async def test_opened_incident_reaches_a_json_receiver_in_french(tmp_path, registry,
                                                                 receiver):
    notifier = make_notifier(tmp_path, registry, urls=[{"url": receiver.url("benevoles")}])

    await notifier.deliver(incident())

    [payload] = receiver.received["benevoles"]
    assert payload["title"] == "🔴 Nextcloud : panne majeure"
    assert payload["type"] == "failure"
    body = payload["message"]
    assert "Service : Nextcloud (groupe Groupe collaboration)" in body
    assert "Depuis : 14 h 05 UTC+1 (28/11)" in body
    assert "- status.php : Le serveur a répondu 503 au lieu de 200-399, depuis 14 h 03" in body
    assert "Page de l'incident : https://etat.example.org/incidents/42" in body
    assert "Page d'état : https://etat.example.org/" in body
    assert "Guide « Se connecter à Nextcloud » : https://guides.example.org/nextcloud" in body
    assert ("Ticket « Ticket #1234 » (réservé aux bénévoles) : "
            "https://aide.example.org/ticket/1234") in body
    assert "server answered" not in body  # French only unless English is configured


async def test_mail_receiver_gets_the_french_subject_and_body(tmp_path, registry, mail_sink):
    url = (f"mailto://vigie:s3cret%3Apass@127.0.0.1:{mail_sink.port}"
           "?from=vigie@coop.example.org&to=benevoles@coop.example.org")
    notifier = make_notifier(tmp_path, registry, urls=[{"url": url}])

    await notifier.deliver(incident("mysql", impact="partial_outage"))

    [(sender, recipients, message)] = mail_sink.messages
    assert mail_sink.logins == ["vigie"]
    assert sender == "vigie@coop.example.org"
    assert recipients == ["benevoles@coop.example.org"]
    assert message["Subject"] == "🟠 Bases MySQL : panne partielle"
    body = message.get_body(("plain",)).get_content()
    assert "État : panne partielle" in body
    assert "Le serveur a répondu 503 au lieu de 200-399" in body
    assert "https://etat.example.org/incidents/42" in body
    assert "https://guides.example.org/mysql" in body


def routed(receiver: JsonReceiver) -> list[dict]:
    """Receivers for the routing tests: dba, web, and the default route (ops)."""
    return [{"url": receiver.url("dba"), "tags": ["dba"]},
            {"url": receiver.url("web"), "tags": ["web"]},
            {"url": receiver.url("ops"), "tags": ["all"]}]


ROUTES = [{"groups": ["databases"], "tags": ["dba"]},
          {"services": ["web"], "tags": ["web"]},
          {"severities": ["critical"], "events": ["incident.opened"], "tags": ["dba", "web"]}]


async def test_routes_send_each_incident_to_the_people_who_run_it(tmp_path, registry,
                                                                  receiver):
    notifier = make_notifier(tmp_path, registry, urls=routed(receiver), routes=ROUTES)

    await notifier.deliver(incident("postgresql", incident_id=1, impact="partial_outage"))
    await notifier.deliver(incident("web", incident_id=2, impact="degraded"))
    await notifier.deliver(incident("nextcloud", incident_id=3, impact="major_outage"))

    titles = {name: [p["title"] for p in got] for name, got in receiver.received.items()}
    assert titles == {
        "dba": ["🟠 Bases PostgreSQL : panne partielle", "🔴 Nextcloud : panne majeure"],
        "web": ["🟡 Hébergement web : performances dégradées", "🔴 Nextcloud : panne majeure"],
    }


async def test_an_event_no_route_matches_takes_the_default_route(tmp_path, registry,
                                                                 receiver):
    notifier = make_notifier(tmp_path, registry, urls=routed(receiver), routes=ROUTES)

    await notifier.deliver(system_alert())

    assert list(receiver.received) == ["ops"]
    assert receiver.received["ops"][0]["title"] == "🔴 Vigie ne joint plus sa base de données"


async def test_without_a_default_tag_everyone_gets_unrouted_events(tmp_path, registry,
                                                                   receiver):
    urls = [{"url": receiver.url("dba"), "tags": ["dba"]},
            {"url": receiver.url("web"), "tags": ["web"]},
            {"url": receiver.url("chat")}]  # no tags: receives everything
    notifier = make_notifier(tmp_path, registry, urls=urls, routes=ROUTES[:2])

    await notifier.deliver(maintenance("started"))  # postgresql: routed to dba
    await notifier.deliver(system_alert())  # no route, no 'all' tag: everyone

    counts = {name: len(got) for name, got in receiver.received.items()}
    assert counts == {"dba": 2, "web": 1, "chat": 2}


async def test_the_end_of_an_incident_reaches_everyone_who_heard_of_it(tmp_path, registry,
                                                                       receiver):
    urls = [{"url": receiver.url("astreinte"), "tags": ["astreinte"]},
            {"url": receiver.url("ops"), "tags": ["all"]}]
    notifier = make_notifier(tmp_path, registry, urls=urls,
                             routes=[{"severities": ["critical"], "tags": ["astreinte"]}])

    await notifier.deliver(incident())
    # the impact went down before the end: the route no longer matches, the memory does
    await notifier.deliver(incident(kind="updated", impact="degraded", at=T0 + 600))
    await notifier.deliver(incident(kind="resolved", impact="degraded", phase="resolved",
                                    at=T0 + 3900, resolved_at=T0 + 3900))

    titles = [p["title"] for p in receiver.received["astreinte"]]
    assert titles == ["🔴 Nextcloud : panne majeure", "🟡 Nextcloud : performances dégradées (mise à jour)",
                      "✅ Nextcloud : rétabli après 1 heure 5 minutes"]
    assert receiver.received["astreinte"][2]["type"] == "success"
    assert len(receiver.received["ops"]) == 2  # routed by default since it was degraded


async def test_a_receiver_answering_500_makes_the_hook_raise_and_a_retry_skips_the_others(
        tmp_path, registry, receiver):
    urls = [{"url": receiver.url("a"), "name": "liste bénévoles"},
            {"url": receiver.url("b"), "name": "salon Matrix"}]
    notifier = make_notifier(tmp_path, registry, urls=urls)
    receiver.reply("b", 500)

    with pytest.raises(DeliveryFailed) as failed:
        await notifier.deliver(incident())

    assert str(failed.value) == ("1 of 2 receiver(s) did not take the alert: "
                                 "salon Matrix: answered HTTP 500")
    assert len(receiver.received["a"]) == 1
    receiver.reply("b", 200)
    await notifier.deliver(incident())  # the outbox's retry, same idempotency key
    assert len(receiver.received["a"]) == 1
    assert len(receiver.received["b"]) == 1


async def test_a_receiver_answering_429_asks_the_outbox_to_retry_later(tmp_path, registry,
                                                                        receiver):
    notifier = make_notifier(tmp_path, registry, urls=[{"url": receiver.url("a")}],
                             retry_after="90s")
    receiver.reply("a", 429, {"Retry-After": "120"})

    with pytest.raises(RetryLater) as later:
        await notifier.deliver(maintenance("ended"))

    assert later.value.seconds == 90
    assert "answered HTTP 429" in str(later.value)


async def test_errors_never_show_the_password_of_a_receiver(tmp_path, registry):
    url = (f"mailto://vigie:Tr3sS3cret@127.0.0.1:{free_port()}"
           "?from=vigie@coop.example.org&to=a@coop.example.org")
    notifier = make_notifier(tmp_path, registry, urls=[{"url": url}], timeout="3s")

    with pytest.raises(DeliveryFailed) as failed:
        await notifier.deliver(system_alert())

    assert "Tr3sS3cret" not in str(failed.value)
    assert "urls[0] (E-Mail): delivery failed" in str(failed.value)


async def test_a_receiver_that_never_answers_fails_within_the_timeout(tmp_path, registry,
                                                                     receiver):
    notifier = make_notifier(tmp_path, registry, urls=[{"url": receiver.url("slow")}],
                             timeout="0.5s")
    receiver.hung.add("slow")

    # the guard only catches a hang: the notifier gives up after its timeout (+ 5 s grace)
    async with asyncio.timeout(60):
        with pytest.raises(DeliveryFailed, match="no answer in time"):
            await notifier.deliver(incident())


# Texts ----------------------------------------------------------------------------------


async def test_reminder_and_resolved_texts(tmp_path, registry, receiver):
    notifier = make_notifier(tmp_path, registry, urls=[{"url": receiver.url("a")}])

    await notifier.deliver(incident(kind="reminder", at=T0 + 7_800))
    await notifier.deliver(incident(kind="resolved", phase="resolved", checks=(),
                                    at=T0 + 3_900, resolved_at=T0 + 3_900))

    reminder, resolved = receiver.received["a"]
    assert reminder["title"] == "⏰ Nextcloud : panne majeure, toujours en cours depuis 2 heures 10 minutes"
    assert reminder["type"] == "failure"
    assert "Le serveur a répondu 503" in reminder["message"]
    assert resolved["title"] == "✅ Nextcloud : rétabli après 1 heure 5 minutes"
    assert resolved["type"] == "success"
    assert "Du 14 h 05 UTC+1 (28/11) au 15 h 10 UTC+1 (28/11), soit 1 heure 5 minutes" in resolved["message"]
    assert "Suivi : résolu" in resolved["message"]


async def test_maintenance_and_system_texts(tmp_path, registry, receiver):
    notifier = make_notifier(tmp_path, registry, urls=[{"url": receiver.url("a")}])

    await notifier.deliver(maintenance("started"))
    await notifier.deliver(maintenance("ended"))
    await notifier.deliver(system_alert("tls.expiring", "warning", service_id="mail",
                                        title_fr="Le certificat de la messagerie expire "
                                                 "dans 10 jours",
                                        details={"expire le": "08/12/2026"}))

    started, ended, tls = receiver.received["a"]
    assert started["title"] == "🔧 Maintenance en cours : Mise à jour de PostgreSQL"
    assert started["type"] == "info"
    assert "Fin prévue : 17 h 10 UTC+1 (28/11)" in started["message"]
    assert "Les bases seront indisponibles 5 minutes." in started["message"]
    assert ended["title"] == "✅ Maintenance terminée : Mise à jour de PostgreSQL"
    assert ended["type"] == "success"
    assert tls["title"] == "🟠 Le certificat de la messagerie expire dans 10 jours"
    assert tls["type"] == "warning"
    assert "Service : Messagerie" in tls["message"]
    assert "- expire le : 08/12/2026" in tls["message"]
    assert "Code : tls.expiring" in tls["message"]


async def test_a_cancelled_window_is_worded_as_cancelled_in_each_language(
        tmp_path, registry, receiver):
    notifier = make_notifier(tmp_path, registry, urls=[{"url": receiver.url("a")}],
                             languages=["fr", "en"])

    await notifier.deliver(dataclasses.replace(maintenance("cancelled"),
                                               cancelled_at=T0 + 3_600))

    [cancelled] = receiver.received["a"]
    assert cancelled["title"] == "🚫 Maintenance annulée : Mise à jour de PostgreSQL"
    assert cancelled["type"] == "info"
    body = cancelled["message"]
    assert "Début prévu : 16 h 10 UTC+1 (28/11)" in body
    assert "Fin prévue : 17 h 10 UTC+1 (28/11)" in body
    assert "Annulation : 15 h 05 UTC+1 (28/11)" in body
    assert "🚫 Maintenance cancelled: PostgreSQL upgrade" in body
    assert "Planned start: 16:10 UTC+1 (28 Nov)" in body
    assert "Cancelled: 15:05 UTC+1 (28 Nov)" in body
    assert "en cours" not in body and "started" not in body


def test_the_plugin_asks_for_the_kinds_it_words_and_no_other():
    from plugins.notify_apprise import ApprisePlugin

    plugin = ApprisePlugin()
    assert plugin.accepts_event(maintenance("cancelled"))
    assert all(plugin.accepts_event(maintenance(kind))
               for kind in ("announced", "started", "ended"))
    assert plugin.accepts_event(incident(kind="reminder"))
    # a kind Vigie might add later is not written for it until it has words for it
    assert not plugin.accepts_event(maintenance("postponed"))


async def test_english_follows_french_when_configured(tmp_path, registry, receiver):
    notifier = make_notifier(tmp_path, registry, urls=[{"url": receiver.url("a")}],
                             languages=["fr", "en"])

    await notifier.deliver(incident())

    [payload] = receiver.received["a"]
    body = payload["message"]
    assert payload["title"] == "🔴 Nextcloud : panne majeure"
    assert "🔴 Nextcloud: major outage" in body
    assert "Since: 14:05 UTC+1 (28 Nov)" in body
    assert "The server answered 503 instead of 200-399" in body
    assert body.index("Le serveur a répondu 503") < body.index("The server answered 503")


async def test_events_left_out_of_the_list_are_not_sent(tmp_path, registry, receiver):
    notifier = make_notifier(tmp_path, registry, urls=[{"url": receiver.url("a")}],
                             events=["incident.opened", "incident.resolved"])

    await notifier.deliver(incident(kind="reminder"))
    await notifier.deliver(maintenance())
    await notifier.deliver(incident())

    assert [p["title"] for p in receiver.received["a"]] == ["🔴 Nextcloud : panne majeure"]


# Receivers from an Apprise configuration file ------------------------------------------


async def test_receivers_from_an_apprise_yaml_file(tmp_path, registry, receiver):
    (tmp_path / "apprise.yml").write_text(yaml.safe_dump({"urls": [
        {receiver.url("dba"): [{"tag": "dba"}]},
        {receiver.url("web"): [{"tag": "web, all"}]},
    ]}))
    notifier = make_notifier(tmp_path, registry, config_file="apprise.yml",
                             routes=[{"groups": ["databases"], "tags": ["dba"]}])

    await notifier.deliver(incident("mysql"))
    await notifier.deliver(incident("web", incident_id=2))

    assert [p["title"] for p in receiver.received["dba"]] == ["🔴 Bases MySQL : panne majeure"]
    assert [p["title"] for p in receiver.received["web"]] == [
        "🔴 Hébergement web : panne majeure"]


async def test_an_unreadable_apprise_file_keeps_alerts_in_the_outbox(tmp_path, registry):
    notifier = make_notifier(tmp_path, registry, config_file="missing.yml")

    with pytest.raises(DeliveryFailed, match="missing.yml is not a readable file"):
        await notifier.deliver(incident())


# Through the hooks ----------------------------------------------------------------------


async def test_hooks_deliver_with_the_settings_loaded_at_startup(tmp_path, registry,
                                                                 receiver, monkeypatch):
    monkeypatch.setenv("VIGIE_TEST_ALERT_URL", receiver.url("hook"))
    path = write_config(tmp_path, {"urls": [{"url": "${VIGIE_TEST_ALERT_URL}"}]})
    plugin = notify_apprise.ApprisePlugin()
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[("apprise", plugin)])
    config = load_config(path, registry, config_sections(pm))
    ctx = StartupContext(config=config, state=StateBook(config.services))

    [started] = pm.hook.vigie_startup(ctx=ctx, runtime=None)
    await started
    try:
        for hook, event in (("vigie_incident_opened", {"event": incident()}),
                            ("vigie_incident_updated", {"event": incident(kind="reminder")}),
                            ("vigie_incident_resolved", {"event": incident(kind="resolved")}),
                            ("vigie_maintenance_changed", {"event": maintenance()}),
                            ("vigie_system_alert", {"alert": system_alert()})):
            [call] = getattr(pm.hook, hook)(**event)
            assert await call is None
    finally:
        [stopped] = pm.hook.vigie_shutdown(ctx=ctx, runtime=None)
        await stopped
    assert len(receiver.received["hook"]) == 5
    assert plugin.notifier is None

    receiver.reply("hook", 500)  # a failing receiver: the hook raises, for the outbox
    await pm.hook.vigie_startup(ctx=ctx, runtime=None)[0]
    try:
        with pytest.raises(DeliveryFailed):
            await pm.hook.vigie_incident_opened(event=incident(incident_id=9))[0]
    finally:
        await pm.hook.vigie_shutdown(ctx=ctx, runtime=None)[0]


async def test_without_a_notifications_section_the_hooks_do_nothing(tmp_path, registry,
                                                                     receiver):
    plugin = notify_apprise.ApprisePlugin()
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[("apprise", plugin)])
    config = load_config(write_config(tmp_path, None), registry, config_sections(pm))
    ctx = StartupContext(config=config, state=StateBook(config.services))

    await pm.hook.vigie_startup(ctx=ctx, runtime=None)[0]
    assert config.sections["notifications"] is None
    assert plugin.notifier is None
    assert await pm.hook.vigie_incident_opened(event=incident())[0] is None
    await pm.hook.vigie_shutdown(ctx=ctx, runtime=None)[0]
