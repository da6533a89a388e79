"""Realistic data for the status page: a configuration, 90 days of rollups, status
changes with reasons, raw results, incidents with timelines and links, maintenance
windows and notices. Used by the dashboard tests, the browser tests and the benchmark.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from monitor.config import Config
from monitor.probe import Reason, Status
from monitor.state import ServiceStatus
from monitor.store import ResultRecord, Store
from monitor.store.models import Base, CheckRow, DailyCheckRollup, DailyServiceRollup
from monitor.store.records import CheckChange, ServiceChange
from monitor.words import Bilingual

ZONE = ZoneInfo("Europe/Paris")
#: a fixed "now" (a Thursday afternoon in Paris) so that every run sees the same page
NOW = datetime(2026, 3, 12, 14, 5, tzinfo=ZONE).timestamp()

CONFIG = """\
site:
  title: {{fr: "Coopérative Exemple — état des services", en: "Example cooperative — service status"}}
  timezone: Europe/Paris
data_dir: {data_dir}
store:
  url: {url}
dashboard:
  secret_key: "test-secret-key-not-for-production"
  help_links:
    - {{name: {{fr: Guides, en: Guides}}, url: "https://guides.example.coop/"}}
    - {{name: {{fr: "Forum d'entraide", en: Help forum}}, url: "https://forum.example.coop/"}}
groups:
  - id: hebergement
    name: {{fr: Hébergement, en: Hosting}}
  - id: communication
    name: {{fr: Communication, en: Communication}}
services:
{services}
"""

SERVICE = """\
  - id: {id}
    name: {{fr: "{fr}", en: "{en}"}}
    group: {group}
    checks:
      - id: web
        name: {{fr: "Page d'accueil", en: Home page}}
        kind: tcp
        host: 127.0.0.1
        port: 9
      - id: db
        name: {{fr: "Base de données", en: Database}}
        kind: tcp
        host: 127.0.0.1
        port: 9
