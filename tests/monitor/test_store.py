"""The store on a real SQLite file and on the machine's PostgreSQL (one schema per test):
migrations, catalog sync, batched writes, status changes, restore, prune."""

from __future__ import annotations

import io
import math
import sqlite3
from datetime import date

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select

from monitor.config_loader import load_config
from monitor.plugins import ProbeKind, ProbeRegistry
from monitor.probe import Probe, ProbeResult, Status, reason
from monitor.state import ServiceStatus
from monitor.store import (
    CheckChange,
    ResultRecord,
    SchemaOutOfDate,
    ServiceChange,
    Store,
    UnsupportedDatabase,
    upgrade,
)
from monitor.store.engine import normalize_url
from monitor.store.migrate import (
    alembic_config,
    downgrade_engine,
    head_revision,
    upgrade_engine,
)
from monitor.store.models import (
    Base,
    CheckRow,
    CheckStatusChange,
    DailyCheckRollup,
    ResultRow,
    ServiceRow,
)

T0 = 1_700_000_000.0

CATALOG = """
groups:
  - id: hosting
    name: Hébergement
services:
  - id: web
    name: {fr: Hébergement web, en: Web hosting}
    group: hosting
    checks:
      - {id: http, kind: noop, name: {fr: Page d'accueil, en: Home page}}
      - {id: db, kind: noop}
  - id: mail
    name: Messagerie
    checks:
      - {id: smtp, kind: noop, interval: 1m}
"""


class NoopProbe(Probe):
    """A probe kind for building configurations; never run here."""

    kind = "noop"

    async def check(self, config, ctx):
        return ProbeResult.up()


def load(tmp_path, text: str = CATALOG):
    """A real Config loaded from YAML, with the ``noop`` kind registered."""
    registry = ProbeRegistry({"noop": ProbeKind("noop", NoopProbe, NoopProbe(), "test")})
    path = tmp_path / "vigie.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, registry)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    """A SQLite file in tmp_path, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'vigie.sqlite'}"
    return request.getfixturevalue("postgres_schema_url")


@pytest.fixture
def store(store_url, tmp_path):
    """A migrated store with the CATALOG services and checks."""
    store = Store(store_url)
    store.upgrade()
    store.sync_catalog(load(tmp_path))
    yield store
    store.dispose()


def count(store: Store, model) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(model))


# Migrations -----------------------------------------------------------------------------


def _diff(store: Store, metadata: sa.MetaData) -> list:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, metadata)


def test_migrations_build_the_schema_the_models_describe(store_url):
    store = Store(store_url)
    try:
        assert store.revision() is None
        with pytest.raises(SchemaOutOfDate, match="vigie db upgrade"):
            store.check_schema()
        store.upgrade()
        assert store.revision() == head_revision()
        store.check_schema()
        assert _diff(store, Base.metadata) == []
        # the comparison does see a difference when there is one
        altered = sa.MetaData()
        for table in Base.metadata.sorted_tables:
            table.to_metadata(altered)
        altered.tables["results"].append_column(sa.Column("extra", sa.Integer))
        assert [d[0] for d in _diff(store, altered)] == ["add_column"]

        store.upgrade()  # already at head: nothing to do, nothing broken
        downgrade_engine(store.engine, "base")
        assert set(sa.inspect(store.engine).get_table_names()) <= {"alembic_version"}
        store.upgrade()
        assert {"results", "checks", "services", "daily_service_rollups"} <= set(
            sa.inspect(store.engine).get_table_names())
    finally:
        store.dispose()


def test_upgrade_hides_the_reasons_written_earlier_that_may_quote_outside_text(store_url,
                                                                             tmp_path):
    store = Store(store_url)
    try:
        upgrade_engine(store.engine, "0003_accounts")
        store.sync_catalog(load(tmp_path))
        with store.engine.begin() as conn:
            check_id = conn.scalar(sa.text("SELECT id FROM checks WHERE key = 'web/http'"))
            for at, code in ((T0, "nagios.critical"), (T0 + 1, "heartbeat.failed"),
                             (T0 + 2, "postgresql.query"), (T0 + 3, "http.status")):
                conn.execute(sa.text(
                    "INSERT INTO check_status_changes (check_id, at, previous, current, "
                    "reason_code, reason_fr, reason_en) VALUES (:c, :at, 0, 2, :code, 'x', 'x')"),
                    {"c": check_id, "at": at, "code": code})
        store.upgrade()
        with store.session() as session:
            flags = dict(session.execute(select(CheckStatusChange.reason_code,
                                                CheckStatusChange.reason_public)).all())
    finally:
        store.dispose()
    assert flags == {"nagios.critical": False, "heartbeat.failed": False,
                     "postgresql.query": False, "http.status": True}


