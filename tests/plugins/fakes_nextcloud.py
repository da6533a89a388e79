"""A stand-in Nextcloud serving the exact shapes of ../shared/REFERENCE.md ("Nextcloud").

Nextcloud cannot run here, so this aiohttp app answers ``status.php``, the serverinfo API
and a WebDAV ``PROPFIND`` the way Nextcloud does, including its error shapes: in
maintenance ``status.php`` still answers 200 with ``"maintenance": true`` while the other
routes answer 503 with ``X-Nextcloud-Maintenance-Mode: 1`` and ``Retry-After: 120``; an
internal error is a 500 with an empty body. It also checks what the probe sends (token
header, ``Depth: 0``, basic auth) and records every request.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field

from aiohttp import web

#: the states status.php can report (plus "error" and "html" for broken servers)
STATES = ("up", "maintenance", "needs_upgrade", "not_installed", "error", "html")

SABRE_NS = 'xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns"'


def status_body(state: str, version: str = "30.0.4.1", versionstring: str = "30.0.4",
                productname: str = "Nextcloud") -> bytes:
    """status.php's JSON, keys in Nextcloud's order, compact like PHP's json_encode."""
    values = {
        "installed": state != "not_installed",
        "maintenance": state == "maintenance",
        "needsDbUpgrade": state == "needs_upgrade",
        "version": version,
        "versionstring": versionstring,
        "edition": "",
        "productname": productname,
        "extendedSupport": False,
    }
    return json.dumps(values, separators=(",", ":")).encode()


def serverinfo_body() -> bytes:
    """A serverinfo answer (``format=json``) with the OCS envelope."""
    doc = {"ocs": {
        "meta": {"status": "ok", "statuscode": 200, "message": "OK"},
        "data": {
            "nextcloud": {
                "system": {
                    "version": "30.0.4.1", "theme": "", "enable_avatars": "yes",
                    "enable_previews": "yes", "memcache.local": "\\OC\\Memcache\\APCu",
                    "memcache.distributed": "none", "filelocking.enabled": "yes",
                    "memcache.locking": "\\OC\\Memcache\\Redis", "debug": "no",
                    "freespace": 412316860416, "cpuload": [0.42, 0.37, 0.31],
                    "cpunum": 4, "mem_total": 8029392, "mem_free": 2651744,
                    "swap_total": 2097148, "swap_free": 2097148,
                },
                "storage": {"num_users": 312, "num_files": 1849203, "num_storages": 330,
                            "num_storages_local": 2, "num_storages_home": 312,
                            "num_storages_other": 16},
                "shares": {"num_shares": 4012},
            },
            "server": {"webserver": "Apache/2.4.62 (Debian)", "php": {"version": "8.2.26"},
                       "database": {"type": "pgsql", "version": "15.10", "size": 2147483648}},
            "activeUsers": {"last5minutes": 7, "last1hour": 41, "last24hours": 188},
        },
    }}
    return json.dumps(doc, separators=(",", ":")).encode()


def multistatus_body(user: str) -> bytes:
    """A PROPFIND Depth 0 answer on the user's files root."""
    return (f'<?xml version="1.0"?>\n<d:multistatus {SABRE_NS} xmlns:oc="http://owncloud.org/ns" '
            f'xmlns:nc="http://nextcloud.org/ns"><d:response><d:href>/remote.php/dav/files/{user}/'
            '</d:href><d:propstat><d:prop><d:resourcetype><d:collection/></d:resourcetype>'
            '</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>'
            '</d:multistatus>\n').encode()


def sabre_error(exception: str, message: str) -> bytes:
    """SabreDAV's XML error document."""
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<d:error {SABRE_NS}>\n'
            f'  <s:exception>{exception}</s:exception>\n  <s:message>{message}</s:message>\n'
            '</d:error>\n').encode()


MAINTENANCE_HEADERS = {"X-Nextcloud-Maintenance-Mode": "1", "Retry-After": "120"}


