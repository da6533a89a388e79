"""Real ``vigie run`` processes as nodes of one cluster, on the machine's PostgreSQL and
loopback: what the multi-process tests share.

- :class:`Target` — the checks' HTTP target: ``/c/<check>`` answers 200, or 500 while the
  check is in :attr:`Target.failing`; each request served notes a change, so a test waits
  on the database *at each check run* (:meth:`Target.wait`), never on time;
- :class:`Node` — one ``vigie run`` with its own configuration and listen port;
- :func:`results` and friends — what the nodes wrote, read from the database.
"""

from __future__ import annotations

import re
import signal
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tests.conftest import free_port
from tests.monitor.test_runtime import start
from tests.peers import Process, wait_until


class Target:
    """The checks' target on 127.0.0.1 (see the module)."""

    def __init__(self) -> None:
        self.failing: set[str] = set()
        self.served = 0
        self.changed = threading.Condition()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the library's name
                check = self.path.rsplit("/", 1)[-1]
                code = 500 if check in target.failing else 200
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                with target.changed:
                    target.served += 1
                    target.changed.notify_all()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Target:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def note(self) -> None:
        """Something else changed (a stand-in's request): conditions are checked again."""
        with self.changed:
            self.served += 1
            self.changed.notify_all()

    def wait(self, condition: Callable[[], Any], what: str, requests: int = 100_000) -> Any:
        """``condition()``'s value once true, checked again at each request served (the
        nodes' checks run all the time); fails when no request comes for 60 s."""
        for _ in range(requests):
            if value := condition():
                return value
            with self.changed:
                seen = self.served
                if not self.changed.wait_for(lambda seen=seen: self.served > seen, 60):
                    raise AssertionError(f"no check ran for 60 s while waiting for {what}")
        raise AssertionError(f"not seen within {requests} requests: {what}")


@dataclass
class Cluster:
    """The settings every node of a test shares."""

    url: str
    target: Target
    tmp_path: Path
    checks: int = 30
    interval: float = 1.0
    retry_interval: float = 1.0
    confirm: int = 1
    heartbeat: float = 0.5
    dead_after: int = 4
    lease: float = 3.0
    #: extra YAML appended to every node's configuration
    extra: str = ""
    #: the URL the nodes connect with (a node may be given a proxied one)
    urls: dict[str, str] = field(default_factory=dict)

    @property
    def detection(self) -> float:
        return self.heartbeat * self.dead_after

    def keys(self) -> list[str]:
        return [f"web/c{i}" for i in range(self.checks)]

    def config(self, node: str, port: int) -> Path:
        checks = "\n".join(
            f"      - {{id: c{i}, kind: http, url: '{self.target.url}/c/c{i}', "
            f"interval: {self.interval}s, retry_interval: {self.retry_interval}s, "
            f"confirm: {self.confirm}, timeout: 2s}}" for i in range(self.checks))
        folder = self.tmp_path / node
        folder.mkdir(exist_ok=True)
        path = folder / "vigie.yaml"
        path.write_text(f"""\
data_dir: data
server: {{listen: '127.0.0.1:{port}'}}
store: {{url: '{self.urls.get(node, self.url)}', flush_interval: 0.1s}}
cluster: {{enabled: true, node: {node}, heartbeat: {self.heartbeat}s,
           dead_after: {self.dead_after}, lease: {self.lease}s}}
{self.extra}
services:
  - id: web
    name: Web
    checks:
{checks}
""", encoding="utf-8")
        return path


class Node:
    """One ``vigie run`` of a :class:`Cluster`."""

    def __init__(self, cluster: Cluster, name: str) -> None:
        self.cluster = cluster
        self.name = name
        self.port = free_port()
        self.process = Process(start(cluster.config(name, self.port)))

    @property
    def pid(self) -> int:
        return self.process.proc.pid

    def metrics(self) -> str | None:
        """Its /metrics page (None when it does not answer)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics",
                                        timeout=5) as response:
                return response.read().decode()
        except (OSError, urllib.error.URLError):
            return None

    def metric(self, name: str) -> float | None:
        text = self.metrics() or ""
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def owned(self) -> set[str]:
        """The checks it exports (those it runs)."""
        text = self.metrics() or ""
        found = re.findall(r'^vigie_check_up\{check="([^"]+)",kind="[^"]*",service="([^"]+)"\}',
                           text, re.MULTILINE)
        return {f"{service}/{check}" for check, service in found}

    def wait_line(self, text: str, what: str) -> None:
        self.process.wait_line(text, what, timeout=120)

    def signal(self, sig: int) -> None:
        self.process.proc.send_signal(sig)

    def kill(self) -> None:
        """``kill -9``."""
        self.process.proc.send_signal(signal.SIGKILL)
        self.process.proc.wait(30)

    def stop(self) -> str:
        if self.process.proc.poll() is None:
            self.process.proc.send_signal(signal.SIGCONT)
        return self.process.stop()

    def output(self) -> str:
        with self.process.changed:
            return "".join(self.process.lines)

    def wait_output(self, text: str, what: str) -> None:
        wait_until(self.process.changed, lambda: text in self.output(), what, 120)


def query(url: str, sql: str, **params: Any) -> list:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(sql), params).all())
    finally:
        engine.dispose()


class Database:
    """Reads what the nodes wrote (one engine for the test)."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url, pool_size=2)

    def close(self) -> None:
        self.engine.dispose()

    def rows(self, sql: str, **params: Any) -> list:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.text(sql), params).all())

    def value(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()

    def runs(self, keys: list[str] | None = None, after: float = 0.0) -> dict[str, list[float]]:
        """Each check's run starts (ascending) after ``after``."""
        out: dict[str, list[float]] = {}
        for key, started in self.rows(
                "SELECT c.key, r.started_at FROM results r JOIN checks c ON c.id = r.check_id "
                "WHERE r.started_at > :after ORDER BY r.started_at", after=after):
            if keys is None or key in keys:
                out.setdefault(key, []).append(started)
        return out

    def leader(self) -> tuple[str, int] | None:
        """(holder, epoch) of the lease, if it is held now (database clock)."""
        found = self.rows("SELECT holder, epoch FROM cluster_lease WHERE name = 'leader' AND "
                          "expires_at > extract(epoch from clock_timestamp())")
        return (found[0][0], found[0][1]) if found else None


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:])]