def test_upgrade_hides_the_reasons_of_the_codes_found_later_to_quote_targets(store_url,
                                                                            tmp_path):
    # issue 12, point 10: these reasons quote what a target sent, and were public
    codes = ("tcp.unexpected", "nextcloud.old_version", "nextcloud.not_nextcloud",
             "dns.unexpected", "sympa.smtp.mail.greeting", "sympa.web.not_html", "http.status")
    store = Store(store_url)
    try:
        upgrade_engine(store.engine, "0004_reason_public")
        store.sync_catalog(load(tmp_path))
        with store.engine.begin() as conn:
            check_id = conn.scalar(sa.text("SELECT id FROM checks WHERE key = 'web/http'"))
            for at, code in enumerate(codes):
                conn.execute(sa.text(
                    "INSERT INTO results (check_id, started_at, status, duration, reason_code, "
                    "reason_fr, reason_en, reason_public) "
                    "VALUES (:c, :at, 2, 0.1, :code, 'x', 'x', :public)"),
                    {"c": check_id, "at": T0 + at, "code": code, "public": True})
        store.upgrade()
        with store.session() as session:
            flags = dict(session.execute(select(ResultRow.reason_code,
                                                ResultRow.reason_public)).all())
    finally:
        store.dispose()
    assert flags == {"tcp.unexpected": False, "nextcloud.old_version": False,
                     "nextcloud.not_nextcloud": False, "dns.unexpected": False,
                     "sympa.smtp.mail.greeting": False, "sympa.web.not_html": False,
                     "http.status": True}


def test_migrations_render_offline_sql_for_a_dba():
    # `alembic upgrade --sql`: no connection, the SQL is written out for review
    cfg = alembic_config("postgresql://vigie@127.0.0.1:1/vigie")
    cfg.output_buffer = io.StringIO()
    command.upgrade(cfg, "head", sql=True)
    sql = cfg.output_buffer.getvalue()
    assert "CREATE TABLE results" in sql and "id BIGSERIAL NOT NULL" in sql
    assert "CONSTRAINT uq_results_check_id_started_at UNIQUE (check_id, started_at)" in sql
    assert "INSERT INTO alembic_version (version_num) VALUES ('0001')" in sql


def test_upgrade_creates_the_sqlite_file_and_folder_with_wal(tmp_path):
    path = tmp_path / "new" / "folder" / "vigie.sqlite"
    upgrade(f"sqlite:///{path}")
    assert path.exists()
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        version = raw.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        assert version == head_revision()
    finally:
        raw.close()
    store = Store(f"sqlite:///{path}")
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    finally:
        store.dispose()


def test_foreign_keys_are_enforced(store):
    row = {"check_id": 999_999, "started_at": T0, "status": 0, "duration": 0.1}
    with pytest.raises(sa.exc.IntegrityError):
        with store.engine.begin() as conn:
            conn.execute(sa.insert(ResultRow.__table__), row)


def test_urls_are_normalized_and_other_databases_refused():
    assert normalize_url("postgresql://u:p@db/vigie").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@db/vigie").drivername == "postgresql+psycopg"
    assert normalize_url("sqlite:///x.sqlite").drivername == "sqlite"
    with pytest.raises(UnsupportedDatabase, match="SQLite or PostgreSQL"):
        Store("mysql+aiomysql://root@127.0.0.1/test")
    assert "secret" not in Store("postgresql://vigie:secret@127.0.0.1:1/x").safe_url


def test_safe_url_hides_a_password_given_as_a_query_parameter():
    # what the "database unreachable" alert and `vigie db upgrade` print
    store = Store("postgresql://vigie:InUserInfo@127.0.0.1:1/x?password=InQuery&sslmode=require"
                  "&sslpassword=KeyPhrase")
    try:
        shown = store.safe_url
    finally:
        store.dispose()
    assert shown == ("postgresql+psycopg://vigie:***@127.0.0.1:1/x?password=***"
                     "&sslmode=require&sslpassword=***")


# Catalog --------------------------------------------------------------------------------


