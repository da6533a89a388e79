"""The core's read API (monitor.reads, monitor.accounts.store) hands the dashboard plain
frozen records, never ORM rows: usable after the connection is closed, and not a way to
write to the store by setting an attribute."""

from __future__ import annotations

import dataclasses
from zoneinfo import ZoneInfo

import pytest

from monitor.accounts import store as account_store
from monitor.incidents import queries
from monitor.reads import page, status
from monitor.reads.page import session_on
from tests.dashboard import seed


def plain_records(values) -> list:
    """The values that are not frozen dataclasses (or that are ORM-mapped)."""
    return [v for v in values if not dataclasses.is_dataclass(v)
            or not type(v).__dataclass_params__.frozen or hasattr(v, "_sa_instance_state")]


def test_status_reads_are_frozen_records(seeded):
    config, store, _ = seeded
    with store.engine.connect() as conn:
        services = status.service_states(conn)
        checks = status.check_states(conn)
        active = status.active_services(conn)
        days = [seed.day_of()]
        tallies = status.service_days(conn, days, ZoneInfo("Europe/Paris"), seed.NOW, live=1)
    assert services and checks and active and tallies
    assert plain_records([*services.values(), *checks.values(), *active]) == []
    # kept after the connection closed, and read only
    some = next(iter(checks.values()))
    assert some.key in {c.key for c in config.checks}
    with pytest.raises(dataclasses.FrozenInstanceError):
        some.status = None  # type: ignore[misc]  # the test: a record refuses writes


def test_page_reads_share_the_snapshot_connection(seeded):
    _, store, _ = seeded
    with store.engine.connect() as conn:
        version, last_result = page.page_version(conn, since_day=seed.day_of(),
                                                 with_incidents=True)
        with session_on(conn) as session:
            open_ = queries.open_incidents(session)
        assert page.page_version(conn, since_day=seed.day_of(),
                                 with_incidents=True) == (version, last_result)
    assert page.incident_tables_present(store.engine)
    assert last_result is not None and open_
    assert plain_records(open_) == []


def test_account_store_returns_records(seeded):
    _, store, _ = seeded
    store.upgrade()
    with store.write_session() as db, db.begin():
        user = account_store.add_user(db, username="camille", password_hash="$argon2id$x",
                                      role="editor", at=seed.NOW)
        account_store.add_session(db, token_hash="h" * 64, user_id=user.id, at=seed.NOW,
                                  address="192.0.2.1")
        token = account_store.add_token(db, user_id=user.id, name="script",
                                        token_hash="t" * 64, prefix="vigie_abc", role=None,
                                        at=seed.NOW)
    with store.session() as db:
        found = account_store.session_by_digest(db, "h" * 64)
        listed = account_store.list_tokens(db, username="camille")
        counts = account_store.open_session_counts(db, seen_after=0, created_after=0)
    assert plain_records([user, token, found, *listed]) == []
    assert found.user == user and listed[0].user.username == "camille"
    assert counts == {user.id: 1}
