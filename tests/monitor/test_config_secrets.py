"""Secrets never leak through configuration errors, the store's URL or debug logs.

Configuration errors say what is wrong without repeating a value that may be secret: a
field typed as a secret (whatever its name), a key named like a secret or an address, any
header, any URL. ``store.url`` is checked at load and shown without its password; library
loggers that print URLs stay quiet even with ``--log-level debug``.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Annotated, Literal

import pytest
from pydantic import Field, SecretStr, field_validator

from monitor.logs import SECRET_FLOORS, setup_logging
from monitor.config_loader import ConfigError, load_config
from monitor.plugins import ProbeRegistry, build_plugin_manager, hookimpl
from monitor.probe import Probe, ProbeConfig, ProbeResult
from monitor.schema import StrictModel
from monitor.store import Store

#: runs the real ``vigie`` entry point (plugins from the entry points, as installed)
VIGIE = [sys.executable, "-c", "import sys; from monitor.cli import main; main(sys.argv[1:])"]


def vigie(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``vigie ARGS`` in ``cwd``; its output as text."""
    return subprocess.run([*VIGIE, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, check=False)


def write(tmp_path: Path, text: str, name: str = "vigie.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# `vigie config check` with the real plugins ---------------------------------------------


def test_config_check_never_repeats_secrets(tmp_path):
    path = write(tmp_path, """\
        store:
          url: [postgresql://vigie:StoreS3cret@db.example.coop/vigie]
        services:
          - id: web
            name: Web
            checks:
              - id: home
                kind: http
                url: ftp://monitor:HttpS3cret@www.example.coop/
                headers:
                  Authorization: [Bearer HeaderS3cret]
        notifications:
          urls:
            - url: [json://u:AppS3cret@hooks.example.coop/x]
        forum:
          url: ftp://bot:ForumS3cret@forum.example.coop/
          api_key: k
          category: 1
        helpdesk:
          desk:
            type: webhook
            url: hxxps://hooks.example.coop/WebhookS3cretPath?token=QueryS3cret
        """)
    result = vigie("config", "check", str(path), cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    out = result.stdout + result.stderr
    for secret in ("StoreS3cret", "HttpS3cret", "HeaderS3cret", "AppS3cret", "ForumS3cret",
                   "WebhookS3cretPath", "QueryS3cret"):
        assert secret not in out
    # each problem is still reported where it is, with what is wrong
    hidden = "expected a text (value hidden: it may be a secret)"
    for line in (f"{path}:2: store.url: {hidden}",
                 f"{path}:9: services[0].checks[0].url: expected an http:// or https:// URL",
                 f"{path}:11: services[0].checks[0].headers.Authorization: {hidden}",
                 f"{path}:14: notifications.urls[0].url: {hidden}",
                 f"{path}:16: forum.url: expected an http:// or https:// address"):
        assert line in out
    (desk,) = [line for line in out.splitlines() if "helpdesk.desk" in line]
    assert desk.endswith("url: expected an http:// or https:// address "
                         "(e.g. https://forum.example.coop)")


def test_db_upgrade_prints_the_url_without_any_password(tmp_path, postgres_schema_url):
    # trust authentication: the passwords are sent (or not) and ignored
    url = postgres_schema_url.replace("postgres@", "postgres:UserInfoS3cret@", 1)
    path = write(tmp_path, f"""\
        store:
          url: "{url}&password=QueryS3cret"
        """)
    result = vigie("-c", str(path), "db", "upgrade", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "database is up to date (postgresql+psycopg://postgres:***@127.0.0.1" in result.stdout
    assert "password=***" in result.stdout
    assert "S3cret" not in result.stdout + result.stderr


# load_config: secrets found by their type -----------------------------------------------


class VaultConfig(ProbeConfig):
    """Keys of a made-up probe kind whose secrets have innocent names."""

    phrase: SecretStr
    phrases: list[SecretStr] = []
    limit: int = 3

    @field_validator("phrase")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        # a careless plugin validator that quotes the secret
        if len(value.get_secret_value()) < 14:
            raise ValueError(f"too short: {value.get_secret_value()!r}")
        return value


class VaultProbe(Probe):
    """A probe kind that exists only for these tests."""

    kind = "vault"
    Config = VaultConfig

    async def check(self, config, ctx):
        return ProbeResult.up()


class VaultPlugin:
    @hookimpl
    def vigie_register_probes(self):
        return [VaultProbe]


class LocalVault(StrictModel):
    type: Literal["local"]
    path: str


class RemoteVault(StrictModel):
    type: Literal["remote"]
    seed: SecretStr


class VaultSection(StrictModel):
    """A plugin-owned section holding a union of models, one with a secret."""

    backend: Annotated[LocalVault | RemoteVault, Field(discriminator="type")]


@pytest.fixture(scope="module")
def registry() -> ProbeRegistry:
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[("vault", VaultPlugin())])
    return ProbeRegistry.from_plugin_manager(pm)


def test_values_of_secret_typed_fields_are_never_repeated(registry, tmp_path):
    path = write(tmp_path, """\
        services:
          - id: vault
            name: Coffre
            checks:
              - id: a
                kind: vault
                phrase: [ListedPhrase1]
                phrases: [a-long-enough-phrase, [NestedPhrase2]]
                limit: [7]
              - id: b
                kind: vault
                phrase: TinyPhrase3
        vault:
          backend: {type: remote, seed: [SeedPhrase4]}
        """)
    with pytest.raises(ConfigError) as caught:
        load_config(path, registry, {"vault": VaultSection})
    hidden = "expected a text (value hidden: it may be a secret)"
    assert str(caught.value).splitlines() == [
        f"{path}:7: services[0].checks[0].phrase: {hidden}",
        f"{path}:8: services[0].checks[0].phrases[1]: {hidden}",
        # not a secret: the value helps
        f"{path}:9: services[0].checks[0].limit: expected a whole number, got [7]",
        f"{path}:12: services[0].checks[1].phrase: too short: '***'",
        # (the key path is the file's: the union member's tag is not in it)
        f"{path}:14: vault.backend.seed: {hidden}",
    ]


def test_an_error_about_ids_keeps_them(registry, tmp_path):
    # the file holds secrets, but the message is about ids: only secrets are hidden
    path = write(tmp_path, """\
        store:
          url: postgresql://vigie:StoreS3cret@127.0.0.1/vigie
        services:
          - id: vault
            name: Coffre
            checks:
              - id: a
                kind: vault
                phrase: a-long-enough-phrase
        maintenance:
          - id: db-night
            title: Nuit
            services: [mail]
            weekly: sun
            at: "02:00"
            duration: 1h
        """)
    with pytest.raises(ConfigError) as caught:
        load_config(path, registry)
    assert str(caught.value) == (f"{path}:13: maintenance[0].services[0]: unknown service "
                                 "'mail' (known: vault)")


def test_a_validator_quoting_a_url_has_its_credentials_hidden(registry, tmp_path):
    class Hook(StrictModel):
        target: str

        @field_validator("target")
        @classmethod
        def _fail(cls, value: str) -> str:
            raise ValueError(f"cannot use {value} here")

    path = write(tmp_path, """\
        hook:
          target: https://robot:HookS3cret@hooks.example.coop/x
        """)
    with pytest.raises(ConfigError) as caught:
        load_config(path, registry, {"hook": Hook})
    assert str(caught.value) == f"{path}:2: hook.target: cannot use *** here"


# store.url --------------------------------------------------------------------------------


NOT_A_DATABASE_URL = ("not a database URL (e.g. postgresql://vigie:***@db.example.coop/vigie, "
                      "or sqlite:////var/lib/vigie/vigie.sqlite)")


@pytest.mark.parametrize(("url", "message"), [
    ("mysql://vigie:StoreS3cret@db.example.coop/vigie",
     ("Vigie stores its data in SQLite or PostgreSQL, not 'mysql' "
      "(e.g. postgresql://vigie:***@db.example.coop/vigie, or sqlite:///path/vigie.sqlite)")),
    ("postgresql://vigie:StoreS3cret@db.example.coop:port/vigie", NOT_A_DATABASE_URL),
    ("StoreS3cret", NOT_A_DATABASE_URL),
])
def test_store_url_is_checked_at_load(registry, tmp_path, url, message):
    path = write(tmp_path, f"""\
        store:
          url: "{url}"
        """)
    with pytest.raises(ConfigError) as caught:
        load_config(path, registry)
    assert str(caught.value) == f"{path}:2: store.url: {message}"


def test_store_url_password_is_hidden_everywhere_but_the_connection(registry, tmp_path):
    url = "postgresql://vigie:UserInfoS3cret@127.0.0.1:1/vigie?password=QueryS3cret"
    config = load_config(write(tmp_path, f"""\
        store:
          url: "{url}"
        """), registry)
    for shown in (repr(config.file.store), repr(config.file), str(config.file), repr(config)):
        assert "S3cret" not in shown
    assert "postgresql://vigie:***@127.0.0.1:1/vigie?password=***" in repr(config.file.store)
    # runtime and the store get the URL itself, as a plain string
    assert config.database_url == url and type(config.database_url) is str
    store = Store(config.database_url)
    try:
        assert "S3cret" not in store.safe_url
    finally:
        store.dispose()


def test_store_url_may_come_from_a_file(registry, tmp_path):
    secret = tmp_path / "database-url"
    secret.write_text("postgres://vigie:FileS3cret@127.0.0.1/vigie\n", encoding="utf-8")
    config = load_config(write(tmp_path, f"""\
        store:
          url_file: {secret}
        """), registry)
    assert config.database_url == "postgres://vigie:FileS3cret@127.0.0.1/vigie"
    assert "FileS3cret" not in repr(config.file)


def test_empty_store_url_means_the_sqlite_default(registry, tmp_path, monkeypatch):
    monkeypatch.delenv("VIGIE_TEST_DB_URL", raising=False)
    config = load_config(write(tmp_path, """\
        store:
          url: ${VIGIE_TEST_DB_URL:-}
        """), registry)
    assert config.file.store.url is None
    assert config.database_url == f"sqlite:///{(tmp_path / 'data').resolve() / 'vigie.sqlite'}"


# debug logging ----------------------------------------------------------------------------


class Hook(BaseHTTPRequestHandler):
    """Answers every POST with 204 (an Apprise ``json://`` receiver)."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def hook_port():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


#: sets logging up through the real command line, then notifies like the alert plugin does
NOTIFY = """
import logging
import sys
import apprise
from monitor.cli import main
try:
    main([f"--log-level={sys.argv[1]}", "--verbose", "probes"])
except SystemExit:
    pass
logging.getLogger("vigie.test").debug("debug is on")
notifier = apprise.Apprise()
assert notifier.add(sys.argv[2])
assert notifier.notify(title="Vigie", body="test")
"""


def test_debug_logging_keeps_notification_urls_out(tmp_path, hook_port):
    # a token in the path, as Telegram's bot URLs have, and a password
    url = f"json://hook:AppS3cret@127.0.0.1:{hook_port}/bot123456:PathT0ken/send"
    result = subprocess.run([sys.executable, "-c", NOTIFY, "debug", url], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "PathT0ken" not in result.stderr and "AppS3cret" not in result.stderr
    # debug logging is on, and Apprise's own INFO lines still come through
    assert "DEBUG vigie.test: debug is on" in result.stderr
    assert "INFO apprise: Sent JSON" in result.stderr


@pytest.fixture
def library_levels():
    """Restores the levels :func:`setup_logging` sets (they are process-wide)."""
    names = ["", *SECRET_FLOORS]
    saved = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def test_a_higher_log_level_applies_to_quiet_libraries_too(library_levels):
    setup_logging("warning", verbose=True)
    assert not logging.getLogger("apprise").isEnabledFor(logging.INFO)
    setup_logging("debug", verbose=True)
    assert logging.getLogger("urllib3.connectionpool").getEffectiveLevel() == logging.INFO
    assert not logging.getLogger("sqlalchemy.engine.Engine").isEnabledFor(logging.INFO)