def test_sync_catalog_adds_renames_and_deactivates(store_url, tmp_path):
    store = Store(store_url)
    store.upgrade()
    try:
        first = store.sync_catalog(load(tmp_path))
        assert (first.added, first.updated, first.deactivated) == (5, 0, 0)
        with store.session() as session:
            web = session.get(ServiceRow, "web")
            assert (web.name_fr, web.name_en, web.group_id, web.position) == (
                "Hébergement web", "Web hosting", "hosting", 0)
            checks = {c.key: c for c in session.scalars(select(CheckRow))}
        assert set(checks) == {"web/http", "web/db", "mail/smtp"}
        assert (checks["web/http"].name_fr, checks["web/http"].name_en) == (
            "Page d'accueil", "Home page")
        assert checks["web/db"].name_fr == "db"  # no name: the id
        assert checks["mail/smtp"].run_interval == 60.0
        ids = {k: c.id for k, c in checks.items()}

        again = store.sync_catalog(load(tmp_path))
        assert (again.added, again.updated, again.deactivated) == (0, 0, 0)

        renamed = CATALOG.replace("Page d'accueil", "Accueil").replace(
            "      - {id: db, kind: noop}\n", "").replace(
            "  - id: mail\n    name: Messagerie\n    checks:\n"
            "      - {id: smtp, kind: noop, interval: 1m}\n", "")
        renamed += ("  - id: lists\n    name: Listes\n    checks:\n"
                    "      - {id: sympa, kind: noop, enabled: false}\n")
        changes = store.sync_catalog(load(tmp_path, renamed))
        # added: lists + lists/sympa; updated: web/http; deactivated: mail, mail/smtp, web/db
        assert (changes.added, changes.updated, changes.deactivated) == (2, 1, 3)
        with store.session() as session:
            rows = {c.key: c for c in session.scalars(select(CheckRow))}
            services = {s.id: s.active for s in session.scalars(select(ServiceRow))}
        assert rows["web/http"].name_fr == "Accueil"
        assert rows["web/http"].id == ids["web/http"]  # same row: history stays attached
        assert {k: r.active for k, r in rows.items()} == {
            "web/http": True, "web/db": False, "mail/smtp": False, "lists/sympa": False}
        assert services == {"web": True, "mail": False, "lists": True}

        # a check that comes back is reactivated in place
        store.sync_catalog(load(tmp_path))
        with store.session() as session:
            smtp = session.scalar(select(CheckRow).where(CheckRow.key == "mail/smtp"))
        assert smtp.active and smtp.id == ids["mail/smtp"]
    finally:
        store.dispose()


# Writing results ------------------------------------------------------------------------


def records(key: str, start: int, stop: int, status: Status = Status.UP) -> list[ResultRecord]:
    return [ResultRecord(key, T0 + i, status, 0.01 * i) for i in range(start, stop)]


def test_batches_are_written_once_whatever_is_replayed(store):
    assert store.write_results(records("web/http", 0, 10)) == 10
    # overlap with the first batch, and a duplicate inside the batch itself
    batch = records("web/http", 5, 15) + records("web/http", 14, 15)
    assert store.write_results(batch) == 5
    assert store.write_results(records("web/http", 0, 15)) == 0
    assert store.write_results(records("mail/smtp", 0, 3)) == 3  # same times, other check
    with store.session() as session:
        keys = session.execute(select(ResultRow.check_id, ResultRow.started_at)).all()
    assert len(keys) == len(set(keys)) == 18


def test_large_batches_span_several_statements(store):
    assert store.write_results(records("web/db", 0, 2500)) == 2500
    assert store.write_results(records("web/db", 2000, 3000)) == 500
    assert count(store, ResultRow) == 3000


def test_rows_keep_reasons_and_samples_and_stay_small_when_up(store):
    long_text = "x" * 2000
    rows = [
        ResultRecord("web/http", T0, Status.UP, 0.123),
        ResultRecord.from_result("web/http", ProbeResult.down(
            reason("http.status", "Le serveur a répondu {got}", "The server answered {got}",
                   got=503),
            samples={"tls_cert_expiry_timestamp_seconds": 1.8e9, "bad": math.nan,
                     "perf": {"load": 0.5, "inf": math.inf}},
            duration=2.5, started_at=T0 + 1)),
        ResultRecord("web/http", T0 + 2, Status.UNKNOWN, 1.0,
                     reason("plugin", long_text, long_text)),
    ]
    assert store.write_results(rows) == 3
    with store.session() as session:
        up, down, unknown = session.scalars(select(ResultRow).order_by(ResultRow.started_at))
    assert (up.status, up.duration, up.reason_code, up.reason_fr, up.samples) == (
        0, 0.123, None, None, None)
    with store.engine.connect() as conn:  # SQL NULL, not JSON null
        assert conn.scalar(select(func.count()).where(ResultRow.samples.is_(None))) == 2
    assert (down.status, down.duration, down.reason_code) == (2, 2.5, "http.status")
    assert down.reason_fr == "Le serveur a répondu 503"
    assert down.reason_en == "The server answered 503"
    assert down.samples == {"tls_cert_expiry_timestamp_seconds": 1.8e9, "perf": {"load": 0.5}}
    assert len(unknown.reason_fr) == 500 and unknown.reason_fr.endswith("…")
    assert (up.reason_public, down.reason_public, unknown.reason_public) == (True, True, True)


