"""The agents' API: a WSGI application mounted at ``/api/agent/v1`` on Vigie's listener.

- ``GET /checks`` — the checks of the token's location (:mod:`monitor.agents.catalog`),
  with an ``ETag``; ``If-None-Match`` gets 304 while they are unchanged;
- ``POST /results`` — a batch of results (:mod:`monitor.agents.batch`), stored once
  (:mod:`monitor.agents.ingest`) and committed before the answer ``200 {"stored",
  "duplicates", "last_seq"}``; then each new result, in ``seq`` order, is handed to the
  ``sink`` (``sink(check_key, location, result)``: the runtime's consensus).

Every request carries ``Authorization: Bearer <token>``. A push is refused whole, nothing
of it stored, in this order: 401 ``token_unknown`` or ``token_revoked``; 429
``rate_limited`` with ``Retry-After`` past ``agents.pushes_per_minute`` for the token;
415 ``unsupported_media_type`` (not ``application/json``); 413 ``too_large`` (over
``agents.max_batch_bytes`` or ``agents.max_batch_results``); 400 ``malformed`` naming the
field; 403 ``wrong_location`` (a check not assigned to the token's location); 503
``unavailable`` when the database cannot take it (send it again later). Errors are JSON
(:mod:`monitor.agents.errors`), ``message`` in French when the request asks for it
(``Accept-Language: fr``), else English.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from monitor.agents import tokens
from monitor.agents.assignments import Assignments
from monitor.agents.batch import Batch, read_batch
from monitor.agents.catalog import Catalog, catalog_of, document
from monitor.agents.errors import Refusal, revoked_token, unknown_token
from monitor.agents.health import AgentHealth, AgentNews
from monitor.agents.ingest import Stored, notify_results, store_batch, taken_of
from monitor.agents.settings import AgentSettings
from monitor.logthrottle import LogThrottle, left_out
from monitor.probe import Probe, ProbeResult
from monitor.safetext import clean_line
from monitor.ratelimit import KeyedLimit
from monitor.store import Store
from monitor.words import _

log = logging.getLogger(__name__)

#: where ``vigie run`` mounts the application
PREFIX = "/api/agent/v1"
#: ``sink(check_key, location, result)``: where each new result of an agent goes
LocationSink = Callable[[str, str, ProbeResult], None]
#: one log line per kind of refusal and token (or address) per this many seconds
LOG_EVERY = 60.0

_STATUS_LINES = {200: "200 OK", 304: "304 Not Modified", 400: "400 Bad Request",
                 401: "401 Unauthorized", 403: "403 Forbidden", 404: "404 Not Found",
                 405: "405 Method Not Allowed", 413: "413 Content Too Large",
                 415: "415 Unsupported Media Type", 429: "429 Too Many Requests",
                 503: "503 Service Unavailable"}
_JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Caller:
    """The agent token a request authenticated with."""

    id: int
    name: str
    location: str


def _language(environ: dict) -> str:
    first = environ.get("HTTP_ACCEPT_LANGUAGE", "").split(",")[0].strip().lower()
    return "fr" if first.startswith("fr") else "en"


class AgentApp:
    """The WSGI application of the agents' API.

    :param store: the database (tokens, results).
    :param assignments: which checks run at which location.
    :param settings: the ``agents:`` section (limits).
    :param probe_kinds: kind → probe class (how a check's options are sent).
    :param sink: where each new result goes after its batch is committed (None: stored
        only).
    :param health: the agents' news and refusals, for the metrics.
    :param clock: the server's clock (``received_at``, ``server_time``, rate limits).
    """

    def __init__(self, store: Store, assignments: Assignments, settings: AgentSettings, *,
                 probe_kinds: Mapping[str, type[Probe]] | None = None,
                 sink: LocationSink | None = None, health: AgentHealth | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.probe_kinds = dict(probe_kinds or {})
        self.assignments = assignments
        self.settings = settings
        self.sink = sink
        self.health = health or AgentHealth()
        self.clock = clock
        self.limiter = KeyedLimit(settings.pushes_per_minute, 60.0, clock=clock)
        self._catalogs: dict[str, tuple[object, Catalog]] = {}
        self._keys: dict[str, tuple[object, frozenset[str]]] = {}
        self._catalog_lock = threading.Lock()
        self._log = LogThrottle(LOG_EVERY)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        routes = {"/checks": ("GET", self._checks), "/results": ("POST", self._results)}
        try:
            if path not in routes:
                raise Refusal(404, "not_found", _("Nothing at this address: the agents' "
                                                  "API has /checks and /results."))
            allowed, handler = routes[path]
            if method != allowed:
                raise Refusal(405, "method_not_allowed", _("Method not allowed here."),
                              headers=(("Allow", allowed),))
            status, headers, body = handler(environ)
        except Refusal as refusal:
            if path == "/results":
                self.health.refuse(refusal.code)
            self._note(refusal, environ)
            status, headers, body = self._refusal(refusal, _language(environ))
        start_response(_STATUS_LINES[status], [("Cache-Control", "no-store"), *headers,
                                               ("Content-Length", str(len(body)))])
        return [body]

    # Answers ----------------------------------------------------------------------------

    @staticmethod
    def _refusal(refusal: Refusal, lang: str) -> tuple[int, list[tuple[str, str]], bytes]:
        body: dict[str, Any] = {"error": refusal.code, "message": refusal.words.say(lang),
                                "message_fr": refusal.words.fr,
                                "message_en": refusal.words.en}
        if refusal.field is not None:
            body["field"] = refusal.field
        headers = [("Content-Type", _JSON), *refusal.headers]
        if refusal.status == 401:
            headers.append(("WWW-Authenticate", 'Bearer realm="vigie-agent"'))
        return refusal.status, headers, json.dumps(body, ensure_ascii=False).encode()

    def _note(self, refusal: Refusal, environ: dict) -> None:
        """One log line per kind of refusal and address and minute (never the token)."""
        address = environ.get("REMOTE_ADDR") or "?"
        if refusal.status in (404, 405):
            return
        skipped = self._log.allow((refusal.code, address))
        if skipped is not None:
            log.warning("agents: %s %s from %s refused: %s%s",
                        environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), address,
                        refusal.words.en, left_out(skipped))

    # Who asks ---------------------------------------------------------------------------

    def _caller(self, environ: dict) -> Caller:
        scheme, _space, secret = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise unknown_token()
        try:
            with self.store.session() as session:
                row = tokens.find(session, secret)
                found = None if row is None else (row.id, row.name, row.location,
                                                  row.revoked_at)
        except SQLAlchemyError:
            log.warning("agents: the database cannot be read", exc_info=True)
            raise Refusal(503, "unavailable", _("The server cannot read its database just "
                                                "now: try again later."),
                          headers=(("Retry-After", "30"),)) from None
        if found is None:
            raise unknown_token()
        if found[3] is not None:
            raise revoked_token()
        return Caller(found[0], found[1], found[2])

    # GET /checks ------------------------------------------------------------------------

    def catalog(self, location: str) -> Catalog:
        """The location's checks as sent to its agents, made again only when the
        assignments give another sequence."""
        checks = self.assignments.checks_for(location)
        with self._catalog_lock:
            cached = self._catalogs.get(location)
            if cached is not None and cached[0] is checks:
                return cached[1]
        made = catalog_of(checks, self.assignments.shares_secrets, self.probe_kinds)
        with self._catalog_lock:
            self._catalogs[location] = (checks, made)
        return made

    def check_keys(self, location: str) -> frozenset[str]:
        """The keys of the location's checks (what its agents may send results of)."""
        checks = self.assignments.checks_for(location)
        with self._catalog_lock:
            cached = self._keys.get(location)
            if cached is not None and cached[0] is checks:
                return cached[1]
        keys = frozenset(c.key for c in checks)
        with self._catalog_lock:
            self._keys[location] = (checks, keys)
        return keys

    def _checks(self, environ: dict) -> tuple[int, list[tuple[str, str]], bytes]:
        caller = self._caller(environ)
        catalog = self.catalog(caller.location)
        etag = f'"{catalog.revision}"'
        headers = [("ETag", etag)]
        asked = environ.get("HTTP_IF_NONE_MATCH", "")
        if asked.strip() == "*" or etag in (t.strip().removeprefix("W/")
                                            for t in asked.split(",")):
            return 304, headers, b""
        body = document(catalog, caller.location, caller.name, self.clock())
        return 200, [("Content-Type", _JSON), *headers], body

    # POST /results ----------------------------------------------------------------------

    def _results(self, environ: dict) -> tuple[int, list[tuple[str, str]], bytes]:
        received_at = self.clock()
        caller = self._caller(environ)
        wait = self.limiter.take(str(caller.id))
        if wait:
            seconds = max(1, math.ceil(wait))
            raise Refusal(429, "rate_limited", _(
                "Too many pushes: at most {limit} a minute for one agent; send the next "
                "batch in {seconds} s.", limit=self.settings.pushes_per_minute,
                seconds=seconds), headers=(("Retry-After", str(seconds)),))
        kind = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        if kind != _JSON:
            raise Refusal(415, "unsupported_media_type", _(
                "A batch is JSON: send it with “Content-Type: application/json”."))
        batch = read_batch(self._body(environ), received_at, self.settings.max_batch_results)
        checks = self.check_keys(caller.location)
        for entry in sorted(batch.entries, key=lambda e: e.index):
            if entry.result.check not in checks:
                raise Refusal(403, "wrong_location", _(
                    "The check “{check}” does not run at the location “{location}” of this "
                    "agent: nothing of the batch is stored.",
                    check=clean_line(entry.result.check, 130),
                    location=caller.location), field=f"results[{entry.index}].check")
        stored = self._store(caller, batch, environ.get("REMOTE_ADDR"))
        self._hand_on(caller, stored)
        body = {"stored": len(stored.new), "duplicates": stored.duplicates,
                "last_seq": stored.last_seq}
        return 200, [("Content-Type", _JSON)], json.dumps(body).encode()

    def _body(self, environ: dict) -> bytes:
        limit = self.settings.max_batch_bytes
        too_large = Refusal(413, "too_large", _(
            "Batch too large: at most {limit} bytes (send smaller batches).", limit=limit),
            field="body")
        try:
            length = int(environ.get("CONTENT_LENGTH") or -1)
        except ValueError:
            length = -1
        if length > limit:
            raise too_large
        stream = environ["wsgi.input"]
        if length >= 0:
            body = stream.read(length)
        elif environ.get("wsgi.input_terminated"):
            body = stream.read(limit + 1)
        else:
            body = b""
        if len(body) > limit:
            raise too_large
        return body

    def _store(self, caller: Caller, batch: Batch, address: str | None) -> Stored:
        taken = taken_of(batch)
        try:
            with self.store.write_session() as session, session.begin():
                stored = store_batch(session, caller.id, batch, taken, address)
                if stored.new:
                    notify_results(session)
        except SQLAlchemyError:
            log.warning("agents: a batch of %s could not be stored", caller.name,
                        exc_info=True)
            raise Refusal(503, "unavailable", _("The server cannot store the batch just "
                                                "now: send it again later."),
                          headers=(("Retry-After", "30"),)) from None
        self.health.note(AgentNews(caller.name, caller.location, batch.received_at,
                                   batch.buffered, batch.dropped))
        return stored

    def _hand_on(self, caller: Caller, stored: Stored) -> None:
        """Each new result, in ``seq`` order, to the sink (a failure is logged: the
        result is stored, and the agent must not send it again)."""
        if self.sink is None:
            return
        for taken in stored.new:
            try:
                self.sink(taken.check_key, caller.location, taken.result)
            except Exception:
                log.exception("agents: the result %d of %s (%s) could not be handed on",
                              taken.seq, caller.name, taken.check_key)


__all__ = ["PREFIX", "AgentApp", "Caller", "LocationSink"]
