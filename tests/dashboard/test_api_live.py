"""schemathesis against a live ``vigie run``: every operation of ``/api/v1/openapi.json``
(the status page's API, the feed and badges, ``/healthz``, the heartbeat receiver and the
admin API with a token made by ``vigie token add``) answers no 5xx, only declared status
codes and content types, bodies and headers matching their schemas, 401 without the token.

Vigie runs as a real subprocess on a temporary configuration: a service whose TCP check
reaches Vigie's own listener (up), one whose port is closed (down: an automatic incident,
an alert through Apprise to a closed port, so a failed delivery in the outbox),
heartbeat checks, SQLite in a temporary folder. The test first makes one of each object
through the API, each request and answer checked against the description by
schemathesis; then the CLI explores every operation (coverage phase, then a few generated
examples per operation, valid and invalid; deterministic), with dictionaries of the
values the description cannot know (service ids, the ids made, the heartbeat token).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis

from tests.conftest import free_port
from tests.peers import Process

PASSWORD = "a long enough pass phrase"
#: one heartbeat check per beat sent by hand (a check may refuse a second beat too soon)
BEAT_TOKENS = ("openapi-test-beat-token-post", "openapi-test-beat-token-get")
SERVICES = ("web", "mail", "backup")
#: examples per operation in the fuzzing phase (the coverage phase adds its own)
MAX_EXAMPLES = 10


@dataclass(frozen=True)
class Live:
    """A running ``vigie run``."""

    url: str
    token: str
    folder: Path
    #: the process, whose log lines a test may wait for
    vigie: Process

    @property
    def auth(self) -> dict[str, str]:
        """The header of the API token."""
        return {"Authorization": f"Bearer {self.token}"}


def _config(folder: Path, port: int) -> Path:
    closed = free_port()
    path = folder / "vigie.yaml"
    path.write_text(f"""\
scheduler: {{spread_first_runs: false}}
store: {{flush_interval: 0.1s}}
server: {{listen: '127.0.0.1:{port}'}}
dashboard: {{secret_key: not-a-secret-of-this-test}}
incidents:
  outbox: {{max_attempts: 1}}
notifications:
  urls: [{{url: 'json://127.0.0.1:{closed}/', name: nobody}}]
  storm: {{enabled: false}}
groups:
  - {{id: hosting, name: {{fr: Hébergement, en: Hosting}}}}
services:
  - id: web
    name: {{fr: Sites web, en: Websites}}
    group: hosting
    checks:
      - {{id: listener, kind: tcp, host: 127.0.0.1, port: {port}, interval: 1s}}
  - id: mail
    name: Courriel
    checks:
      - {{id: smtp, kind: tcp, host: 127.0.0.1, port: {closed}, interval: 1s,
          retry_interval: 1s}}
  - id: backup
    name: Sauvegardes
    checks:
      - {{id: nightly, kind: heartbeat, token: {BEAT_TOKENS[0]}, expected_every: 1d}}
      - {{id: weekly, kind: heartbeat, token: {BEAT_TOKENS[1]}, expected_every: 7d}}
