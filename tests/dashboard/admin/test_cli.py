"""``vigie user`` and ``vigie token``: through click's runner and as the real command."""

from __future__ import annotations

import subprocess
import sys

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner

from dashboard import create_app
from dashboard.admin import accounts
from dashboard.admin.cli import token_group, user_group
from monitor.cli import command_line
from monitor.plugins import build_plugin_manager
from monitor.store import Store
from tests.dashboard.admin.conftest import QUICK

PASSWORD = "a long enough pass phrase"


#: ``vigie`` as installed: the built-in commands and the plugins' (``user``, ``token``)
root = command_line(build_plugin_manager())
assert root.commands["user"] is user_group and root.commands["token"] is token_group
#: messages in English: the locale is not French
ENGLISH = {"LANG": "C.UTF-8", "LC_ALL": None, "LC_MESSAGES": None}


@pytest.fixture
def config_file(tmp_path):
    """A configuration whose store is a migrated SQLite file."""
    url = f"sqlite:///{tmp_path / 'data' / 'vigie.sqlite'}"
    path = tmp_path / "vigie.yaml"
    path.write_text(f"store:\n  url: {url}\ndashboard:\n  secret_key: test\nservices: []\n",
                    encoding="utf-8")
    store = Store(url)
    store.upgrade()
    store.dispose()
    return path, url


def run(config_file, *args, input=None):
    return CliRunner().invoke(root, ["-c", str(config_file[0]), *args], input=input,
                              env=ENGLISH)


def test_user_add_asks_the_password_twice_without_echo(config_file):
    result = run(config_file, "user", "add", "Camille", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "user camille created" in result.output
    assert PASSWORD not in result.output
    store = Store(config_file[1])
    with store.session() as session:
        stored = accounts.get_user(session, "camille").password_hash
        assert not PasswordHasher().check_needs_rehash(stored)  # the command: the defaults
        assert accounts.authenticate(session, "camille", PASSWORD, passwords=QUICK) is not None
    store.dispose()


def test_user_add_refuses_a_weak_password_and_a_bad_name(config_file):
    result = run(config_file, "user", "add", "camille", "--password-stdin", input="short\n")
    assert result.exit_code == 3 and "at least 12 characters" in result.output
    result = run(config_file, "user", "add", "not valid!", "--password-stdin", input="x\n")
    assert result.exit_code == 3 and "Invalid user name" in result.output


def test_the_password_is_never_an_argument(config_file):
    result = run(config_file, "user", "add", "camille", PASSWORD)
    assert result.exit_code == 3  # usage error: no such argument


def test_list_passwd_remove(config_file):
    run(config_file, "user", "add", "camille", "--password-stdin", input=PASSWORD + "\n")
    run(config_file, "user", "add", "dominique", "--password-stdin", input=PASSWORD + "\n")
    listing = run(config_file, "user", "list").output
    assert "camille" in listing and "dominique" in listing
    result = run(config_file, "user", "passwd", "camille", "--password-stdin",
                 input="another pass phrase\n")
    assert result.exit_code == 0
    result = run(config_file, "user", "remove", "dominique", input="n\n")
    assert result.exit_code == 3 and "dominique" in run(config_file, "user", "list").output
    result = run(config_file, "user", "remove", "dominique", input="y\n")
    assert result.exit_code == 0 and "removed" in result.output
    assert "dominique" not in run(config_file, "user", "list").output
    result = run(config_file, "user", "remove", "nobody", "--yes")
    assert result.exit_code == 3 and "No user 'nobody'" in result.output


def test_token_add_list_revoke(config_file):
    run(config_file, "user", "add", "camille", "--password-stdin", input=PASSWORD + "\n")
    result = CliRunner().invoke(root, ["-c", str(config_file[0]), "token", "add",
                                       "--user", "camille", "--name", "sauvegarde"])
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert secret.startswith("vigie_") and "\n" not in secret
    listing = run(config_file, "token", "list").output
    assert "sauvegarde" in listing and secret[:12] in listing and secret not in listing
    assert run(config_file, "token", "revoke", "1").exit_code == 0
    assert "no token" in run(config_file, "token", "list").output
    assert "revoked" in run(config_file, "token", "list", "--all").output
    assert run(config_file, "token", "revoke", "42").exit_code == 3
    result = run(config_file, "token", "add", "--user", "nobody", "--name", "x")
    assert result.exit_code == 3 and "No user 'nobody'" in result.output


def test_a_store_not_migrated_says_what_to_do(tmp_path):
    path = tmp_path / "vigie.yaml"
    path.write_text(f"store:\n  url: sqlite:///{tmp_path / 'empty.sqlite'}\nservices: []\n",
                    encoding="utf-8")
    result = CliRunner().invoke(root, ["-c", str(path), "user", "list"])
    assert result.exit_code == 3 and "vigie db upgrade" in result.output


def vigie(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "monitor", *args], input=input, check=False,
                          capture_output=True, text=True, timeout=60)


def test_the_real_command_creates_a_user_and_a_working_token(config_file):
    config = str(config_file[0])
    result = vigie("-c", config, "user", "add", "camille", "--password-stdin",
                   input=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    result = vigie("-c", config, "token", "add", "--user", "camille", "--name", "script")
    assert result.returncode == 0, result.stderr
    secret = result.stdout.strip()
    assert secret.startswith("vigie_")
    assert "shown once" in result.stderr and secret not in result.stderr
    # the token works against the API of a dashboard on the same database
    store = Store(config_file[1])
    try:
        from dashboard import _load_config

        app = create_app(_load_config(config), {"TESTING": True}, store=store)
        response = app.test_client().get("/admin/api/v1/whoami",
                                         headers={"Authorization": f"Bearer {secret}"})
        assert response.get_json()["user"] == "camille"
        assert response.get_json()["role"] == "admin"  # the first account
    finally:
        store.dispose()
