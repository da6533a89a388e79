"""``GET /api/agent/v1/checks`` through the real listener: only the token's location's
checks, their options as the probe models dump them, secrets left out unless the check
shares them with agents, and 304 while the revision is unchanged."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from monitor.agents.catalog import check_json, options_json
from monitor.config_loader import load_with_plugins
from monitor.agents.system import AgentSystem
from plugins.http import HttpProbe
from tests.monitor.agents.conftest import T0, start_agents


@pytest.fixture(params=["sqlite"])
def store_url(request, tmp_path) -> str:
    """The catalog does not depend on the database: SQLite is enough here."""
    return f"sqlite:///{tmp_path / 'vigie.sqlite'}"


def test_an_agent_gets_its_locations_checks_and_no_secret(agents):
    answer = agents.request("GET", "/checks", token=agents.tokens["lyon-1"])
    assert answer.status == 200
    document = answer.json
    assert (document["location"], document["agent"], document["server_time"]) == (
        "lyon", "lyon-1", T0)
    assert [c["key"] for c in document["checks"]] == ["web/home", "web/api"]
    home = document["checks"][0]
    assert (home["kind"], home["interval"], home["timeout"], home["confirm"],
            home["retry_interval"]) == ("http", 300.0, 10.0, 2, 30.0)
    assert home["options"]["url"] == "http://127.0.0.1:9/"
    assert home["options"]["basic_auth"] == {"username": "vigie"}
    assert home["withheld"] == ["basic_auth.password"]
    assert "S3cretPassw0rd" not in answer.body.decode()
    assert document["checks"][1]["interval"] == 60.0
    # the revision is the SHA-256 of the checks' JSON, and the ETag
    checks = json.dumps(document["checks"], sort_keys=True, separators=(",", ":"),
                        ensure_ascii=False).encode()
    assert document["revision"] == hashlib.sha256(checks).hexdigest()
    assert answer.headers["etag"] == f'"{document["revision"]}"'
    other = agents.request("GET", "/checks", token=agents.tokens["paris-1"]).json
    assert [c["key"] for c in other["checks"]] == ["mail/smtp"]


def test_the_options_are_the_probe_models_own(agents):
    """What the agent gets validates back into the same model (the http kind keeps
    something smaller than its model for each check: ``HttpProbe.config_of``)."""
    [home, api] = agents.assignments.checks_for("lyon")
    dumped, withheld = options_json(HttpProbe.config_of(api.options), reveal=False)
    assert withheld == []
    assert HttpProbe.Config.model_validate(dumped) == HttpProbe.config_of(api.options)


def test_a_check_sharing_its_secrets_sends_them(store_url, tmp_path):
    made = start_agents(store_url, tmp_path, share_secrets=("web/home",))
    try:
        document = made.request("GET", "/checks", token=made.tokens["lyon-1"]).json
        home = document["checks"][0]
        assert home["options"]["basic_auth"] == {"username": "vigie",
                                                 "password": "S3cretPassw0rd"}
        assert home["withheld"] == []
        assert HttpProbe.Config.model_validate(home["options"]).basic_auth.password \
            .get_secret_value() == "S3cretPassw0rd"
    finally:
        made.server.stop()
        made.store.dispose()


def test_if_none_match_gets_304_until_the_checks_change(agents):
    token = agents.tokens["lyon-1"]
    etag = agents.request("GET", "/checks", token=token).headers["etag"]
    same = agents.request("GET", "/checks", token=token, headers={"If-None-Match": etag})
    assert same.status == 304 and same.body == b"" and same.headers["etag"] == etag
    listed = agents.request("GET", "/checks", token=token,
                            headers={"If-None-Match": f'"other", W/{etag}'})
    assert listed.status == 304
    # the configuration changes: lyon runs one check less
    [home, _api] = agents.assignments.checks_for("lyon")
    agents.assignments._checks["lyon"] = (home,)
    changed = agents.request("GET", "/checks", token=token, headers={"If-None-Match": etag})
    assert changed.status == 200 and changed.headers["etag"] != etag
    assert [c["key"] for c in changed.json["checks"]] == ["web/home"]


def test_without_a_token_nothing_is_said(agents):
    answer = agents.request("GET", "/checks")
    assert answer.status == 401 and answer.json["error"] == "token_unknown"
    assert b"web/home" not in answer.body


def test_the_listener_gives_the_path_its_own_limit_and_threads(agents):
    assert isinstance(agents.system, AgentSystem)
    paths = agents.system.listener_paths({"/admin": object()})
    assert paths["/api/agent/v1"].max_body == agents.system.settings.max_batch_bytes
    assert paths["/api/agent/v1"].threads == 2 and "/admin" in paths


EXAMPLE = Path(__file__).resolve().parents[3] / "deploy" / "examples" / "cooperative.yaml"
#: values for the example's ${VARIABLES} (shapes its keys accept)
EXAMPLE_ENV = {"VIGIE_DEADMAN_URL": "https://hc.example.org/ping/u",
               "VIGIE_BACKUP_TOKEN": "abcdefghijklmnopqrstuv",
               **{f"VIGIE_APPRISE_{n}": "json://127.0.0.1/x" for n in ("DBA", "MAIL",
                                                                          "MATRIX")}}


def test_every_kind_of_the_example_configuration_travels_to_an_agent(monkeypatch):
    """Each check of the annotated example, as an agent gets it (secrets shared), is
    validated by its kind's model into the very same options."""
    for name in re.findall(r"\$\{([A-Z_]+)", EXAMPLE.read_text(encoding="utf-8")):
        monkeypatch.setenv(name, EXAMPLE_ENV.get(name, "x"))
    _pm, registry, config = load_with_plugins(EXAMPLE)
    kinds = {k.kind: k.probe_class for k in registry}
    seen = set()
    for check in config.checks:
        probe = kinds[check.ref.kind]
        sent = json.loads(json.dumps(check_json(check, True, probe)))
        model = probe.config_of(check.options)
        assert probe.Config.model_validate(sent["options"]) == model, check.key
        seen.add(check.ref.kind)
    assert {"http", "tls", "dns", "smtp", "imap", "mysql", "postgresql", "nextcloud",
            "heartbeat"} <= seen