"""

#: the services of the small realistic page: id, French, English, group, current status
SERVICES = [
    ("web", "Hébergement web", "Web hosting", "hebergement", ServiceStatus.OPERATIONAL),
    ("nextcloud", "Nextcloud", "Nextcloud", "hebergement", ServiceStatus.DEGRADED),
    ("mail", "Messagerie", "Mail", "communication", ServiceStatus.PARTIAL_OUTAGE),
    ("lists", "Listes de diffusion", "Mailing lists", "communication", ServiceStatus.OPERATIONAL),
    ("forum", "Forum", "Forum", None, ServiceStatus.OPERATIONAL),
]


@dataclass
class Seeded:
    """What was written: ids the tests refer to."""

    config_path: Path
    open_incident: int
    resolved_incident: int
    notice: int


def write_config(folder: Path, url: str, services: list[tuple] | None = None) -> Path:
    """Write a ``vigie.yaml`` for ``services`` (default :data:`SERVICES`) into ``folder``."""
    services = SERVICES if services is None else services
    body = "".join(SERVICE.format(id=s[0], fr=s[1], en=s[2], group=s[3] or "null")
                   for s in services)
    path = folder / "vigie.yaml"
    path.write_text(CONFIG.format(data_dir=folder / "data", url=url, services=body),
                    encoding="utf-8")
    return path


def prepare_store(url: str) -> Store:
    """A migrated store (every table, incident ones included)."""
    store = Store(url)
    store.upgrade()
    Base.metadata.create_all(store.engine, checkfirst=True)
    return store


def seed_states(store: Store, config: Config, statuses: dict[str, ServiceStatus],
                now: float = NOW) -> None:
    """Current statuses: one service change per service, check changes with reasons."""
    changes = []
    for service in config.services:
        status = statuses.get(service.id, ServiceStatus.OPERATIONAL)
        since = now - 3 * 86400 if status == ServiceStatus.OPERATIONAL else now - 2 * 3600
        changes.append(ServiceChange(service.id, now - 80 * 86400, None, ServiceStatus.OPERATIONAL))
        if status != ServiceStatus.OPERATIONAL:
            changes.append(ServiceChange(service.id, since, ServiceStatus.OPERATIONAL, status))
        for index, check in enumerate(service.checks):
            changes.append(CheckChange(check.key, now - 80 * 86400, None, Status.UP))
            if status in (ServiceStatus.PARTIAL_OUTAGE, ServiceStatus.MAJOR_OUTAGE) and (
                    index == 0 or status == ServiceStatus.MAJOR_OUTAGE):
                changes.append(CheckChange(check.key, since, Status.UP, Status.DOWN, Reason(
                    "connection.refused", Bilingual("Connexion refusée par 127.0.0.1:993",
                                                    "Connection refused by 127.0.0.1:993"))))
            elif status == ServiceStatus.DEGRADED and index == 0:
                changes.append(CheckChange(check.key, since, Status.UP, Status.DEGRADED, Reason(
                    "http.slow", Bilingual("Le serveur a mis 4,2 s à répondre",
                                           "The server took 4.2 s to answer"))))
    store.write_batch((), changes)


def seed_rollups(store: Store, config: Config, now: float = NOW, days: int = 90,
                 rng: random.Random | None = None) -> None:
    """Daily rollups for ``days`` days: mostly perfect, a few bad days."""
    rng = rng or random.Random(42)
    today = datetime.fromtimestamp(now, ZONE).date()
    ids = {}
    with store.engine.connect() as conn:
        ids = dict(conn.execute(CheckRow.__table__.select().with_only_columns(
            CheckRow.key, CheckRow.id)).all())
    service_rows, check_rows = [], []
    for service in config.services:
        for offset in range(days):
            day = today - timedelta(days=offset)
            roll = rng.random()
            if roll < 0.03:
                uptime, worst = 0.82, ServiceStatus.MAJOR_OUTAGE.code
            elif roll < 0.08:
                uptime, worst = 0.985, ServiceStatus.DEGRADED.code
            elif roll < 0.10:
                uptime, worst = 1.0, ServiceStatus.MAINTENANCE.code
            else:
                uptime, worst = 1.0, ServiceStatus.OPERATIONAL.code
            if offset == days - 1 and service.id == config.services[-1].id:
                continue  # the newest service has no data on its first day
            service_rows.append({"service_id": service.id, "day": day, "runs": 576,
                                 "uptime": uptime, "observed": 86400.0, "worst_status": worst,
                                 "latency_p50": 0.12, "latency_p95": 0.4})
            for check in service.checks:
                check_rows.append({"check_id": ids[check.key], "day": day, "runs": 288,
                                   "up": 280, "degraded": 4, "down": 4, "unknown": 0,
                                   "maintenance": 0, "uptime": uptime,
                                   "latency_p50": 0.1 + rng.random() * 0.1,
                                   "latency_p95": 0.5})
    with store.engine.begin() as conn:
        conn.execute(DailyServiceRollup.__table__.insert(), service_rows)
        conn.execute(DailyCheckRollup.__table__.insert(), check_rows)


def seed_results(store: Store, config: Config, now: float = NOW, hours: float = 48,
                 every: float = 300) -> None:
    """Raw results for the response-time charts."""
    rng = random.Random(7)
    records = []
    for service in config.services:
        for check in service.checks:
            at = now - hours * 3600
            while at < now:
                status = Status.UP if rng.random() > 0.02 else Status.DOWN
                records.append(ResultRecord(check.key, at, status, 0.05 + rng.random() * 0.3))
                at += every
    for start in range(0, len(records), 5000):
        store.write_results(records[start:start + 5000])


def seed_incidents(store: Store, now: float = NOW) -> tuple[int, int, int]:
    """An open incident on mail, a resolved one with a post-mortem, maintenance windows and
    notices (one with a script that must never reach the page)."""
    from monitor.incidents.models import (
        Incident,
        IncidentLink,
        IncidentService,
        IncidentUpdate,
        MaintenanceWindow,
        Notice,
    )

    with Session(store.engine) as session, session.begin():
        open_ = Incident(
            reference="INC-2026-0007", title_fr="Réception du courrier perturbée",
            title_en="Incoming mail disrupted", impact="partial_outage",
            worst_impact="partial_outage", phase="identified", automatic=True,
            opened_at=now - 7200, updated_at=now - 1800)
        open_.services.append(IncidentService(service_id="mail"))
        open_.updates += [
            IncidentUpdate(at=now - 7200, kind="opened", phase="investigating",
                           impact="partial_outage",
                           message_fr="Nous constatons des erreurs de connexion IMAP.",
                           message_en="We see IMAP connection errors."),
            IncidentUpdate(at=now - 1800, kind="update", phase="identified", automatic=False,
                           message_fr="Le disque du serveur **imap2** est plein ; nous le "
                                      "remplaçons.",
                           message_en="The disk of server **imap2** is full; we are "
                                      "replacing it."),
            IncidentUpdate(at=now - 1700, kind="update", phase="identified", public=False,
                           message_fr="NOTE INTERNE : mot de passe root changé",
                           message_en="INTERNAL NOTE"),
        ]
        open_.links += [
            IncidentLink(plugin="docs_bridge", kind="guide", title="Configurer Thunderbird",
                         url="https://guides.example.coop/thunderbird", created_at=now - 7000),
            IncidentLink(plugin="docs_bridge", kind="forum", title="Sujet sur le forum",
                         url="https://forum.example.coop/t/imap/42", created_at=now - 7000,
                         external_id="42"),
            IncidentLink(plugin="tickets_bridge", kind="ticket", title="Ticket #991",
                         url="https://desk.example.coop/ticket/991", public=False,
                         created_at=now - 7000, external_id="991"),
        ]
        resolved = Incident(
            reference="INC-2026-0005", title_fr="Sites web lents", title_en="Slow web sites",
            impact="degraded", worst_impact="major_outage", phase="resolved", automatic=True,
            opened_at=now - 5 * 86400, updated_at=now - 5 * 86400 + 5400,
            resolved_at=now - 5 * 86400 + 5400, postmortem_at=now - 4 * 86400,
            postmortem_fr="## Ce qui s'est passé\n\nUne mise à jour <script>alert('pm')</script>"
                          "a saturé le serveur.",
            postmortem_en="## What happened\n\nAn update overloaded the server.")
        resolved.services.append(IncidentService(service_id="web"))
        resolved.updates += [
            IncidentUpdate(at=now - 5 * 86400, kind="opened", phase="investigating",
                           message_fr="Les sites répondent lentement.",
                           message_en="Sites answer slowly."),
            IncidentUpdate(at=now - 5 * 86400 + 5400, kind="resolved", phase="resolved",
                           message_fr="Tout est rentré dans l'ordre.",
                           message_en="Everything is back to normal."),
        ]
        session.add_all([open_, resolved])
        session.add_all([
            MaintenanceWindow(title_fr="Mise à jour de Nextcloud", title_en="Nextcloud upgrade",
                              message_fr="Nextcloud sera indisponible une heure.",
                              message_en="Nextcloud will be unavailable for an hour.",
                              service_ids=["nextcloud"], starts_at=now + 2 * 86400,
                              ends_at=now + 2 * 86400 + 3600, timezone="Europe/Paris",
                              created_at=now - 86400, updated_at=now - 86400),
            MaintenanceWindow(title_fr="Changement de routeur", title_en="Router replacement",
                              all_services=True, starts_at=now - 10 * 86400,
                              ends_at=now - 10 * 86400 + 1800, timezone="Europe/Paris",
                              created_at=now - 20 * 86400, updated_at=now - 20 * 86400),
        ])
        notice = Notice(level="warning", title_fr="Hameçonnage en cours",
                        title_en="Phishing going on",
                        text_fr="Ne répondez pas aux courriels demandant votre mot de passe. "
                                "<script>alert('xss')</script> [aide](https://guides.example.coop/)",
                        text_en="Do not answer mails asking for your password. "
                                "<script>alert('xss')</script>",
                        created_at=now - 3600, updated_at=now - 3600)
        expired = Notice(level="info", title_fr="Ancienne information", text_fr="Périmée",
                         ends_at=now - 60, created_at=now - 86400, updated_at=now - 86400)
        session.add_all([notice, expired])
        session.flush()
        ids = (open_.id, resolved.id, notice.id)
    return ids


def seed_all(store: Store, config: Config, now: float = NOW, *, result_hours: float = 48,
             with_incidents: bool = True) -> tuple[int, int, int] | None:
    """Catalog, states, rollups, results and (optionally) incidents."""
    store.sync_catalog(config)
    seed_states(store, config, {s[0]: s[4] for s in SERVICES}, now)
    seed_rollups(store, config, now)
    if result_hours:
        seed_results(store, config, now, result_hours)
    return seed_incidents(store, now) if with_incidents else None


def day_of(now: float = NOW) -> date:
    """The local day of ``now``."""
    return datetime.fromtimestamp(now, ZONE).date()
