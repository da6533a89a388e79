"""A stand-in Vigie server speaking ``/api/agent/v1`` as docs/agent.md (and the design of
issue 18) says, a local target for the checks, and a real ``vigie agent`` process.

:class:`StandIn` — on 127.0.0.1, in a thread of its own (the agent is another process):

- ``GET /api/agent/v1/checks``: ``Authorization: Bearer <token>``; 401 ``token_unknown``
  or ``token_revoked``; 200 ``{location, agent, revision, server_time, checks}`` with
  ``ETag: "<revision>"`` (revision: SHA-256 of the checks' JSON), 304 to a matching
  ``If-None-Match``;
- ``POST /api/agent/v1/results``: 415 unless JSON, 413 ``too_large`` beyond
  :attr:`StandIn.max_batch_bytes`, 400 ``malformed`` naming the field
  (``results[3].status``), 403 ``wrong_location`` for a check not assigned; all or
  nothing; each seq stored once (a resend is counted as a duplicate); 200 ``{stored,
  duplicates, last_seq}``;
- :meth:`StandIn.script` makes the next pushes answer a given status (429 with
  ``Retry-After``, 500, 413…), :attr:`StandIn.revoked` revokes the token;
  :meth:`StandIn.stop` and :meth:`StandIn.start` take it away and bring it back on the
  same port. Every request is recorded and wakes :meth:`StandIn.wait`.

It speaks HTTP/1.0 (a connection per request), so a stopped stand-in answers nothing,
not even on a connection opened before.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from monitor.agent.spool import decode
from tests.peers import Process, wait_until

API = "/api/agent/v1"
TOKEN = "vga_" + "t0k3n" * 8
STATUSES = {"up", "degraded", "down", "unknown", "maintenance"}


@dataclass
class Push:
    """One push the stand-in took (200) or refused."""

    status: int
    body: dict[str, Any] | None
    seqs: list[int] = field(default_factory=list)
    received_at: float = 0.0


class StandIn:
    """The stand-in server (see the module)."""

    def __init__(self, checks: list[dict[str, Any]] | None = None, *, location: str = "lyon",
                 agent: str = "lyon-1", token: str = TOKEN) -> None:
        self.location, self.agent, self.token = location, agent, token
        self.checks: list[dict[str, Any]] = list(checks or [])
        self.revoked = False
        #: seconds the stand-in's clock is ahead of the machine's (``server_time``)
        self.clock_ahead = 0.0
        self.max_batch_bytes = 1024 * 1024
        self.max_batch_results = 5000
        #: seq → stored result, and the seqs in the order they were stored
        self.stored: dict[int, dict[str, Any]] = {}
        self.order: list[int] = []
        self.duplicates = 0
        #: resends whose seq was stored with another result (a seq handed out twice)
        self.conflicts = 0
        self.pushes: list[Push] = []
        #: set: the next push is stored, then its answer held until :meth:`release`
        self._hold = False
        self._released = threading.Event()
        #: pushes stored whose answer is held now
        self.holding = 0
        #: (method, path, status, request headers) of every request
        self.requests: list[tuple[str, str, int, dict[str, str]]] = []
        self._scripted: list[tuple[int, dict[str, Any], dict[str, str]]] = []
        self.changed = threading.Condition()
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # Life ---------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> StandIn:
        """Listen (on the same port as before, when there was one)."""
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering: connections are refused until :meth:`start`."""
        self._released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # What tests set and read ------------------------------------------------------------

    @property
    def revision(self) -> str:
        text = json.dumps(self.checks, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def script(self, status: int, error: str = "", message: str = "", times: int = 1,
               headers: dict[str, str] | None = None) -> None:
        """The next ``times`` pushes are answered ``status`` (nothing stored)."""
        with self.changed:
            body = {"error": error, "message": message} if error else {}
            self._scripted += [(status, body, dict(headers or {}))] * times

    def hold_next_push(self) -> None:
        """Store the next push, then keep its answer until :meth:`release` (the agent
        waits for it: a batch in flight)."""
        with self.changed:
            self._hold = True
            self._released.clear()

    def release(self) -> None:
        self._released.set()

    def wait(self, condition: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
        """``condition()``'s value once true, checked at each request (fails after
        ``timeout`` seconds without it: a hung test)."""
        return wait_until(self.changed, condition, what, timeout)

    def seqs_of(self, check: str) -> list[int]:
        return [seq for seq in self.order if self.stored[seq]["check"] == check]

    def last_push(self) -> Push:
        return self.pushes[-1]

    def checks_requests(self) -> list[tuple[int, dict[str, str]]]:
        return [(status, headers) for method, path, status, headers in self.requests
                if method == "GET" and path == f"{API}/checks"]

    # The protocol -------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:  # noqa: N802 - the library's name
                standin._serve(self, "GET")

            def do_POST(self) -> None:  # noqa: N802 - the library's name
                standin._serve(self, "POST")

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def _serve(self, request: BaseHTTPRequestHandler, method: str) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        with self.changed:
            status, payload, headers = self._answer(request, method, body)
            self.requests.append((method, request.path, status, dict(request.headers)))
            held = self._hold and method == "POST" and status == 200
            if held:
                self._hold = False
            self.changed.notify_all()
        if held:
            with self.changed:
                self.holding += 1
                self.changed.notify_all()
            self._released.wait(60)
            with self.changed:
                self.holding -= 1
        data = json.dumps(payload).encode() if payload is not None else b""
        try:
            request.send_response(status)
            for name, value in headers.items():
                request.send_header(name, value)
            if payload is not None:
                request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(data)))
            request.end_headers()
            request.wfile.write(data)
        except OSError:
            pass  # the agent went away (killed)

    def _answer(self, request: BaseHTTPRequestHandler, method: str, body: bytes
                ) -> tuple[int, Any, dict[str, str]]:
        auth = request.headers.get("Authorization", "")
        if auth != f"Bearer {self.token}":
            return 401, _error("token_unknown", "This token is unknown."), {}
        if self.revoked:
            return 401, _error("token_revoked", "This agent's token was revoked by a "
                                                "volunteer."), {}
        if method == "GET" and request.path == f"{API}/checks":
            etag = f'"{self.revision}"'
            if request.headers.get("If-None-Match") == etag:
                return 304, None, {"ETag": etag}
            return 200, {"location": self.location, "agent": self.agent,
                         "revision": self.revision,
                         "server_time": time.time() + self.clock_ahead,
                         "checks": self.checks}, {"ETag": etag}
        if method == "POST" and request.path == f"{API}/results":
            return self._push(request, body)
        return 404, _error("not_found", "No such path."), {}

    def _push(self, request: BaseHTTPRequestHandler, body: bytes
              ) -> tuple[int, Any, dict[str, str]]:
        if self._scripted:
            status, payload, headers = self._scripted.pop(0)
            try:
                seqs = [r["seq"] for r in json.loads(body)["results"]]
            except (ValueError, KeyError, TypeError):
                seqs = []
            self.pushes.append(Push(status, None, seqs))
            return status, payload or None, headers
        if request.headers.get("Content-Type", "").split(";")[0] != "application/json":
            return self._refused(415, "not_json", "The body must be JSON.")
        if len(body) > self.max_batch_bytes:
            return self._refused(413, "too_large", f"A batch is at most "
                                                   f"{self.max_batch_bytes} bytes.")
        try:
            data = json.loads(body)
        except ValueError:
            return self._refused(400, "malformed", "The body is not valid JSON.")
        problem = _malformed(data, self.max_batch_results)
        if problem:
            return self._refused(400, "malformed", problem)
        keys = {check["key"] for check in self.checks}
        for index, result in enumerate(data["results"]):
            if result["check"] not in keys:
                return self._refused(403, "wrong_location",
                                     f"results[{index}].check: {result['check']} is not "
                                     f"assigned to {self.location}.")
        stored = duplicates = 0
        for result in sorted(data["results"], key=lambda r: r["seq"]):
            if result["seq"] in self.stored:
                duplicates += 1
                self.conflicts += self.stored[result["seq"]] != result
                continue
            self.stored[result["seq"]] = result
            self.order.append(result["seq"])
            stored += 1
        self.duplicates += duplicates
        seqs = [r["seq"] for r in data["results"]]
        self.pushes.append(Push(200, {k: v for k, v in data.items() if k != "results"},
                                seqs, time.time()))
        return 200, {"stored": stored, "duplicates": duplicates,
                     "last_seq": max(seqs, default=None)}, {}

    def _refused(self, status: int, code: str, message: str) -> tuple[int, Any, dict]:
        self.pushes.append(Push(status, None))
        return status, _error(code, message), {}


