"""Demo web sites: a healthy site, a slow one, one that flaps, one that is down, and a
Nextcloud in maintenance (aiohttp applications)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

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


def html_page(title: str, text: str, status: int = 200, **headers: str) -> web.Response:
    """A minimal French HTML page."""
    return web.Response(text=_PAGE.format(title=title, text=text), status=status,
                        content_type="text/html", charset="utf-8", headers=headers)


def site_app() -> web.Application:
    """A healthy site: ``/`` says "Bienvenue", ``/canary.php`` answers like a PHP page
    that queried its database."""
    async def home(_request: web.Request) -> web.Response:
        return html_page("Coopérative d'hébergement",
                         "Bienvenue sur le site de démonstration de la coopérative.")

    async def canary(_request: web.Request) -> web.Response:
        return web.json_response({"database": "ok", "php": "8.2.20", "query_ms": 3})

    app = web.Application()
    app.router.add_get("/", home)
    app.router.add_get("/canary.php", canary)
    return app


def slow_app(delay: float) -> web.Application:
    """The member panel, answering after ``delay`` seconds."""
    async def home(_request: web.Request) -> web.Response:
        await asyncio.sleep(delay)
        return html_page("Espace membre", "Connectez-vous pour gérer votre hébergement.")

    app = web.Application()
    app.router.add_get("/", home)
    return app


def flaky_app(period: float, clock: Callable[[], float] | None = None) -> web.Application:
    """The forum: up for ``period`` seconds, then 502 for as long, and so on, on ``clock``
    (the event loop's by default; a test passes one it moves)."""
    clock = clock or asyncio.get_running_loop().time
    started = clock()

    async def home(_request: web.Request) -> web.Response:
        if int((clock() - started) // period) % 2 == 0:
            return html_page("Forum d'entraide", "Posez vos questions à la communauté.")
        return html_page("502 Bad Gateway", "Le forum ne répond plus.", status=502)

    app = web.Application()
    app.router.add_get("/", home)
    return app


def down_app() -> web.Application:
    """The webmail: every address answers 503."""
    async def home(_request: web.Request) -> web.Response:
        return html_page("Service indisponible", "Le webmail est en panne.",
                         status=503, **{"Retry-After": "300"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", home)
    return app


def nextcloud_app() -> web.Application:
    """Nextcloud in maintenance: ``/status.php`` says so, other routes answer 503."""
    async def status(_request: web.Request) -> web.Response:
        return web.json_response(NEXTCLOUD_STATUS)

    async def other(_request: web.Request) -> web.Response:
        return html_page("Nextcloud", "Nextcloud est en maintenance.", status=503,
                         **{"X-Nextcloud-Maintenance-Mode": "1", "Retry-After": "120"})

    app = web.Application()
    app.router.add_get("/status.php", status)
    app.router.add_route("*", "/{tail:.*}", other)
    return app