@dataclass
class FakeNextcloud:
    """Settings of the fake instance; change them between requests to change its answers."""

    state: str = "up"
    productname: str = "Nextcloud"
    version: str = "30.0.4.1"
    versionstring: str = "30.0.4"
    serverinfo_token: str = "s3rverinfo-t0ken-for-tests"
    webdav_user: str = "vigie-probe"
    webdav_password: str = "Abcde-Fghij-Klmno-Pqrst-Uvwxy"
    #: maintenance switched on after status.php was read: only the other routes say so
    webdav_maintenance: bool = False
    #: seconds every answer waits (a hung PHP-FPM pool)
    delay: float = 0.0
    #: base address, set once the server listens
    url: str = ""
    #: requests seen: (method, path, headers)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def app(self) -> web.Application:
        """The aiohttp application serving this instance."""
        app = web.Application()
        app.router.add_get("/status.php", self._status)
        app.router.add_get("/ocs/v2.php/apps/serverinfo/api/v1/info", self._serverinfo)
        app.router.add_route("*", "/remote.php/dav/files/{user}/", self._webdav)
        app.middlewares.append(self._record)
        return app

    @web.middleware
    async def _record(self, request: web.Request, handler):
        self.requests.append((request.method, request.path_qs, dict(request.headers)))
        if self.delay:
            await asyncio.sleep(self.delay)  # slow peer
        return await handler(request)

    async def _status(self, request: web.Request) -> web.StreamResponse:
        if self.state == "error":
            # PHP's http_response_code(500) after an exception: nothing echoed
            return web.Response(status=500, body=b"", content_type="text/html")
        if self.state == "html":
            return web.Response(text="<!DOCTYPE html><html><body>Welcome to nginx!</body></html>",
                                content_type="text/html")
        body = status_body(self.state, self.version, self.versionstring, self.productname)
        return web.Response(body=body, headers={"Content-Type": "application/json",
                                                "Access-Control-Allow-Origin": "*"})

    async def _serverinfo(self, request: web.Request) -> web.StreamResponse:
        if self.state == "maintenance":
            return web.Response(status=503, headers=MAINTENANCE_HEADERS, text="")
        if request.headers.get("NC-Token") != self.serverinfo_token:
            return web.json_response({"message": "Unauthorized"}, status=401)
        if request.query.get("format") != "json":
            return web.Response(status=400, text="format=json expected by this fake")
        return web.Response(body=serverinfo_body(),
                            headers={"Content-Type": "application/json; charset=utf-8"})

    async def _webdav(self, request: web.Request) -> web.StreamResponse:
        xml = "application/xml; charset=utf-8"
        if self.state == "maintenance" or self.webdav_maintenance:
            return web.Response(status=503, headers={**MAINTENANCE_HEADERS, "Content-Type": xml},
                                body=sabre_error("Sabre\\DAV\\Exception\\ServiceUnavailable",
                                                 "System is in maintenance mode."))
        if request.method != "PROPFIND":
            return web.Response(status=405, headers={"Allow": "PROPFIND"})
        if request.headers.get("Depth") != "0":
            return web.Response(status=400, text="this fake only answers Depth: 0")
        if request.headers.get("Authorization") != self._basic() or \
                request.match_info["user"] != self.webdav_user:
            return web.Response(status=401, headers={
                "Content-Type": xml, "WWW-Authenticate": 'Basic realm="Nextcloud", charset="UTF-8"'},
                body=sabre_error("Sabre\\DAV\\Exception\\NotAuthenticated",
                                 "No public access to this resource., Username or password was "
                                 "incorrect, Username or password was incorrect"))
        await request.read()
        return web.Response(status=207, body=multistatus_body(self.webdav_user),
                            headers={"Content-Type": xml})

    def _basic(self) -> str:
        raw = f"{self.webdav_user}:{self.webdav_password}".encode()
        return "Basic " + base64.b64encode(raw).decode()
