"""The nginx sample (deploy/nginx/vigie.conf): `nginx -t`, then the real nginx running the
sample in front of a stand-in Vigie, and in front of a real ``vigie run`` configured as
deploy/examples/cooperative.yaml says (``server.trusted_proxy: 127.0.0.1``).

The listen ports are moved to free ones on 127.0.0.1, the upstream to the local server,
the certificate to one made by trustme; nothing else of the sample is changed unless a
test says so.
"""

from __future__ import annotations

import asyncio
import http.client
import logging
import os
import re
import ssl
import subprocess
import textwrap
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from aiohttp import web

from dashboard.admin import accounts
from dashboard.admin.passwords import Passwords
from monitor.runtime import run_from_path
from monitor.store import Store
from tests.conftest import free_port, which_or_require
from tests.deploy.conftest import DEPLOY
from tests.peers import Process

NGINX_SITE = DEPLOY / "nginx" / "vigie.conf"
NGINX_MISSING = "nginx is missing (Debian package nginx-light)"


def nginx_setup(tmp_path: Path, site: str, cert: Path, key: Path,
                access_log: Path | None = None) -> Path:
    """A complete nginx.conf in ``tmp_path`` including ``site`` with local paths (and an
    access log in ``access_log``, off by default)."""
    site = (site.replace("/etc/letsencrypt/live/etat.example.coop/fullchain.pem", str(cert))
            .replace("/etc/letsencrypt/live/etat.example.coop/privkey.pem", str(key))
            .replace("/var/cache/nginx/vigie", str(tmp_path / "cache")))
    (tmp_path / "site.conf").write_text(site)
    for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi", "cache"):
        (tmp_path / name).mkdir(exist_ok=True)
    # started as root, nginx's workers would run as nobody, who cannot enter pytest's
    # private temporary directories
    user = "user root;" if os.geteuid() == 0 else ""
    conf = tmp_path / "nginx.conf"
    conf.write_text(textwrap.dedent(f"""\
        {user}
        pid {tmp_path}/nginx.pid;
        error_log {tmp_path}/error.log;
        error_log stderr notice;
        events {{}}
        http {{
            access_log {access_log or "off"};
            client_body_temp_path {tmp_path}/body;
            proxy_temp_path {tmp_path}/proxy;
            fastcgi_temp_path {tmp_path}/fastcgi;
            uwsgi_temp_path {tmp_path}/uwsgi;
            scgi_temp_path {tmp_path}/scgi;
            include {tmp_path}/site.conf;
        }}
        """))
    return conf


def local_site(upstream_port: int, https_port: int, http_port: int | None = None) -> str:
    """The sample with its listeners on 127.0.0.1 and its upstream on ``upstream_port``."""
    site = NGINX_SITE.read_text()
    return (site.replace("server 127.0.0.1:8080;", f"server 127.0.0.1:{upstream_port};")
            .replace("listen 80;", f"listen 127.0.0.1:{http_port or free_port()};")
            .replace("listen [::]:80;\n", "")
            .replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
            .replace("listen [::]:443 ssl http2;\n", ""))


@pytest.fixture
def certificate(tmp_path):
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("etat.example.coop", "127.0.0.1")
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.private_key_pem.write_to_path(str(key_path))
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    key_path.chmod(0o644)
    return ca, cert_path, key_path


