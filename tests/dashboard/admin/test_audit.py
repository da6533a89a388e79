"""The audit log: each kind of change leaves exactly one entry with the right before and
after (and no secret), in the change's own transaction; refused or failed actions leave
neither a change nor an entry; administrators read it in /admin/ (filtered, paginated,
escaped) and export it (CSV, JSON Lines, ``vigie audit export``); nothing edits or
deletes an entry, and the database refuses it on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy import func, select

from dashboard.admin import accounts, sessions, tokens
from monitor.access import Actor
from monitor.incidents.context import IncidentContext
from monitor.incidents.inputs import InvalidInput
from monitor.incidents.models import MaintenanceWindow, Notice, OutboxEntry
from monitor.incidents.service import Operations
from monitor.plugins import build_plugin_manager
from monitor.store import Store
from monitor.store.audit import AuditEntry
from monitor.subscriptions import service as subscription_service
from monitor.subscriptions.models import Subscriber
from monitor.subscriptions.service import forget_subscriber
from tests.dashboard.admin.conftest import PASSWORD, QUICK
from tests.dashboard.admin.test_roles import signed_in

ANA = Actor.user("ana", "admin", "web", address="192.0.2.10")


@pytest.fixture
def ops(admin_config):
    return Operations(IncidentContext.build(admin_config,
                                            build_plugin_manager(load_entry_points=False)))


@pytest.fixture
def world(store, admin_seeded):
    """Volunteers, a window, a dead delivery; the seeded ids."""
    now = time.time()
    with store.session() as session, session.begin():
        accounts.create_user(session, "ana", PASSWORD, "admin", passwords=QUICK)
        accounts.create_user(session, "eli", PASSWORD, "editor", passwords=QUICK)
        accounts.create_user(session, "dan", PASSWORD, "desk", passwords=QUICK)
        sessions.open_session(session, accounts.get_user(session, "eli").id, now, "192.0.2.2")
        token = tokens.create_token(session, "eli", "script")
        running = MaintenanceWindow(title_fr="Migration", message_fr="", created_at=now,
                                    updated_at=now, service_ids=[], all_services=True,
                                    timezone="Europe/Paris", starts_at=now - 60,
                                    ends_at=now + 3600)
        dead = OutboxEntry(idempotency_key="k-dead", hook="vigie_incident_opened",
                           plugin="recorder", stream="s", payload="{}", status="dead",
                           attempts=8, created_at=now, next_attempt_at=now,
                           last_error="refused")
        subscriber = Subscriber(email="Alice@Example.org", email_key="alice@example.org",
                                language="fr", everything=True, services=[], groups=[],
                                state="confirmed", manage_token="m" * 43, requests=1,
                                created_at=now, confirmed_at=now, updated_at=now, failures=0)
        session.add_all([running, dead, subscriber])
        session.flush()
        ids = {"window": running.id, "delivery": dead.id, "token": token.token.id,
               "subscriber": subscriber.id}
    open_incident, resolved, notice = admin_seeded[2]
    ids.update(incident=open_incident, resolved=resolved, notice=notice)
    return ids


def entries(store) -> list[AuditEntry]:
    with store.session() as session:
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


#: each operation, how to run it, and what its entry must show (before, after)
CASES = {
    "incident.open": (
        lambda o, s, i: o.open_incident(s, services=["web"], title_fr="Lenteurs",
                                        message_fr="On regarde.", actor=ANA),
        lambda b, a: b is None and a["title_fr"] == "Lenteurs" and a["services"] == ["web"]
        and a["last_update"]["author"] == "ana"),
    "incident.update": (
        lambda o, s, i: o.post_update(s, i["incident"], phase="identified",
                                      message_fr="Disque plein.", actor=ANA),
        lambda b, a: a["phase"] == "identified" and a["updates"] == b["updates"] + 1
        and a["last_update"]["message_fr"] == "Disque plein."),
    "incident.impact": (
        lambda o, s, i: o.change_impact(s, i["incident"], "degraded", actor=ANA),
        lambda b, a: b["impact"] != "degraded" and a["impact"] == "degraded"),
    "incident.resolve": (
        lambda o, s, i: o.resolve_incident(s, i["incident"], actor=ANA),
        lambda b, a: b["resolved_at"] is None and a["resolved_at"] is not None),
    "incident.postmortem": (
        lambda o, s, i: o.set_postmortem(s, i["resolved"], text_fr="Cause : un disque.",
                                         actor=ANA),
        lambda b, a: b["postmortem_fr"] != a["postmortem_fr"] and a["postmortem_fr"] == "Cause : un disque."),
    "maintenance.add": (
        lambda o, s, i: o.create_maintenance(s, title_fr="Travaux", all_services=True,
                                             start="2031-01-01 10:00", duration="1h",
                                             actor=ANA),
        lambda b, a: b is None and a["title_fr"] == "Travaux" and a["created_by"] == "ana"),
    "maintenance.edit": (
        lambda o, s, i: o.edit_maintenance(s, i["window"], title_fr="Migration v2", actor=ANA),
        lambda b, a: b["title_fr"] == "Migration" and a["title_fr"] == "Migration v2"),
    "maintenance.cancel": (
        lambda o, s, i: o.cancel_maintenance(s, i["window"], actor=ANA),
        lambda b, a: b["cancelled_at"] is None and a["cancelled_at"] is not None),
    "maintenance.end": (
        lambda o, s, i: o.end_maintenance_now(s, i["window"], actor=ANA),
        lambda b, a: a["ends_at"] < b["ends_at"]),
    "notice.add": (
        lambda o, s, i: o.post_notice(s, title_fr="Coupure", level="warning", actor=ANA),
        lambda b, a: b is None and a["title_fr"] == "Coupure" and a["level"] == "warning"),
    "notice.edit": (
        lambda o, s, i: o.edit_notice(s, i["notice"], title_fr="Nouveau titre", actor=ANA),
        lambda b, a: b["title_fr"] != "Nouveau titre" and a["title_fr"] == "Nouveau titre"),
    "notice.end": (
        lambda o, s, i: o.end_notice(s, i["notice"], actor=ANA),
        lambda b, a: a["ends_at"] is not None and a["ends_at"] != b["ends_at"]),
    "delivery.retry": (
        lambda o, s, i: o.retry_outbox(s, i["delivery"], actor=ANA),
        lambda b, a: b["status"] == "dead" and a["status"] == "pending"
        and a["attempts"] == 0),
    "user.add": (
        lambda o, s, i: accounts.create_user(s, "zoe", PASSWORD, "desk", actor=ANA, passwords=QUICK),
        lambda b, a: b is None and a["username"] == "zoe" and a["role"] == "desk"),
    "user.password": (
        lambda o, s, i: accounts.set_password(s, "eli", "another pass phrase", actor=ANA, passwords=QUICK),
        lambda b, a: a["password_changed_at"] > b["password_changed_at"]
        and b["open_sessions"] == 1 and a["open_sessions"] == 0),
    "user.role": (
        lambda o, s, i: accounts.set_role(s, "eli", "desk", actor=ANA),
        lambda b, a: b["role"] == "editor" and a["role"] == "desk"),
    "user.signout": (
        lambda o, s, i: accounts.sign_out(s, "eli", actor=ANA),
        lambda b, a: b["open_sessions"] == 1 and a["open_sessions"] == 0),
    "session.signout": (
        lambda o, s, i: accounts.sign_out_everywhere(s, actor=Actor.user("eli", "editor",
                                                                          "web")),
        lambda b, a: b["username"] == "eli" and a["open_sessions"] == 0),
    "user.remove": (
        lambda o, s, i: accounts.remove_user(s, "dan", actor=ANA),
        lambda b, a: b["username"] == "dan" and a is None),
    "token.add": (
        lambda o, s, i: tokens.create_token(s, "ana", "sauvegarde", "desk", actor=ANA),
        lambda b, a: b is None and a["name"] == "sauvegarde" and a["role"] == "desk"
        and a["user"] == "ana"),
    "token.revoke": (
        lambda o, s, i: tokens.revoke_token(s, i["token"], actor=ANA),
        lambda b, a: b["revoked_at"] is None and a["revoked_at"] is not None),
    # the address is never in the log: it must be forgettable, and the log is append-only
    "subscriber.forget": (
        lambda o, s, i: forget_subscriber(s, i["subscriber"], actor=ANA),
        lambda b, a: b["state"] == "confirmed" and b["everything"] is True and a is None
        and "example.org" not in json.dumps(b).lower() and "m" * 43 not in json.dumps(b)),
}


def declared_operations() -> set[str]:
    candidates = [getattr(Operations, name) for name in dir(Operations)]
    candidates += [*vars(accounts).values(), *vars(tokens).values(),
                   *vars(subscription_service).values()]
    return {value.action for value in candidates
            if callable(value) and isinstance(getattr(value, "action", None), str)}


def test_every_operation_has_its_case_here():
    """A new operation must show here what its audit entry holds."""
    assert declared_operations() == set(CASES)


@pytest.mark.parametrize("action", sorted(CASES))
def test_each_change_leaves_one_entry_with_before_and_after(store, world, ops, action):
    run, check = CASES[action]
    before = len(entries(store))
    with store.session() as session, session.begin():
        run(ops, session, world)
    new = entries(store)[before:]
    assert [e.action for e in new] == [action]
    entry = new[0]
    assert check(entry.before, entry.after), (entry.before, entry.after)
    assert entry.target_type == action.split(".")[0].replace("session", "user")
    assert entry.target_id is not None
    assert abs(entry.at - time.time()) < 3600  # a real time, not a placeholder
    if action != "session.signout":
        assert (entry.actor, entry.role, entry.via, entry.address) == (
            "ana", "admin", "web", "192.0.2.10")


def test_no_secret_is_ever_written_in_the_log(store, world, ops):
    with store.session() as session, session.begin():
        accounts.create_user(session, "zoe", PASSWORD, actor=ANA, passwords=QUICK)
        accounts.set_password(session, "zoe", "another pass phrase", actor=ANA, passwords=QUICK)
        new = tokens.create_token(session, "zoe", "script", actor=ANA)
        tokens.revoke_token(session, new.token.id, actor=ANA)
        stored = [tokens.list_tokens(session, "zoe", True)[0].token_hash,
                  accounts.get_user(session, "zoe").password_hash]
    dump = json.dumps([[e.before, e.after] for e in entries(store)])
    for secret in (PASSWORD, "another pass phrase", new.secret, new.secret[:12], *stored):
        assert secret not in dump
    assert "$argon2" not in dump and "password_hash" not in dump and "token_hash" not in dump


def test_a_refused_action_leaves_no_change_and_no_entry(admin_app, store, world):
    before = len(entries(store))
    editor, csrf = signed_in(admin_app, store, "eli")
    assert editor.post("/admin/users/dan/role", data={"csrf_token": csrf,
                                                      "role": "admin"}).status_code == 403
    with store.session() as session, session.begin():
        secret = tokens.create_token(session, "dan", "desk").secret
    count_after_setup = len(entries(store))
    response = admin_app.test_client().post(
        "/admin/api/v1/notices", json={"title_fr": "Coupure"},
        headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 403
    assert len(entries(store)) == count_after_setup == before + 1  # the token, by system
    with store.session() as session:
        assert accounts.get_user(session, "dan").role == "desk"
        assert session.scalar(select(func.count()).select_from(Notice)
                              .where(Notice.title_fr == "Coupure")) == 0


def test_a_refused_input_leaves_no_entry(store, world, ops):
    before = len(entries(store))
    with pytest.raises(InvalidInput), store.session() as session, session.begin():
        ops.post_notice(session, title_fr="  ", actor=ANA)
    assert len(entries(store)) == before


def test_the_entry_and_the_change_are_one_transaction(store, world, ops):
    """The log cannot be written (its table is gone): the change is not written either."""
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE audit_log")
    with pytest.raises(sa.exc.OperationalError), store.session() as session, \
            session.begin():
        ops.post_notice(session, title_fr="Sans trace", actor=ANA)
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Notice)
                              .where(Notice.title_fr == "Sans trace")) == 0


def test_the_web_records_who_and_from_where(admin_app, store, world):
    editor, csrf = signed_in(admin_app, store, "eli")
    response = editor.post("/admin/notices", data={"csrf_token": csrf, "title_fr": "Info",
                                                   "level": "info"},
                           environ_base={"REMOTE_ADDR": "198.51.100.20"})
    assert response.status_code == 303
    entry = entries(store)[-1]
    assert (entry.action, entry.actor, entry.role, entry.via, entry.address) == (
        "notice.add", "eli", "editor", "web", "198.51.100.20")


def test_a_token_is_recorded_with_its_id(admin_app, store, world):
    with store.session() as session, session.begin():
        new = tokens.create_token(session, "eli", "script")
    response = admin_app.test_client().post(
        "/admin/api/v1/notices", json={"title_fr": "Par script"},
        headers={"Authorization": f"Bearer {new.secret}"})
    assert response.status_code == 201
    entry = entries(store)[-1]
    assert (entry.actor, entry.via, entry.token_id) == ("eli", "api", new.token.id)


def test_administrators_read_the_log_filtered_paginated_and_escaped(admin_app, store, world,
                                                                    ops):
    with store.session() as session, session.begin():
        for n in range(55):
            ops.post_notice(session, title_fr=f"Avis {n}", actor=ANA)
        ops.post_notice(session, title_fr="<script>alert(1)</script>",
                        actor=Actor.user("eli", "editor", "web"))
    admin, _ = signed_in(admin_app, store, "ana")
    page = admin.get("/admin/audit").get_data(as_text=True)
    assert page.count('class="audit-row"') == 50
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    older = admin.get("/admin/audit?before=" + page.split("before=")[1].split("&")[0])
    assert older.get_data(as_text=True).count('class="audit-row"') > 0
    only_eli = admin.get("/admin/audit?who=eli&what=notice").get_data(as_text=True)
    assert only_eli.count('class="audit-row"') == 1
    today = time.strftime("%Y-%m-%d")
    assert admin.get(f"/admin/audit?from={today}&to={today}").get_data(
        as_text=True).count('class="audit-row"') == 50
    assert admin.get("/admin/audit?from=2001-01-01&to=2001-01-02").get_data(
        as_text=True).count('class="audit-row"') == 0
    bad = admin.get("/admin/audit?from=yesterday")
    assert bad.status_code == 422 and "Date invalide" in bad.get_data(as_text=True)


def test_administrators_export_csv_and_json_lines(admin_app, store, world, ops):
    with store.session() as session, session.begin():
        ops.post_notice(session, title_fr="=HYPERLINK(\"https://evil.example\")", actor=ANA)
        accounts.set_role(session, "eli", "desk", actor=ANA)
    admin, _ = signed_in(admin_app, store, "ana")
    response = admin.get("/admin/audit/export?format=jsonl&what=user.role")
    assert response.status_code == 200 and response.is_streamed
    assert response.headers["Content-Disposition"].startswith(
        'attachment; filename="vigie-audit-')
    lines = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert [line["action"] for line in lines] == ["user.role"]
    assert lines[0]["before"]["role"] == "editor" and lines[0]["after"]["role"] == "desk"
    response = admin.get("/admin/audit/export?format=csv&what=notice.add")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 1 and rows[0]["action"] == "notice.add"
    # a spreadsheet would run the title as a formula: it is quoted
    assert json.loads(rows[0]["after"])["title_fr"].startswith("=HYPERLINK")
    assert not rows[0]["after"].startswith("=")
    hostile = next(r for r in csv.reader(io.StringIO(response.get_data(as_text=True)))
                   if r and r[0] != "id")
    assert all(not cell.startswith(("=", "+", "-", "@")) for cell in hostile)


def test_editors_and_desk_can_neither_read_nor_export(admin_app, store, world):
    for name in ("eli", "dan"):
        client, _ = signed_in(admin_app, store, name)
        assert client.get("/admin/audit").status_code == 403
        assert client.get("/admin/audit/export?format=csv").status_code == 403
        assert 'href="/admin/audit"' not in client.get("/admin/").get_data(as_text=True)


def test_no_route_changes_an_entry(admin_app):
    methods = {method for rule in admin_app.url_map.iter_rules()
               if rule.rule.startswith("/admin/audit") for method in rule.methods}
    assert methods <= {"GET", "HEAD", "OPTIONS"}


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'vigie.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_schema_url")
    store = Store(url)
    store.upgrade()
    yield store
    store.dispose()


def test_the_database_refuses_to_change_or_delete_an_entry(migrated):
    with migrated.session() as session, session.begin():
        accounts.create_user(session, "ana", PASSWORD, actor=ANA, passwords=QUICK)
    statements = ["UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"]
    if migrated.engine.dialect.name == "postgresql":
        statements.append("TRUNCATE audit_log")
    for statement in statements:
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), \
                migrated.engine.begin() as conn:
            conn.exec_driver_sql(statement)
    with migrated.session() as session:
        assert [e.actor for e in session.scalars(select(AuditEntry))] == ["ana"]


def test_vigie_audit_export_and_the_operators_entries(tmp_path):
    from monitor.cli import command_line
    from monitor.plugins import build_plugin_manager

    cli = command_line(build_plugin_manager())  # vigie, with the plugins' user commands
    config = tmp_path / "vigie.yaml"
    config.write_text("data_dir: data\nservices: []\n")
    runner = CliRunner()

    def vigie(*args, input=None):
        result = runner.invoke(cli, ["-c", str(config), *args], input=input)
        assert result.exit_code == 0, result.output
        return result.stdout

    vigie("db", "upgrade")
    vigie("user", "add", "ana", "--password-stdin", input=PASSWORD + "\n")
    vigie("notice", "add", "Coupure", "--as", "ana")
    lines = [json.loads(line) for line in vigie("audit", "export").splitlines()]
    assert [line["action"] for line in lines] == ["notice.add", "user.add"]  # newest first
    notice, user = lines
    assert (notice["actor"], notice["role"], notice["via"]) == ("ana", "admin", "cli")
    assert user["role"] == "operator" and user["via"] == "cli" and "@" in user["address"]
    table = list(csv.DictReader(io.StringIO(vigie("audit", "export", "--format", "csv",
                                                  "--who", "ana"))))
    assert [row["action"] for row in table] == ["notice.add"]
    out = tmp_path / "audit.jsonl"
    vigie("audit", "export", "--what", "user", "-o", str(out))
    assert [json.loads(line)["action"] for line in out.read_text().splitlines()] == [
        "user.add"]