def _error(code: str, message: str) -> dict[str, str]:
    return {"error": code, "message": message}


def _malformed(data: Any, limit: int) -> str | None:
    """The first field of a push that breaks the protocol, named as the server names it."""
    if not isinstance(data, dict):
        return "the body must be a JSON object"
    for name, kind in (("agent", str), ("boot", str), ("batch", int), ("sent_at", (int, float)),
                       ("buffered", int), ("dropped", int), ("results", list)):
        if not isinstance(data.get(name), kind) or isinstance(data.get(name), bool):
            return f"{name}: missing or of the wrong type"
    if len(data["results"]) > limit:
        return f"results: at most {limit} results in a batch"
    for index, result in enumerate(data["results"]):
        where = f"results[{index}]"
        if not isinstance(result, dict):
            return f"{where}: must be an object"
        if not isinstance(result.get("seq"), int) or result["seq"] < 1:
            return f"{where}.seq: a positive integer is expected"
        if not isinstance(result.get("check"), str):
            return f"{where}.check: a check key is expected"
        if result.get("status") not in STATUSES:
            return f"{where}.status: one of {', '.join(sorted(STATUSES))} is expected"
        for name in ("started_at", "duration"):
            if not isinstance(result.get(name), (int, float)):
                return f"{where}.{name}: a number is expected"
        why = result.get("reason")
        if why is not None and not (isinstance(why, dict)
                                    and {"fr", "en", "code", "public"} <= set(why)):
            return f"{where}.reason: null or {{fr, en, code, public}} is expected"
        for name in ("samples", "info"):
            if not isinstance(result.get(name), dict):
                return f"{where}.{name}: an object is expected"
    return None


