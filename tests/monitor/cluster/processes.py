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
                try:
                    self.send_response(code)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the node gave up (killed, or its check timed out)
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

    def wait(self, condition: Callable[[], Any], what: str, requests: int = 100_000,
             every: int = 1) -> Any:
        """``condition()``'s value once true, checked again each ``every`` requests served
        (the nodes' checks run all the time); fails when no request comes for 60 s."""
        for _ in range(requests):
            if value := condition():
                return value
            with self.changed:
                seen = self.served + every - 1
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
    #: extra YAML for each node's configuration (or the same for all)
    extra: str | Callable[[str], str] = ""
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
{self.extra(node) if callable(self.extra) else self.extra}
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


class StandIns:
    """The volunteers' alert receiver (an Apprise ``json://`` hook), a Discourse forum and
    a Zammad desk (the bridges' test fakes), served from a thread of their own, on ports
    of their own for each node (one forum and one desk behind them), so that a request
    says which node made it (:attr:`requests`). While :attr:`refusing`, every write is
    answered 503 (the delivery fails and is tried again later); each request notes a
    change on ``target`` so that waits look again."""

    def __init__(self, target: Target, nodes: tuple[str, ...] = ("a", "b")) -> None:
        from tests.docs_bridge.fake_discourse import FakeDiscourse
        from tests.tickets_bridge.fake_desks import FakeZammad

        self.target = target
        self.nodes = nodes
        self.forum = FakeDiscourse()
        self.desk = FakeZammad()
        #: the alerts the hook accepted (JSON bodies)
        self.alerts: list[dict] = []
        #: (node, peer, method, path) of every request
        self.requests: list[tuple[str, str, str, str]] = []
        self.refusing = True
        self.ports: dict[tuple[str, str], int] = {}
        self._loop: Any = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> StandIns:
        self._thread.start()
        self._ready.wait(30)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def made_by(self, node: str) -> list[tuple[str, str, str, str]]:
        """The requests ``node`` made."""
        return [r for r in list(self.requests) if r[0] == node]

    def _serve(self) -> None:
        import asyncio

        from aiohttp import web

        def gate(node: str, peer: str) -> Any:
            @web.middleware
            async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
                self.requests.append((node, peer, request.method, request.path))
                try:
                    if self.refusing and request.method in ("POST", "PUT"):
                        return web.Response(status=503, text="down for the test")
                    return await handler(request)
                finally:
                    self.target.note()
            return middleware

        async def hook(request: web.Request) -> web.Response:
            self.alerts.append(await request.json())
            return web.Response(status=204)

        async def main() -> None:
            for node in self.nodes:
                alerts = web.Application()
                alerts.router.add_post("/alerts", hook)
                for peer, app in (("alerts", alerts), ("forum", self.forum.app()),
                                  ("desk", self.desk.app())):
                    app.middlewares.insert(0, gate(node, peer))
                    runner = web.AppRunner(app)
                    await runner.setup()
                    site = web.TCPSite(runner, "127.0.0.1", 0)
                    await site.start()
                    # (aiohttp gives a site's port only through its server's sockets)
                    sockets = getattr(site._server, "sockets", None)
                    assert sockets
                    self.ports[(node, peer)] = sockets[0].getsockname()[1]
            self._ready.set()

        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(main())
        self._loop.run_forever()

    def config(self, node: str) -> str:
        """The YAML sections that send ``node``'s side effects here."""
        from tests.docs_bridge.fake_discourse import API_KEY, API_USER
        from tests.tickets_bridge.fake_desks import ZAMMAD_TOKEN

        def url(peer: str) -> str:
            return f"http://127.0.0.1:{self.ports[(node, peer)]}"

        return f"""site: {{public_url: "https://etat.exemple.coop/"}}
notifications:
  urls:
    - {{name: hook, url: 'json://127.0.0.1:{self.ports[(node, "alerts")]}/alerts'}}
forum:
  url: {url("forum")}
  api_key: {API_KEY}
  api_username: {API_USER}
  category: 7
  close_on_resolve: true
helpdesk:
  desk: {{type: zammad, url: {url("desk")}, token: {ZAMMAD_TOKEN},
          customer: vigie@exemple.coop}}
"""
