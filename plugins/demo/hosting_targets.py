"""Demo web servers' status pages: PHP-FPM's ``pm.status_path`` and Apache's
``/server-status``, for one healthy server and one saturated server.

Shapes as PHP-FPM 8.2 and Apache 2.4 (event MPM) print them (their documented status
pages): ``/fpm-status?json`` (or the plain-text ``key: value`` form without
``json``) and ``/server-status?auto`` (the first line is the server's name, then
``Key: value`` lines).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from aiohttp import web

from plugins.demo.web_targets import html_page


@dataclass
class ServerLoad:
    """What one demo web server reports; :meth:`saturated` and :meth:`healthy` build one."""

    name: str
    pool: str
    busy_workers: int
    idle_workers: int
    active_processes: int
    idle_processes: int
    listen_queue: int
    #: grows by this much at each status request (a saturated pool keeps hitting the limit)
    max_children_growth: int = 0
    started: float = field(default_factory=lambda: time.time() - 3 * 86400)
    requests: int = 0
    max_children_reached: int = 0

    @classmethod
    def healthy(cls, name: str = "web1.demo.coop.test") -> ServerLoad:
        """Plenty of idle Apache workers and PHP processes, nothing waiting."""
        return cls(name, "www", busy_workers=3, idle_workers=72, active_processes=2,
                   idle_processes=6, listen_queue=0)

    @classmethod
    def saturated(cls, name: str = "web2.demo.coop.test") -> ServerLoad:
        """Every Apache worker busy; every PHP process busy and requests queued."""
        return cls(name, "membres", busy_workers=150, idle_workers=0, active_processes=20,
                   idle_processes=0, listen_queue=14, max_children_growth=1,
                   max_children_reached=37)

    def fpm_status(self) -> dict[str, object]:
        """PHP-FPM's status fields, in PHP-FPM's order; counts one more request."""
        self.requests += 1
        self.max_children_reached += self.max_children_growth
        now = time.time()
        total = self.active_processes + self.idle_processes
        return {
            "pool": self.pool,
            "process manager": "dynamic",
            "start time": int(self.started),
            "start since": int(now - self.started),
            "accepted conn": 48210 + 17 * self.requests,
            "listen queue": self.listen_queue,
            "max listen queue": max(self.listen_queue * 2, 3),
            "listen queue len": 511,
            "idle processes": self.idle_processes,
            "active processes": self.active_processes,
            "total processes": total,
            "max active processes": total,
            "max children reached": self.max_children_reached,
            "slow requests": 0,
        }

    def apache_auto(self) -> str:
        """Apache's ``server-status?auto`` page."""
        uptime = int(time.time() - self.started)
        slots = self.busy_workers + self.idle_workers
        scoreboard = ("W" * self.busy_workers + "_" * self.idle_workers).ljust(
            max(slots, 150), ".")
        lines = [
            self.name,
            "ServerVersion: Apache/2.4.62 (Debian)",
            "ServerMPM: event",
            "Server Built: 2024-07-17T18:57:09",
            f"ServerUptimeSeconds: {uptime}",
            f"Load1: {0.12 if self.idle_workers else 7.85}",
            f"Total Accesses: {1_204_567 + self.requests}",
            f"Total kBytes: {3_912_114}",
            f"Uptime: {uptime}",
            f"ReqPerSec: {1_204_567 / max(uptime, 1):.6g}",
            f"BusyWorkers: {self.busy_workers}",
            "GracefulWorkers: 0",
            f"IdleWorkers: {self.idle_workers}",
            "Processes: 6",
            "Stopping: 0",
            f"Scoreboard: {scoreboard}",
        ]
        return "\n".join(lines) + "\n"


def web_server_app(load: ServerLoad) -> web.Application:
    """A web server's ``/fpm-status`` and ``/server-status`` pages."""
    async def fpm_status(request: web.Request) -> web.Response:
        fields = load.fpm_status()
        if "json" in request.query:
            return web.Response(text=json.dumps(fields), content_type="application/json")
        text = "".join(f"{key + ':':<21}{value}\n" for key, value in fields.items())
        return web.Response(text=text, content_type="text/plain")

    async def server_status(request: web.Request) -> web.Response:
        if "auto" in request.query:
            return web.Response(text=load.apache_auto(), content_type="text/plain",
                                charset="ISO-8859-1")
        return html_page(f"Apache Status — {load.name}",
                         "Page lisible par une machine : ajoutez <code>?auto</code>.")

    app = web.Application()
    app.router.add_get("/fpm-status", fpm_status)
    app.router.add_get("/server-status", server_status)
    return app
