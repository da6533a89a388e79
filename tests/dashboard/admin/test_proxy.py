"""Signing in through a reverse proxy, against a real ``vigie run`` (waitress).

Requests come from 127.0.0.1 as nginx's would, with the headers nginx sets
(``X-Forwarded-For``: the visitor; ``X-Forwarded-Proto: https``). With
``server.trusted_proxy: 127.0.0.1`` Vigie counts failed logins per visitor and marks the
session cookie ``Secure``; without it those headers are ignored, and five made-up names
from "the proxy" must not lock the real volunteer out.
"""

from __future__ import annotations

import asyncio
import http.client
import logging
import re
import textwrap
import urllib.parse
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from dashboard.admin import accounts
from monitor.cli import cli
from monitor.runtime import run_from_path
from monitor.store import Store
from tests.conftest import free_port
from tests.dashboard.admin.conftest import PASSWORD, QUICK

GUESS = "not the password at all"


def write_config(folder: Path, port: int, server_extra: str = "") -> Path:
    """A configuration with one check; ``server_extra``: more lines of ``server:``."""
    server = "".join(f"  {line}\n" for line in server_extra.splitlines())
    config = folder / "vigie.yaml"
    config.write_text(f"data_dir: {folder / 'data'}\n"
                      f"server:\n  listen: '127.0.0.1:{port}'\n{server}" + textwrap.dedent(f"""\
        services:
          - id: web
            name: Web
            checks:
              - {{id: port, kind: tcp, host: 127.0.0.1, port: {free_port()}}}
        """))
    return config


@asynccontextmanager
async def running_vigie(tmp_path: Path, server_extra: str = ""):
    """``vigie run`` on a free port with the volunteer ``camille``; yields the port."""
    port = free_port()
    config = write_config(tmp_path, port, server_extra)
    (tmp_path / "data").mkdir()
    store = Store(f"sqlite:///{tmp_path / 'data' / 'vigie.sqlite'}")
    store.upgrade()
    with store.session() as session, session.begin():
        accounts.create_user(session, "camille", PASSWORD, passwords=QUICK)
    store.dispose()
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_from_path(config, ready=ready, stop=stop))
    try:
        await asyncio.wait_for(ready.wait(), timeout=20)
        yield port
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=20)


class Visitor:
    """A browser behind the proxy: keeps its cookies whatever their flags (the proxy
    speaks plain HTTP to Vigie), and records every ``Set-Cookie``."""

    def __init__(self, port: int, forwarded_for: str) -> None:
        self.port = port
        self.headers = {"X-Forwarded-For": forwarded_for, "X-Forwarded-Proto": "https",
                        "X-Forwarded-Host": "etat.example.coop"}
        self.cookies: dict[str, str] = {}
        self.set_cookies: list[str] = []

    def request(self, method: str, path: str, form: dict | None = None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = dict(self.headers)
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode()
        finally:
            connection.close()
        for value in response.headers.get_all("Set-Cookie") or []:
            self.set_cookies.append(value)
            name, _, rest = value.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return response.status, text

    def login(self, username: str, password: str) -> int:
        status, page = self.request("GET", "/admin/login")
        assert status == 200, page
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        status, _ = self.request("POST", "/admin/login", {
            "username": username, "password": password, "csrf_token": token})
        return status


def attempts(visitor: Visitor, names, password: str = GUESS) -> list[int]:
    return [visitor.login(name, password) for name in names]


NAMES = ("alix", "bao", "cyril", "dana", "eli")


async def test_behind_a_trusted_proxy_each_visitor_is_counted_and_the_cookie_is_secure(
        tmp_path, caplog):
    async with running_vigie(tmp_path, "trusted_proxy: 127.0.0.1") as port:
        guesser = Visitor(port, "198.51.100.7")
        with caplog.at_level(logging.WARNING, logger="dashboard.admin.auth"):
            assert await asyncio.to_thread(attempts, guesser, NAMES) == [401] * 5
            # the guessing visitor is stopped, even with a right password…
            assert await asyncio.to_thread(guesser.login, "camille", PASSWORD) == 429
            # …but the volunteer, from her own address, signs in
            volunteer = Visitor(port, "198.51.100.8")
            assert await asyncio.to_thread(volunteer.login, "camille", PASSWORD) == 303
    assert "failed login: user 'alix' from 198.51.100.7" in caplog.text
    session_cookie = [c for c in volunteer.set_cookies if c.startswith("session=")][-1]
    assert "; Secure" in session_cookie and "HttpOnly" in session_cookie


async def test_without_a_trusted_proxy_made_up_names_lock_nobody_out(tmp_path, caplog):
    async with running_vigie(tmp_path) as port:
        guesser = Visitor(port, "198.51.100.7")  # headers ignored: all from 127.0.0.1
        with caplog.at_level(logging.WARNING, logger="dashboard.admin.auth"):
            assert await asyncio.to_thread(attempts, guesser, NAMES + ("fanny",)) == [401] * 6
            volunteer = Visitor(port, "198.51.100.8")
            assert await asyncio.to_thread(volunteer.login, "camille", PASSWORD) == 303
            # the names are still counted
            assert await asyncio.to_thread(attempts, guesser, ["alix"] * 5) == [401] * 4 + [429]
    assert "from 198.51.100.7" not in caplog.text
    assert "failed login: user 'alix' from 127.0.0.1" in caplog.text
    # X-Forwarded-Proto is not believed either: plain HTTP on a loopback listener
    session_cookie = [c for c in volunteer.set_cookies if c.startswith("session=")][-1]
    assert "Secure" not in session_cookie


@pytest.mark.parametrize(("server_extra", "message"), [
    ("trusted_proxy: proxy.example.coop",
     "server.trusted_proxy: expected the proxy's IP address (e.g. 127.0.0.1) or *"),
    ("trusted_proxy: 127.0.0.1\ntrusted_proxy_headers: [x-real-ip]",
     "server.trusted_proxy_headers: unknown header 'x-real-ip'"),
    ("trusted_proxy: 127.0.0.1\ntrusted_proxy_headers: [forwarded, x-forwarded-for]",
     "cannot be trusted together"),
])
def test_config_check_refuses_bad_proxy_settings(tmp_path, server_extra, message):
    config = write_config(tmp_path, 8080, server_extra)
    result = CliRunner().invoke(cli, ["config", "check", str(config)])
    assert result.exit_code == 3, result.output
    assert message in result.output
    assert f"{config}:" in result.output


def test_config_check_accepts_the_documented_settings(tmp_path):
    config = write_config(tmp_path, 8080, "trusted_proxy: '::1'\n"
                                          "trusted_proxy_headers: [X-Forwarded-For]")
    result = CliRunner().invoke(cli, ["config", "check", str(config)])
    assert result.exit_code == 0, result.output
