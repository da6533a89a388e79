"""Real processes on loopback for the end-to-end tests of remote locations: a
``vigie run`` server (SQLite or PostgreSQL), ``vigie agent`` processes with tokens made
by ``vigie agent-token add``, the checks' HTTP target, and the volunteers' alert
receiver (an Apprise ``json://`` hook).

- :class:`Targets` — ``GET /<name>`` answers 200, or 503 when the request comes from an
  agent at a location in :attr:`Targets.failing` (each agent names its location in its
  probes' User-Agent: ``… agent lyon-1 at lyon)``);
- :class:`Receiver` — the alerts Apprise posts;
- :class:`Server` — one ``vigie run`` with its configuration, its command line
  (``vigie -c … agent-token add``), its ``/metrics`` and JSON API, stopped and started
  again on the same port;
- :class:`AgentProcess` — one ``vigie agent`` for a token, its spool on disk;
- :func:`eventually` — a condition (the database, ``/metrics``, a spool) checked again at
  each request the target serves and each alert received, with a generous deadline that
  only bounds a failure: no test waits for time.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from monitor.agent.spool import decode
from tests.conftest import free_port
from tests.monitor.agent.standin import spooled_seqs
from tests.peers import Process

#: the longest a condition is waited for (only a failure waits that long)
DEADLINE = 180.0
#: the location an agent's probe request names in its User-Agent
_AT = re.compile(r"agent ([A-Za-z0-9._-]+) at ([A-Za-z0-9._-]+)\)")


class Changes:
    """What the tests' peers see change: each request the target serves (the agents and
    the server run their checks every second) and each alert received. A condition on
    the database, ``/metrics`` or a spool is checked again at each change."""

    def __init__(self) -> None:
        self.count = 0
        self.condition = threading.Condition()

    def note(self) -> None:
        with self.condition:
            self.count += 1
            self.condition.notify_all()


#: the changes every stand-in of this module notes
CHANGES = Changes()


def eventually(condition: Callable[[], Any], what: str, within: float = DEADLINE) -> Any:
    """``condition()``'s value once true, checked again at each change the stand-ins
    note (:data:`CHANGES`); fails when nothing changes for 60 s (no check runs any more)
    or after ``within`` seconds."""
    end = time.monotonic() + within
    while True:
        with CHANGES.condition:
            seen = CHANGES.count
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"not seen within {within:.0f} s: {what}")
        with CHANGES.condition:
            if not CHANGES.condition.wait_for(lambda seen=seen: CHANGES.count > seen, 60):
                raise AssertionError(f"nothing ran for 60 s while waiting for: {what}")


def _serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


class Targets:
    """The checks' target (see the module)."""

    def __init__(self) -> None:
        #: locations whose agents get 503
        self.failing: set[str] = set()
        #: location -> requests served to its agents
        self.served: dict[str, int] = {}
        #: User-Agents seen
        self.agents: set[str] = set()
        self._lock = threading.Lock()
        targets = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - the library's name
                agent = self.headers.get("User-Agent", "")
                found = _AT.search(agent)
                location = found.group(2) if found else "server"
                with targets._lock:
                    targets.served[location] = targets.served.get(location, 0) + 1
                    targets.agents.add(agent)
                    failing = location in targets.failing
                body = b"down for this location" if failing else b"ok"
                self.send_response(503 if failing else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                CHANGES.note()

            def log_message(self, *args: Any) -> None:
                pass

        self.server, self.url = _serve(Handler)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Receiver:
    """The volunteers' alerts: the JSON Apprise's ``json://`` posts (``title``,
    ``message``, ``type``)."""

    def __init__(self) -> None:
        self.alerts: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the library's name
                length = int(self.headers.get("Content-Length") or 0)
                receiver.alerts.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()
                CHANGES.note()

            def log_message(self, *args: Any) -> None:
                pass

        self.server, url = _serve(Handler)
        self.url = "json://" + url.removeprefix("http://") + "/alerts"

    def failures(self) -> list[dict[str, Any]]:
        """The alerts of an outage, major or partial (Apprise types ``failure`` and
        ``warning``)."""
        return [a for a in list(self.alerts) if a.get("type") in ("failure", "warning")]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Server:
    """One ``vigie run`` of ``config`` (YAML after the lines this class writes: the data
    directory, the listener, the store)."""

    def __init__(self, directory: Path, config: str, *, database: str | None = None) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.path = directory / "vigie.yaml"
        self.database = database
        self.configure(config)
        self.url = database or f"sqlite:///{directory / 'data' / 'vigie.sqlite'}"
        self.process: Process | None = None
        self.engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        if database:
            self.cli("db", "upgrade")

    def configure(self, config: str) -> None:
        """Write the configuration (read at the next start)."""
        store = f"store: {{url: '{self.database}', flush_interval: 0.1s}}" \
            if self.database else "store: {flush_interval: 0.1s}"
        self.path.write_text(f"data_dir: data\nserver: {{listen: '127.0.0.1:{self.port}'}}\n"
                             f"{store}\n{config}", encoding="utf-8")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """``vigie -c <config> ARGS`` (as the machine's administrator)."""
        env = {**os.environ, "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1"}
        env.pop("LC_ALL", None)
        done = subprocess.run([sys.executable, "-m", "monitor", "-c", str(self.path), *args],
                              capture_output=True, text=True, env=env, timeout=120)
        if check:
            assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done

    def add_token(self, name: str, location: str) -> str:
        """``vigie agent-token add NAME --location L``: the token it printed."""
        printed = self.cli("agent-token", "add", name, "--location", location).stdout
        return printed.strip().splitlines()[-1]

    def start(self) -> Server:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = Process(subprocess.Popen(
            [sys.executable, "-m", "monitor", "-c", str(self.path), "run"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env))
        self.process.wait_line("listening on", "vigie run listens", timeout=DEADLINE)
        return self

    def stop(self) -> str:
        """SIGTERM, as systemd stops it; what it wrote."""
        assert self.process is not None
        output = self.process.stop(signal.SIGTERM)
        assert self.process.proc.returncode == 0, output[-3000:]
        return output

    def output(self) -> str:
        return "".join(self.process.lines) if self.process else ""

    def close(self) -> None:
        if self.process is not None and self.process.proc.poll() is None:
            self.process.stop()
        self.engine.dispose()

    # Reading what it serves and stores ------------------------------------------------------

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(self.base + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as refused:
            return refused.code, refused.read()
        except OSError:
            return 0, b""

    def post(self, path: str, body: bytes, headers: dict[str, str]
             ) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(self.base + path, data=body, headers=headers,
                                         method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, dict(answer.headers), answer.read()
        except urllib.error.HTTPError as refused:
            return refused.code, dict(refused.headers), refused.read()

    def metrics(self) -> dict[str, float]:
        """``/metrics`` as ``{'name{labels}': value}`` (empty when it does not answer)."""
        status, body = self.get("/metrics")
        if status != 200:
            return {}
        out = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def rows(self, sql: str, **params: Any) -> list:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.text(sql), params).all())

    def value(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()

    def results_of(self, token: str) -> list[tuple[int, int]]:
        """``(id, seq)`` of the agent ``token``'s stored results, by id."""
        return [(r[0], r[1]) for r in self.rows(
            "SELECT r.id, r.seq FROM location_results r JOIN agent_tokens t "
            "ON t.id = r.token_id WHERE t.name = :name ORDER BY r.id", name=token)]

    def count(self, location: str | None = None) -> int:
        if location is None:
            return self.value("SELECT count(*) FROM location_results")
        return self.value("SELECT count(*) FROM location_results WHERE location = :l",
                          l=location)


class AgentProcess:
    """One ``vigie agent`` of ``server`` with ``token``, its data under ``directory``."""

    def __init__(self, server: Server, name: str, token: str, directory: Path,
                 *args: str) -> None:
        self.name = name
        self.server = server
        self.data_dir = directory / name / "data"
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.token_file = directory / name / "token"
        self.token_file.write_text(token + "\n")
        os.chmod(self.token_file, 0o600)
        self.args = args
        self.process: Process | None = None

    def start(self) -> AgentProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = Process(subprocess.Popen(
            [sys.executable, "-m", "monitor", "agent", "--server", self.server.base,
             "--token-file", str(self.token_file), "--data-dir", str(self.data_dir),
             "--refresh-every", "2s", "--max-backoff", "1s", *self.args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env))
        return self

    def spooled(self) -> list[int]:
        """The seqs on its disk now."""
        return spooled_seqs(self.data_dir)

    def spooled_checks(self) -> dict[int, str]:
        """seq → check key of the results on its disk now."""
        out = {}
        for path in sorted((self.data_dir / "spool").glob("*.seg")):
            try:
                lines = path.read_bytes().splitlines(keepends=True)
            except FileNotFoundError:
                continue  # acknowledged meanwhile
            for line in lines:
                if (decoded := decode(line)) is not None:
                    out[decoded[0]] = json.loads(decoded[1])["check"]
        return out

    def state(self) -> dict[str, Any]:
        """Its spool's cursor (``state.json``)."""
        try:
            return json.loads((self.data_dir / "spool" / "state.json").read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def output(self) -> str:
        return "".join(self.process.lines) if self.process else ""

    def stop(self) -> str:
        assert self.process is not None
        return self.process.stop()

    def kill(self) -> None:
        """``kill -9``."""
        assert self.process is not None
        self.process.proc.kill()
        self.process.proc.wait()

    def exit_code(self, within: float = DEADLINE) -> int:
        assert self.process is not None
        return self.process.proc.wait(timeout=within)

    def close(self) -> None:
        if self.process is not None and self.process.proc.poll() is None:
            self.process.stop()