""", encoding="utf-8")
    return path


def _vigie(config: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run([sys.executable, "-m", "monitor", "-c", str(config), *args],
                          input=stdin, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """``vigie run`` on the configuration above, with a user and an API token."""
    folder = tmp_path_factory.mktemp("openapi-live")
    port = free_port()
    config = _config(folder, port)
    _vigie(config, "db", "upgrade")
    _vigie(config, "user", "add", "camille", "--password-stdin", stdin=PASSWORD + "\n")
    token = _vigie(config, "token", "add", "--user", "camille", "--name", "schemathesis")
    vigie = Process(subprocess.Popen(
        [sys.executable, "-m", "monitor", "-c", str(config), "run"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    url = f"http://127.0.0.1:{port}"
    try:
        vigie.wait_line("listening on", "Vigie listening")
        yield Live(url, token.strip(), folder, vigie)
    finally:
        text = vigie.stop()
    (folder / "vigie.log").write_text(text, encoding="utf-8")  # kept for a post-mortem
    assert vigie.proc.returncode == 0
    for entry in re.split(r"\n(?=\d{4}-\d\d-\d\d )", text):  # one entry per log record
        # aiohttp logs a whole traceback for each request it cannot parse (schemathesis
        # probes a NUL byte in a header): a listener matter, reported, not the APIs'
        if "aiohttp.server: Error handling request" in entry and "BadHttpMessage" in entry:
            continue
        assert "Traceback" not in entry, entry


@pytest.fixture(scope="module")
def schema(live):
    """The description Vigie serves, loaded by schemathesis."""
    return schemathesis.openapi.from_url(f"{live.url}/api/v1/openapi.json")


class Caller:
    """Requests built by hand, sent and checked by schemathesis like generated ones
    (status, content type, body and headers as described, 401 without the token); it
    remembers which operations answered a success."""

    def __init__(self, schema, live: Live) -> None:
        self.schema, self.live = schema, live
        self.succeeded: set[str] = set()

    def __call__(self, method: str, path: str, **case) -> dict:
        operation = self.schema[path][method]
        answer = operation.Case(**case).call_and_validate(headers=self.live.auth)
        assert answer.status_code < 300, answer.text
        self.succeeded.add(operation.label)
        media_type = answer.headers.get("content-type", [""])[0]
        return answer.json() if media_type.startswith("application/json") else {}


@pytest.fixture(scope="module")
def call(schema, live):
    """A :class:`Caller` for the whole module."""
    return Caller(schema, live)


@pytest.fixture(scope="module")
def made(call):
    """One object of each kind, made through the API; their ids."""
    now = time.time()
    notice = call("POST", "/admin/api/v1/notices", body={
        "title_fr": "Coupure réseau ce soir", "text_fr": "Entre **22 h** et 23 h.",
        "level": "warning", "ends_at": now + 86400})
    windows = [call("POST", "/admin/api/v1/maintenance", body=body)["id"] for body in (
        {"title_fr": "Mise à jour", "services": ["web"], "start": now - 60, "end": now + 7200},
        {"title_fr": "Remplacement d'un disque", "all_services": True,
         "start": now + 3 * 86400, "duration": "2h", "announce_before": "7d"},
        {"title_fr": "Sauvegarde hebdomadaire", "group": "hosting", "weekly": "sunday",
         "at": "03:00", "duration": "1h"})]
    incident = call("POST", "/admin/api/v1/incidents", body={
        "services": ["web"], "title_fr": "Sites lents", "message_fr": "Nous regardons.",
        "impact": "degraded"})["summary"]["id"]
    call("POST", "/push/{token}", path_parameters={"token": BEAT_TOKENS[0]},
         body={"status": "fail", "msg": "disque plein"},
         media_type="application/x-www-form-urlencoded")
    # the closed port's service goes down: an incident, an alert that cannot be delivered
    # (its row is in the outbox once the worker says it failed)
    call.live.vigie.wait_line("failed vigie_incident_opened", "an alert in the outbox")
    outbox = call("GET", "/admin/api/v1/outbox")["entries"]
    return {"notice": notice["id"], "windows": windows, "incident": incident,
            "outbox": outbox[0]["id"]}


def test_every_operation_succeeds_as_described(schema, call, made, live):
    incident, window = {"incident_id": made["incident"]}, {"window_id": made["windows"][0]}
    for path in ("/api/v1/summary.json", "/api/v1/services", "/api/v1/incidents",
                 "/api/v1/maintenance", "/api/v1/openapi.json", "/feed.atom", "/history.atom",
                 "/maintenance.ics", "/badges/status.svg",
                 "/healthz", "/admin/api/v1/whoami", "/admin/api/v1/notices",
                 "/admin/api/v1/incidents", "/admin/api/v1/checks", "/admin/api/v1/assistance"):
        call("GET", path)
    for path in ("/api/v1/services/{service_id}", "/badges/{service_id}/status.svg",
                 "/badges/{service_id}/uptime.svg", "/services/{service_id}.atom",
                 "/services/{service_id}.ics"):
        call("GET", path, path_parameters={"service_id": "mail"})
    call("GET", "/api/v1/incidents/{incident_id}", path_parameters=incident)
    call("GET", "/admin/api/v1/incidents/{incident_id}", path_parameters=incident)
    call("GET", "/admin/api/v1/maintenance", query={"upcoming": "1"})
    call("GET", "/push/{token}", path_parameters={"token": BEAT_TOKENS[1]})
    call("PATCH", "/admin/api/v1/notices/{notice_id}",
         path_parameters={"notice_id": made["notice"]}, body={"title_en": "Network cut"})
    call("POST", "/admin/api/v1/notices/{notice_id}/end",
         path_parameters={"notice_id": made["notice"]})
    call("PATCH", "/admin/api/v1/maintenance/{window_id}", path_parameters=window,
         body={"title_en": "Upgrade"})
    call("POST", "/admin/api/v1/maintenance/{window_id}/end", path_parameters=window)
    call("POST", "/admin/api/v1/maintenance/{window_id}/cancel",
         path_parameters={"window_id": made["windows"][1]})
    call("POST", "/admin/api/v1/incidents/{incident_id}/updates", path_parameters=incident,
         body={"phase": "identified", "message_fr": "Un disque plein.", "public": False})
    call("POST", "/admin/api/v1/incidents/{incident_id}/impact", path_parameters=incident,
         body={"impact": "partial_outage"})
    call("POST", "/admin/api/v1/incidents/{incident_id}/resolve", path_parameters=incident)
    # a post-mortem comes once the incident is resolved
    call("PUT", "/admin/api/v1/incidents/{incident_id}/postmortem", path_parameters=incident,
         body={"text_fr": "Le disque est remplacé."})
    call("POST", "/admin/api/v1/outbox/{outbox_id}/retry",
         path_parameters={"outbox_id": made["outbox"]})
    call("GET", "/admin/api/v1/subscribers")
    # a webhook endpoint's whole life; its test ping goes to a closed local port
    hook = call("POST", "/admin/api/v1/webhooks",
                body={"name": "Partenaire", "url": "http://127.0.0.1:9/hook"})
    endpoint = {"endpoint_id": hook["endpoint"]["id"]}
    call("GET", "/admin/api/v1/webhooks")
    call("GET", "/admin/api/v1/webhooks/{endpoint_id}", path_parameters=endpoint)
    call("POST", "/admin/api/v1/webhooks/{endpoint_id}/rotate", path_parameters=endpoint)
    call("POST", "/admin/api/v1/webhooks/{endpoint_id}/disable", path_parameters=endpoint)
    call("POST", "/admin/api/v1/webhooks/{endpoint_id}/enable", path_parameters=endpoint)
    call("POST", "/admin/api/v1/webhooks/{endpoint_id}/test", path_parameters=endpoint)
    call("DELETE", "/admin/api/v1/webhooks/{endpoint_id}", path_parameters=endpoint)
    # a remote agent's token, made as `vigie agent-token add` makes it, listed and revoked
    _agent_token(live, "lyon-1")
    call("GET", "/admin/api/v1/agents")
    call("POST", "/admin/api/v1/agents/{agent_name}/revoke",
         path_parameters={"agent_name": "lyon-1"})
    described = {result.ok().label for result in schema.get_all_operations()}
    assert described - call.succeeded == set()


def _agent_token(live: Live, name: str) -> None:
    from monitor.agents.assignments import StaticAssignments
    from monitor.agents.service import AgentOperations
    from monitor.store import Store

    store = Store(f"sqlite:///{live.folder / 'data' / 'vigie.sqlite'}")
    try:
        with store.write_session() as session, session.begin():
            AgentOperations(StaticAssignments(["lyon"], {})).add_token(
                session, name=name, location="lyon")
    finally:
        store.dispose()


def _schemathesis_config(live: Live, made: dict) -> Path:
    # the objects made, and 1: the first of each (the automatic incident, its alert)
    ids = sorted({1, made["notice"], made["incident"], made["outbox"], *made["windows"]})
    path = live.folder / "schemathesis.toml"
    path.write_text(f"""\
