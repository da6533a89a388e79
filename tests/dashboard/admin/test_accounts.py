"""Users and API tokens: argon2 hashes, name and password rules, tokens stored as digests
and revoked at once; the migration builds exactly the tables the models describe, on
SQLite and on the machine's PostgreSQL."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from argon2 import PasswordHasher

from dashboard.admin import accounts, tokens
from dashboard.admin.accounts import AccountError
from dashboard.admin.passwords import Passwords
from monitor.store import Store
from monitor.store.migrate import downgrade_engine, head_revision
from monitor.store.models import Base
from tests.dashboard.admin.conftest import QUICK

PASSWORD = "a long enough pass phrase"


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated(request, tmp_path):
    """A store at the newest migration: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'vigie.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_schema_url")
    store = Store(url)
    store.upgrade()
    yield store
    store.dispose()


def test_the_migration_builds_what_the_models_describe(migrated):
    assert migrated.revision() == head_revision()  # 0003_accounts or a later one
    with migrated.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                Base.metadata)
    assert diff == []
    assert {"users", "api_tokens"} <= set(sa.inspect(migrated.engine).get_table_names())
    downgrade_engine(migrated.engine, "0002_incidents")
    assert not {"users", "api_tokens"} & set(sa.inspect(migrated.engine).get_table_names())


def test_users_and_tokens_round_trip(migrated):
    with migrated.session() as session, session.begin():
        user = accounts.create_user(session, "Camille", PASSWORD, passwords=QUICK)
        assert user.username == "camille"
        new = tokens.create_token(session, "camille", "sauvegarde")
    with migrated.session() as session, session.begin():
        assert accounts.authenticate(session, "CAMILLE", PASSWORD, passwords=QUICK).username == "camille"
        assert accounts.authenticate(session, "camille", PASSWORD + "!", passwords=QUICK) is None
        assert tokens.use_token(session, new.secret).user.username == "camille"
    with migrated.session() as session, session.begin():
        accounts.remove_user(session, "camille")
    with migrated.session() as session, session.begin():
        # removing the user removed the token (cascade in the database)
        assert tokens.use_token(session, new.secret) is None
        assert tokens.list_tokens(session, include_revoked=True) == []


def test_passwords_are_stored_as_argon2id_with_the_default_parameters(migrated):
    with migrated.session() as session, session.begin():
        user = accounts.create_user(session, "camille", PASSWORD, passwords=Passwords())
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert not PasswordHasher().check_needs_rehash(user.password_hash)


def test_a_login_rehashes_a_password_stored_with_weaker_parameters(migrated):
    with migrated.session() as session, session.begin():
        weak = accounts.create_user(session, "camille", PASSWORD, passwords=QUICK).password_hash
    stronger = Passwords(PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1))
    with migrated.session() as session, session.begin():
        user = accounts.authenticate(session, "camille", PASSWORD, passwords=stronger)
        assert user.password_hash != weak and "m=2048" in user.password_hash


@pytest.mark.parametrize("name", ["", "   ", "with space", "Ünïcode", "-dash-first", "x" * 65,
                                  "semi;colon"])
def test_bad_user_names_are_refused(migrated, name):
    with migrated.session() as session, session.begin(), pytest.raises(AccountError) as info:
        accounts.create_user(session, name, PASSWORD, passwords=QUICK)
    assert info.value.words.fr and info.value.words.en


def test_short_passwords_and_duplicates_are_refused(migrated):
    with migrated.session() as session, session.begin():
        with pytest.raises(AccountError, match="at least 12 characters"):
            accounts.create_user(session, "camille", "short", passwords=QUICK)
        accounts.create_user(session, "camille", PASSWORD, passwords=QUICK)
        with pytest.raises(AccountError, match="already exists"):
            accounts.create_user(session, "Camille", PASSWORD, passwords=QUICK)
        with pytest.raises(AccountError, match="No user 'nobody'"):
            accounts.set_password(session, "nobody", PASSWORD, passwords=QUICK)


