"""Local demo targets: small servers on 127.0.0.1 that behave like a cooperative's services.

Used by ``vigie demo``, the tests and the benchmarks. Each target listens on its own port,
``base_port + offset`` (see :data:`OFFSETS`):

========== ====== ===========================================================================
name       offset behaviour
========== ====== ===========================================================================
site       0      healthy web site: ``/`` answers 200 with "Bienvenue", ``/canary.php`` JSON
slow       1      member panel answering after ``slow_delay`` seconds (3 s by default)
flaky      2      forum: up for ``flap_period`` seconds, then 502 for as long, and so on
down       3      mailing lists web interface answering 503
nextcloud  4      Nextcloud in maintenance: ``/status.php`` 200 with ``"maintenance": true``,
                  other routes 503 with ``X-Nextcloud-Maintenance-Mode: 1``
echo       5      TCP: an SMTP-like greeting (``220 …``), then echoes lines; ``QUIT`` closes
closed     8      TCP: a port bound but not listening, so connections are refused
========== ====== ===========================================================================
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass, field

from aiohttp import web

DEFAULT_BASE_PORT = 8701
OFFSETS = {"site": 0, "slow": 1, "flaky": 2, "down": 3, "nextcloud": 4, "echo": 5, "closed": 8}
"""Port of each target relative to the base port."""

BANNER = b"220 demo.vigie.test ESMTP Vigie demo\r\n"

_PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1><p>{text}</p></body></html>
"""

#: Nextcloud 30's status.php in maintenance mode, keys in Nextcloud's order
NEXTCLOUD_STATUS = {
    "installed": True,
    "maintenance": True,
    "needsDbUpgrade": False,
    "version": "30.0.4.1",
    "versionstring": "30.0.4",
    "edition": "",
    "productname": "Nextcloud",
    "extendedSupport": False,
}


def _html(title: str, text: str, status: int = 200, **headers: str) -> web.Response:
    return web.Response(text=_PAGE.format(title=title, text=text), status=status,
                        content_type="text/html", charset="utf-8", headers=headers)


def _site_app() -> web.Application:
    async def home(_request: web.Request) -> web.Response:
        return _html("Coopérative d'hébergement",
                     "Bienvenue sur le site de démonstration de la coopérative.")

    async def canary(_request: web.Request) -> web.Response:
        # what a PHP canary page querying the database would answer
        return web.json_response({"database": "ok", "php": "8.2.20", "query_ms": 3})

    app = web.Application()
    app.router.add_get("/", home)
    app.router.add_get("/canary.php", canary)
    return app


def _slow_app(delay: float) -> web.Application:
    async def home(_request: web.Request) -> web.Response:
        await asyncio.sleep(delay)
        return _html("Espace membre", "Connectez-vous pour gérer votre hébergement.")

    app = web.Application()
    app.router.add_get("/", home)
    return app


def _flaky_app(period: float) -> web.Application:
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def home(_request: web.Request) -> web.Response:
        if int((loop.time() - started) // period) % 2 == 0:
            return _html("Forum d'entraide", "Posez vos questions à la communauté.")
        return _html("502 Bad Gateway", "Le forum ne répond plus.", status=502)

    app = web.Application()
    app.router.add_get("/", home)
    return app


def _down_app() -> web.Application:
    async def home(_request: web.Request) -> web.Response:
        return _html("Service indisponible", "Les listes de diffusion sont en panne.",
                     status=503, **{"Retry-After": "300"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", home)
    return app


def _nextcloud_app() -> web.Application:
    async def status(_request: web.Request) -> web.Response:
        return web.json_response(NEXTCLOUD_STATUS)

    async def other(_request: web.Request) -> web.Response:
        return _html("Nextcloud", "Nextcloud est en maintenance.", status=503,
                     **{"X-Nextcloud-Maintenance-Mode": "1", "Retry-After": "120"})

    app = web.Application()
    app.router.add_get("/status.php", status)
    app.router.add_route("*", "/{tail:.*}", other)
    return app


@dataclass
class DemoTargets:
    """The running demo targets; :attr:`urls` maps a target name to its address."""

    host: str
    base_port: int
    urls: dict[str, str]
    _runners: list[web.AppRunner] = field(default_factory=list, repr=False)
    _tcp: asyncio.Server | None = field(default=None, repr=False)
    _tcp_clients: dict[asyncio.StreamWriter, asyncio.Task] = field(default_factory=dict,
                                                                    repr=False)
    _closed_socket: socket.socket | None = field(default=None, repr=False)

    def port(self, name: str) -> int:
        """The port of target ``name``."""
        return self.base_port + OFFSETS[name]

    async def close(self) -> None:
        """Stop every target and free its port."""
        if self._tcp is not None:
            self._tcp.close()
            clients = list(self._tcp_clients.items())
            for writer, _task in clients:
                writer.transport.abort()  # the handler then reads the end of stream and ends
            await asyncio.gather(*(task for _w, task in clients), return_exceptions=True)
            await self._tcp.wait_closed()
            self._tcp = None
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        if self._closed_socket is not None:
            self._closed_socket.close()
            self._closed_socket = None


async def _echo_handler(targets: DemoTargets, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> None:
    targets._tcp_clients[writer] = asyncio.current_task()  # type: ignore[assignment]
    try:
        writer.write(BANNER)
        await writer.drain()
        while line := await reader.readline():
            if line.strip().upper() == b"QUIT":
                writer.write(b"221 Bye\r\n")
                await writer.drain()
                break
            writer.write(line)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass  # the probe hangs up as soon as it has what it expects
    finally:
        targets._tcp_clients.pop(writer, None)
        writer.close()


async def start_demo_targets(host: str = "127.0.0.1", base_port: int = DEFAULT_BASE_PORT, *,
                             slow_delay: float = 3.0, flap_period: float = 120.0) -> DemoTargets:
    """Start every demo target on ``host``, ports ``base_port + OFFSETS[name]``.

    :param slow_delay: seconds the ``slow`` target waits before answering.
    :param flap_period: seconds the ``flaky`` target stays up, then down, and so on.
    :raises OSError: a port is already taken (the targets already started are stopped).
    """
    urls = {name: f"http://{host}:{base_port + offset}/" for name, offset in OFFSETS.items()}
    urls["nextcloud"] += "status.php"
    urls["echo"] = f"tcp://{host}:{base_port + OFFSETS['echo']}"
    urls["closed"] = f"tcp://{host}:{base_port + OFFSETS['closed']}"
    targets = DemoTargets(host, base_port, urls)
    apps = {"site": _site_app(), "slow": _slow_app(slow_delay), "flaky": _flaky_app(flap_period),
            "down": _down_app(), "nextcloud": _nextcloud_app()}
    try:
        for name, app in apps.items():
            # handler_cancellation: a probe that gives up on the slow target ends its handler
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5,
                                   handler_cancellation=True)
            await runner.setup()
            targets._runners.append(runner)
            await web.TCPSite(runner, host, targets.port(name)).start()
        targets._tcp = await asyncio.start_server(
            lambda r, w: _echo_handler(targets, r, w), host, targets.port("echo"))
        # bound but not listening: the kernel refuses connections, nobody else can listen
        closed = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        with contextlib.ExitStack() as guard:
            guard.callback(closed.close)
            closed.bind((host, targets.port("closed")))
            guard.pop_all()
        targets._closed_socket = closed
    except BaseException:
        await targets.close()
        raise
    return targets
