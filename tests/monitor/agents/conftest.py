"""Fixtures of the agents' server tests: a real configuration (built-in probes), a
migrated store (SQLite file or a fresh PostgreSQL schema), agent tokens made by the
operations, and the agents' API served by Vigie's real listener on 127.0.0.1 with a
clock the test moves and a sink recording what is handed on."""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import func, select

from monitor.agents.app import PREFIX
from monitor.agents.assignments import StaticAssignments
from monitor.agents.models import LocationResultRow
from monitor.agents.service import AgentOperations
from monitor.agents.settings import AgentSettings
from monitor.agents.system import AgentSystem
from monitor.config_loader import load_with_plugins
from monitor.router import Router
from monitor.store import Store
from monitor.web import WebServer

CONFIG = """\
services:
  - id: web
    name: Web
    checks:
      - id: home
        kind: http
        url: http://127.0.0.1:9/
        basic_auth: {username: vigie, password: S3cretPassw0rd}
      - {id: api, kind: http, url: "http://127.0.0.1:9/api", interval: 1m}
  - id: mail
    name: Courriel
    checks:
      - {id: smtp, kind: tcp, host: 127.0.0.1, port: 9}
"""

#: the epoch the tests' clock starts at
T0 = 1_765_000_000.0


class Clock:
    """The server's clock, moved by the test."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Sink:
    """Records what the API hands on (``sink(check_key, location, result)``)."""

    seen: list[tuple[str, str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, check_key: str, location: str, result: Any) -> None:
        with self.lock:
            self.seen.append((check_key, location, result))


@dataclass
class Answer:
    """An HTTP answer as read by the client."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Agents:
    """The agents' API on a real listener, with its store, tokens and sink."""

    config: Any
    store: Store
    system: AgentSystem
    server: WebServer
    clock: Clock
    sink: Sink
    assignments: StaticAssignments
    tokens: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, body: bytes | None = None, *,
                token: str | None = None, headers: dict[str, str] | None = None) -> Answer:
        """One request to the API (``path`` under ``/api/agent/v1``)."""
        sent = {"Accept": "application/json", **(headers or {})}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        if body is not None:
            sent.setdefault("Content-Type", "application/json")
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        try:
            connection.request(method, PREFIX + path, body=body, headers=sent)
            response = connection.getresponse()
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()},
                          response.read())
        finally:
            connection.close()

    def push(self, token: str, results: list[dict], **fields: Any) -> Answer:
        """POST a batch of ``results``."""
        body = {"agent": "lyon-1", "boot": "6f1c", "batch": 1, "sent_at": self.clock(),
                "buffered": 0, "dropped": 0, "results": results, **fields}
        return self.request("POST", "/results", json.dumps(body).encode(), token=token)

    def stored(self) -> list[LocationResultRow]:
        """Every stored location result, by id."""
        with self.store.session() as session:
            return list(session.scalars(select(LocationResultRow)
                                        .order_by(LocationResultRow.id)))

    def count(self) -> int:
        with self.store.session() as session:
            return session.scalar(select(func.count()).select_from(LocationResultRow)) or 0


def result(seq: int, check: str = "web/home", status: str = "up", **extra: Any) -> dict:
    """One result as an agent sends it."""
    return {"seq": seq, "check": check, "started_at": T0 - 100 + seq, "duration": 0.05,
            "status": status, "reason": None, "samples": {"latency_seconds": 0.05},
            "info": {}, **extra}


def load(tmp_path, text: str = CONFIG):
    """``(config, probe kinds)`` of ``text`` with the built-in probes."""
    path = tmp_path / "vigie.yaml"
    path.write_text(text, encoding="utf-8")
    _pm, registry, config = load_with_plugins(path)
    return config, {k.kind: k.probe_class for k in registry}


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    """A SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'vigie.sqlite'}"
    return request.getfixturevalue("postgres_schema_url")


def make_tokens(store: Store, assignments, clock, names: dict[str, str]) -> dict[str, str]:
    """Tokens made by the operations: name → token."""
    ops = AgentOperations(assignments, clock)
    made = {}
    with store.write_session() as session, session.begin():
        for name, location in names.items():
            made[name] = ops.add_token(session, name=name, location=location).token
    return made


def start_agents(store_url: str, tmp_path, settings: AgentSettings | None = None,
                 share_secrets: tuple[str, ...] = ()) -> Agents:
    config, kinds = load(tmp_path)
    checks = {c.key: c for c in config.checks}
    assignments = StaticAssignments(
        ["lyon", "paris"], {"lyon": [checks["web/home"], checks["web/api"]],
                            "paris": [checks["mail/smtp"]]}, share_secrets)
    store = Store(store_url)
    store.upgrade()
    clock, sink = Clock(), Sink()
    system = AgentSystem(store, assignments, settings or AgentSettings(), probe_kinds=kinds,
                         sink=sink, clock=clock)
    router = Router(metrics=lambda: b"", health=lambda: {"ok": True},
                    metrics_content_type="text/plain")
    router.mount(PREFIX, system.app)
    server = WebServer(router, "127.0.0.1", 0, threads=2,
                       paths=system.listener_paths({}))
    server.start()
    agents = Agents(config, store, system, server, clock, sink, assignments)
    agents.tokens = make_tokens(store, assignments, time.time,
                                {"lyon-1": "lyon", "paris-1": "paris"})
    return agents


@pytest.fixture
def agents(store_url, tmp_path):
    """The API on a real listener, tokens ``lyon-1`` (lyon: web/home, web/api) and
    ``paris-1`` (paris: mail/smtp)."""
    made = start_agents(store_url, tmp_path)
    yield made
    made.server.stop()
    made.store.dispose()