def http_check(key: str, url: str, *, interval: float = 1.0, timeout: float = 5.0,
               confirm: int = 1, retry_interval: float = 1.0, **options: Any) -> dict:
    """The spec of an http check as the server sends it (options as the model dumps
    them: every field, unset ones included)."""
    return {"key": key, "kind": "http", "interval": interval, "timeout": timeout,
            "confirm": confirm, "retry_interval": retry_interval,
            "options": {"url": url, "basic_auth": None, **options}}


class Target:
    """The checks' target on 127.0.0.1: ``/ok/...`` answers 200, ``/fail/...`` 503;
    counts what it served."""

    def __init__(self) -> None:
        self.served = 0
        self.changed = threading.Condition()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the library's name
                code = 503 if self.path.startswith("/fail/") else 200
                try:
                    self.send_response(code)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass
                with target.changed:
                    target.served += 1
                    target.changed.notify_all()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def wait(self, condition: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
        """``condition()``'s value once true, checked at each request served (the
        agent's checks run all the time)."""
        return wait_until(self.changed, condition, what, timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def spooled_seqs(data_dir: Path) -> list[int]:
    """The seqs an agent's spool holds on disk now (acknowledged ones included until
    their segment goes)."""
    seqs = []
    for path in sorted((data_dir / "spool").glob("*.seg")):
        try:
            lines = path.read_bytes().splitlines(keepends=True)
        except FileNotFoundError:
            continue  # acknowledged meanwhile
        seqs += [decoded[0] for line in lines if (decoded := decode(line))]
    return seqs


class Agent:
    """A real ``vigie agent`` (``python -m monitor agent``) for ``standin``, its data and
    token file under ``directory``; output lines read as they come."""

    def __init__(self, standin: StandIn, directory: Path, *args: str,
                 token: str | None = None, env: dict[str, str] | None = None) -> None:
        self.env = dict(env or {})
        self.directory = directory
        self.data_dir = directory / "data"
        self.token_file = directory / "token"
        self.token_file.write_text((token or standin.token) + "\n")
        os.chmod(self.token_file, 0o600)
        self.command = [sys.executable, "-m", "monitor", "agent", "--server", standin.url,
                        "--token-file", str(self.token_file), "--data-dir",
                        str(self.data_dir), "--refresh-every", "1s", "--max-backoff", "1s",
                        "--log-level", "debug", *args]
        self.process: Process | None = None

    def start(self) -> Agent:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self.process = Process(subprocess.Popen(self.command, stdout=subprocess.PIPE,
                                                stderr=subprocess.STDOUT, text=True,
                                                env=env))
        return self

    @property
    def output(self) -> str:
        assert self.process is not None
        return "".join(self.process.lines)

    def wait_line(self, text: str, what: str) -> None:
        assert self.process is not None
        self.process.wait_line(text, what)

    def stop(self, sig: int = signal.SIGTERM) -> str:
        assert self.process is not None
        return self.process.stop(sig)

    def kill(self) -> None:
        """``kill -9``: nothing saved, nothing said."""
        assert self.process is not None
        self.process.proc.kill()
        self.process.proc.wait()

    def wait_exit(self, timeout: float = 60.0) -> int:
        assert self.process is not None
        return self.process.proc.wait(timeout=timeout)

    def __enter__(self) -> Agent:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.proc.poll() is None:
            self.stop()