workers = 1
request-timeout = 60

[generation]
mode = "all"
max-examples = {MAX_EXAMPLES}
deterministic = true

[checks]
# the description cannot say that a service exists, that an incident is still open or that
# an end comes after its start: such valid-looking bodies get the operation's own 422
positive_data_acceptance.enabled = false

[phases.stateful]
enabled = false

[dictionaries]
services = {{ values = {json.dumps(list(SERVICES))} }}
ids = {{ values = {json.dumps(ids)} }}
tokens = {{ values = {json.dumps(list(BEAT_TOKENS))} }}
groups = {{ values = ["hosting"] }}

[parameters]
"body.services[*]" = {{ dictionary = "services", probability = 0.8 }}
"body.group" = {{ dictionary = "groups", probability = 0.5 }}
"path.service_id" = {{ dictionary = "services", probability = 0.5 }}
"path.incident_id" = {{ dictionary = "ids", probability = 0.5 }}
"path.notice_id" = {{ dictionary = "ids", probability = 0.5 }}
"path.window_id" = {{ dictionary = "ids", probability = 0.5 }}
"path.outbox_id" = {{ dictionary = "ids", probability = 0.5 }}
"path.token" = {{ dictionary = "tokens", probability = 0.5 }}
""", encoding="utf-8")
    return path


def test_schemathesis_finds_no_error_and_no_drift(schema, live, made):
    config = _schemathesis_config(live, made)
    done = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "--no-color",
         "run", f"{live.url}/api/v1/openapi.json",
         "--header", f"Authorization: Bearer {live.token}"],
        capture_output=True, text=True, timeout=900, cwd=live.folder)
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-5000:]
    tested = re.search(r"Tested:\s+(\d+)", done.stdout)
    assert tested and int(tested.group(1)) == len(list(schema.get_all_operations())), done.stdout