@contextmanager
def running_nginx(nginx: str, conf: Path, tmp_path: Path) -> Iterator[Process]:
    """nginx in the foreground on ``conf``, once it listens (it starts its workers once
    its sockets are open, and says so on stderr); stopped (and its logs flushed) on
    exit."""
    process = Process(subprocess.Popen(
        [nginx, "-c", str(conf), "-p", str(tmp_path), "-g", "daemon off;"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    try:
        process.wait_line("start worker process", "nginx listening")
        yield process
    finally:
        process.stop()


class Client:
    """HTTPS requests to the local nginx for ``etat.example.coop``, trusting the test CA;
    cookies kept by hand (name → value), every ``Set-Cookie`` recorded."""

    def __init__(self, ca, port: int) -> None:
        self.context = ssl.create_default_context()
        ca.configure_trust(self.context)
        self.port = port
        self.cookies: dict[str, str] = {}
        self.set_cookies: list[str] = []

    def request(self, method: str, path: str, form: dict | None = None,
                headers: dict | None = None,
                raw: bytes | None = None) -> tuple[int, dict[str, str], str]:
        connection = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10,
                                                 context=self.context)
        sent = {"Host": "etat.example.coop", **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body: bytes | str | None = raw
        if form is not None:
            body = urllib.parse.urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            text = response.read().decode()
        finally:
            connection.close()
        for value in response.headers.get_all("Set-Cookie") or []:
            self.set_cookies.append(value)
            name, _, rest = value.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return response.status, dict(response.headers), text


async def stand_in_vigie(hits: list[str]) -> tuple[web.AppRunner, int]:
    """An aiohttp server recording the paths it is asked for."""
    async def handler(request: web.Request) -> web.Response:
        hits.append(request.path_qs)
        return web.Response(text=f"page {request.path}",
                            headers={"Cache-Control": "public, max-age=0, must-revalidate"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]


def test_nginx_sample_passes_nginx_t(tmp_path, certificate):
    nginx = which_or_require("nginx", NGINX_MISSING)
    _, cert, key = certificate
    conf = nginx_setup(tmp_path, NGINX_SITE.read_text(), cert, key)
    out = subprocess.run([nginx, "-t", "-c", str(conf), "-p", str(tmp_path)],
                         capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode == 0, out.stderr
    assert "test is successful" in out.stderr


def test_nginx_t_catches_a_broken_sample(tmp_path, certificate):
    nginx = which_or_require("nginx", NGINX_MISSING)
    _, cert, key = certificate
    conf = nginx_setup(tmp_path, NGINX_SITE.read_text().replace("proxy_cache vigie_cache;",
                                                                "proxy_cache vigie_cach;", 1),
                       cert, key)
    out = subprocess.run([nginx, "-t", "-c", str(conf), "-p", str(tmp_path)],
                         capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode != 0


async def test_nginx_sample_caches_the_page_and_restricts_metrics_and_admin(tmp_path, certificate):
    """The `allow 127.0.0.1` lines of /metrics are dropped so that this test (on
    127.0.0.1) is one of the addresses refused."""
    nginx = which_or_require("nginx", NGINX_MISSING)
    ca, cert, key = certificate
    hits: list[str] = []
    runner, upstream_port = await stand_in_vigie(hits)
    https_port = free_port()
    site = local_site(upstream_port, https_port)
    metrics_block = site.split("location = /metrics {", 1)[1].split("}", 1)[0]
    site = site.replace(metrics_block, metrics_block.replace("allow 127.0.0.1;", "")
                        .replace("allow ::1;", "").replace("allow 10.0.0.0/8;", ""))
    conf = nginx_setup(tmp_path, site, cert, key)
    try:
        with running_nginx(nginx, conf, tmp_path):
            client = Client(ca, https_port)
            status, headers, body = await asyncio.to_thread(client.request, "GET", "/")
            assert (status, body) == (200, "page /")
            assert headers["X-Cache-Status"] == "MISS"
            assert "max-age=63072000" in headers["Strict-Transport-Security"]
            status, headers, body = await asyncio.to_thread(client.request, "GET", "/")
            assert (status, headers["X-Cache-Status"]) == (200, "HIT")
            assert hits.count("/") == 1

            status, headers, _ = await asyncio.to_thread(client.request, "GET", "/admin/login")
            assert status == 200 and headers["Cache-Control"] == "no-store"
            await asyncio.to_thread(client.request, "GET", "/admin/login")
            assert hits.count("/admin/login") == 2  # never cached

            status, _, _ = await asyncio.to_thread(client.request, "GET", "/metrics")
            assert status == 403
            assert "/metrics" not in hits
            status, _, body = await asyncio.to_thread(client.request, "GET", "/healthz")
            assert (status, body) == (200, "page /healthz")  # 127.0.0.1 is allowed there
    finally:
        await runner.cleanup()


async def test_heartbeat_tokens_stay_out_of_the_access_log(tmp_path, certificate):
    """With an access log switched on for the whole site, ``/push/<token>`` is still
    served but never written to it."""
    nginx = which_or_require("nginx", NGINX_MISSING)
    ca, cert, key = certificate
    hits: list[str] = []
    runner, upstream_port = await stand_in_vigie(hits)
    https_port = free_port()
    access_log = tmp_path / "access.log"
    conf = nginx_setup(tmp_path, local_site(upstream_port, https_port), cert, key,
                       access_log=access_log)
    token = "hb_7Qx2SecretToken9"
    try:
        with running_nginx(nginx, conf, tmp_path):
            client = Client(ca, https_port)
            assert (await asyncio.to_thread(client.request, "GET", "/"))[0] == 200
            for path in (f"/push/{token}", f"/push/{token}?status=fail&msg=disk+full",
                         f"/push/{token}/fail"):
                status, _, _ = await asyncio.to_thread(client.request, "POST", path)
                assert status == 200, path
    finally:
        await runner.cleanup()
    assert sum(token in hit for hit in hits) == 3  # the pushes reached Vigie
    logged = access_log.read_text()
    assert '"GET / HTTP/1.1" 200' in logged  # the log works…
    assert token not in logged and "/push/" not in logged  # …and holds no token


async def test_assistance_forms_are_never_cached_and_take_15_mb_of_screenshots(tmp_path,
                                                                             certificate):
    """``/assistance`` pages hold a one-time token: every visitor gets Vigie's own page.
    A 15 MiB form reaches Vigie whole; 17 MiB is refused by nginx before Vigie sees it."""
    nginx = which_or_require("nginx", NGINX_MISSING)
    ca, cert, key = certificate
    received: list[tuple[str, int]] = []

    async def handler(request: web.Request) -> web.Response:
        size = 0
        while chunk := await request.content.readany():
            size += len(chunk)
        received.append((request.path, size))
        return web.Response(text="form", headers={"Cache-Control": "public, max-age=60"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    upstream = web.TCPSite(runner, "127.0.0.1", 0)
    await upstream.start()
    https_port = free_port()
    conf = nginx_setup(tmp_path, local_site(upstream._server.sockets[0].getsockname()[1],
                                            https_port), cert, key)
    try:
        with running_nginx(nginx, conf, tmp_path):
            client = Client(ca, https_port)
            assert (await asyncio.to_thread(client.request, "GET", "/assistance/"))[0] == 200
            status, headers, _ = await asyncio.to_thread(client.request, "GET", "/assistance/")
            assert status == 200 and "X-Cache-Status" not in headers
            assert [p for p, _ in received].count("/assistance/") == 2
            for mib, expected in ((15, 200), (17, 413)):
                body = b"x" * (mib * 1024 * 1024)
                status, _, _ = await asyncio.to_thread(
                    client.request, "POST", "/assistance/envoyer", None,
                    {"Content-Type": "multipart/form-data; boundary=b"}, body)
                assert status == expected, mib
            assert received[-1] == ("/assistance/envoyer", 15 * 1024 * 1024)
            assert len(received) == 3  # the 17 MiB one never reached Vigie
    finally:
        await runner.cleanup()


# In front of a real Vigie ----------------------------------------------------------------


async def test_a_real_vigie_behind_the_sample_sees_the_visitor_and_https(tmp_path, certificate,
                                                                         caplog):
    """``vigie run`` with ``server.trusted_proxy: 127.0.0.1`` (and no ``secure_cookies``,
    so that the flag can only come from ``X-Forwarded-Proto``): the session cookie is
    ``Secure``; a forged ``X-Forwarded-For`` does not change the address Vigie counts;
    and failed logins with made-up names from the proxy's address do not lock the
    volunteer out."""
    nginx = which_or_require("nginx", NGINX_MISSING)
    ca, cert, key = certificate
    vigie_port, https_port = free_port(), free_port()
    data = tmp_path / "data"
    data.mkdir()
    config = tmp_path / "vigie.yaml"
    config.write_text(textwrap.dedent(f"""\
        data_dir: {data}
        server:
          listen: 127.0.0.1:{vigie_port}
          trusted_proxy: 127.0.0.1
        services:
          - id: web
            name: Web
            checks:
              - {{id: port, kind: tcp, host: 127.0.0.1, port: {free_port()}}}
        """))
    store = Store(f"sqlite:///{data / 'vigie.sqlite'}")
    store.upgrade()
    with store.session() as session, session.begin():
        accounts.create_user(session, "camille", "a long enough pass phrase", passwords=Passwords())
    store.dispose()
    conf = nginx_setup(tmp_path, local_site(vigie_port, https_port), cert, key)

    def sign_in(client: Client, username: str, password: str, headers=None) -> int:
        status, _, page = client.request("GET", "/admin/login", headers=headers)
        assert status == 200, page
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        return client.request("POST", "/admin/login", {
            "username": username, "password": password, "csrf_token": token},
            headers=headers)[0]

    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_from_path(config, ready=ready, stop=stop))
    try:
        await asyncio.wait_for(ready.wait(), timeout=20)
        with running_nginx(nginx, conf, tmp_path), \
                caplog.at_level(logging.WARNING, logger="dashboard.admin.auth"):
            guesser = Client(ca, https_port)
            forged = {"X-Forwarded-For": "203.0.113.9"}
            for name in ("alix", "bao", "cyril", "dana", "eli", "fanny"):
                assert await asyncio.to_thread(sign_in, guesser, name, "wrong guess",
                                               forged) == 401
            volunteer = Client(ca, https_port)
            assert await asyncio.to_thread(sign_in, volunteer, "camille",
                                           "a long enough pass phrase") == 303
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=20)
    assert "failed login: user 'alix' from 127.0.0.1" in caplog.text
    assert "203.0.113.9" not in caplog.text
    session_cookie = [c for c in volunteer.set_cookies if c.startswith("session=")][-1]
    assert "; Secure" in session_cookie