def test_a_reason_quoting_outside_text_is_stored_with_its_flag(store):
    leak = reason("nagios.critical", "Sonde : {line}", "Plugin: {line}",
                  line="CRITICAL - db01.interne", public=False)
    assert store.write_results([ResultRecord("web/http", T0, Status.DOWN, 0.1, leak)]) == 1
    assert store.record_check_change("web/http", T0, None, Status.DOWN, leak)
    with store.session() as session:
        row = session.scalars(select(ResultRow)).one()
        change = session.scalars(select(CheckStatusChange)).one()
    # the detail is kept for volunteers, with the flag that keeps it off public places
    assert (row.reason_fr, row.reason_public) == ("Sonde : CRITICAL - db01.interne", False)
    assert (change.reason_en, change.reason_public) == ("Plugin: CRITICAL - db01.interne", False)


def test_rows_of_checks_missing_from_the_catalog_are_skipped(store, caplog):
    batch = records("web/http", 0, 2) + records("gone/check", 0, 2)
    assert store.write_results(batch) == 2
    assert store.write_results(records("gone/check", 5, 6)) == 0
    warnings = [r for r in caplog.records if "gone/check" in r.getMessage()]
    assert len(warnings) == 1  # said once, not on every batch


# Status changes and restore ---------------------------------------------------------------


def test_latest_statuses_restore_the_last_change_of_each_check(store):
    assert store.latest_check_statuses() == {}
    assert store.record_check_change("web/http", T0, None, Status.UP)
    assert store.record_check_change("web/http", T0 + 60, Status.UP, Status.DOWN,
                                     reason("timeout", "Pas de réponse", "No answer"))
    assert store.record_check_change("web/db", T0 + 10, None, Status.DEGRADED)
    assert store.record_check_change("web/http", T0 + 30, Status.UP, Status.UP) is True
    # the same transition written again (a retried batch) is stored once
    assert store.record_check_change("web/http", T0 + 60, Status.UP, Status.DOWN) is False
    assert count(store, CheckStatusChange) == 4
    assert store.latest_check_statuses() == {
        "web/http": (Status.DOWN, T0 + 60),
        "web/db": (Status.DEGRADED, T0 + 10),
    }
    with store.session() as session:
        down = session.scalar(select(CheckStatusChange).where(CheckStatusChange.at == T0 + 60))
    assert (down.previous, down.current, down.reason_code, down.reason_en) == (
        0, 2, "timeout", "No answer")


def test_service_changes_are_stored_and_restored(store):
    store.record_service_change("web", T0, None, ServiceStatus.OPERATIONAL)
    store.record_service_change("web", T0 + 5, ServiceStatus.OPERATIONAL,
                                ServiceStatus.PARTIAL_OUTAGE)
    store.record_service_change("mail", T0 + 1, None, ServiceStatus.MAINTENANCE)
    assert not store.record_service_change("web", T0 + 5, ServiceStatus.OPERATIONAL,
                                           ServiceStatus.PARTIAL_OUTAGE)
    assert not store.record_service_change("nope", T0, None, ServiceStatus.OPERATIONAL)
    assert store.latest_service_statuses() == {
        "web": (ServiceStatus.PARTIAL_OUTAGE, T0 + 5),
        "mail": (ServiceStatus.MAINTENANCE, T0 + 1),
    }


def test_a_batch_is_one_transaction(store):
    # the catalog cache believes in a service the database does not have (deleted by
    # someone else): its row fails the foreign key after the results were inserted
    store._service_ids.add("ghost")
    with pytest.raises(sa.exc.IntegrityError):
        store.write_batch(records("web/http", 0, 5), [
            CheckChange("web/http", T0, None, Status.UP),
            ServiceChange("ghost", T0, None, ServiceStatus.OPERATIONAL)])
    assert count(store, ResultRow) == 0
    assert count(store, CheckStatusChange) == 0


# Prune ----------------------------------------------------------------------------------


def test_prune_deletes_old_results_only(store):
    store.write_results(records("web/http", 0, 100) + records("web/db", 0, 100))
    store.record_check_change("web/http", T0, None, Status.UP)
    with store.engine.begin() as conn:
        conn.execute(sa.insert(DailyCheckRollup.__table__), {
            "check_id": store._check_ids["web/http"], "day": date(2023, 11, 14),
            "runs": 1, "up": 1, "degraded": 0, "down": 0, "unknown": 0, "maintenance": 0})
    # small chunks: the loop must go round several times
    assert store.prune(T0 + 40, chunk=7) == 80
    with store.session() as session:
        oldest = session.scalar(select(func.min(ResultRow.started_at)))
    assert oldest == T0 + 40
    assert count(store, ResultRow) == 120
    assert store.prune(T0 + 40) == 0
    assert count(store, CheckStatusChange) == 1
    assert count(store, DailyCheckRollup) == 1