def test_tokens_are_random_shown_once_and_stored_as_sha256(migrated):
    with migrated.session() as session, session.begin():
        accounts.create_user(session, "camille", PASSWORD, passwords=QUICK)
        first = tokens.create_token(session, "camille", "a")
        second = tokens.create_token(session, "camille", "b")
    assert first.secret != second.secret
    assert first.secret.startswith("vigie_") and len(first.secret) >= 6 + 43  # 32 bytes
    with migrated.engine.connect() as conn:
        stored = [tuple(r) for r in conn.execute(sa.text(
            "SELECT token_hash, prefix FROM api_tokens ORDER BY id"))]
    assert stored[0][0] == hashlib.sha256(first.secret.encode()).hexdigest()
    assert all(first.secret not in value for row in stored for value in row)
    assert stored[0][1] == first.secret[:12]


def test_revoked_and_malformed_tokens_give_no_user(migrated):
    with migrated.session() as session, session.begin():
        accounts.create_user(session, "camille", PASSWORD, passwords=QUICK)
        new = tokens.create_token(session, "camille", "script")
        tokens.revoke_token(session, new.token.id)
        tokens.revoke_token(session, new.token.id)  # twice is harmless
        assert tokens.use_token(session, new.secret) is None
        assert tokens.use_token(session, new.secret[:-1]) is None
        assert tokens.use_token(session, "") is None
        assert tokens.use_token(session, "vigie_" + "a" * 500) is None
        assert tokens.list_tokens(session) == []
        assert len(tokens.list_tokens(session, include_revoked=True)) == 1
        with pytest.raises(AccountError):
            tokens.revoke_token(session, 424242)
        with pytest.raises(AccountError, match="name"):
            tokens.create_token(session, "camille", "  ")


def test_token_names_are_cleaned_of_control_and_bidi_characters(migrated):
    """Token names are volunteers' text (monitor.safetext): on PostgreSQL a NUL byte was
    refused by the database."""
    with migrated.session() as session, session.begin():
        accounts.create_user(session, "camille", PASSWORD, passwords=QUICK)
        new = tokens.create_token(session, "camille", "sauve\x00garde\u202e\r\nnuit")
        assert new.token.name == "sauve garde nuit"
        with pytest.raises(AccountError, match="name"):
            tokens.create_token(session, "camille", "\x00\u202e\x08")
        with pytest.raises(AccountError, match="longer than 100"):
            tokens.create_token(session, "camille", "x" * 101)


@pytest.mark.parametrize("name", ["cam\x00ille", "camille\u202e", "cam\nille"])
def test_user_names_with_control_characters_are_refused(migrated, name):
    with migrated.session() as session, session.begin(), pytest.raises(AccountError):
        accounts.create_user(session, name, PASSWORD, passwords=QUICK)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_store(request, tmp_path):
    """A store with no schema yet: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'vigie.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_schema_url")
    store = Store(url)
    yield store
    store.dispose()


def test_existing_accounts_become_administrators_on_upgrade(empty_store):
    from monitor.store.migrate import upgrade_engine

    upgrade_engine(empty_store.engine, "0006_admin_sessions")
    with empty_store.engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO users (username, password_hash, created_at, password_changed_at) "
            "VALUES ('camille', 'x', 1, 1)"))
        conn.execute(sa.text(
            "INSERT INTO api_tokens (user_id, name, token_hash, prefix, created_at) "
            "SELECT id, 'script', 'h', 'vigie_', 1 FROM users"))
    empty_store.upgrade()
    with empty_store.session() as session:
        user = accounts.get_user(session, "camille")
        assert user.role == "admin"
        assert [t.role for t in tokens.list_tokens(session, "camille")] == [None]  # its user's role
    # and back: the roles go, the accounts and tokens stay
    downgrade_engine(empty_store.engine, "0006_admin_sessions")
    with empty_store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM api_tokens")).scalar() == 1
        assert "role" not in {c["name"] for c in sa.inspect(conn).get_columns("users")}


def test_the_first_account_is_an_administrator_the_next_ones_editors(migrated):
    with migrated.session() as session, session.begin():
        assert accounts.create_user(session, "camille", PASSWORD, passwords=QUICK).role == "admin"
        assert accounts.create_user(session, "dominique", PASSWORD, passwords=QUICK).role == "editor"
        assert accounts.create_user(session, "eli", PASSWORD, "desk", passwords=QUICK).role == "desk"
        with pytest.raises(AccountError, match="Unknown role"):
            accounts.create_user(session, "fanny", PASSWORD, "boss", passwords=QUICK)
