"""The demo plugin: its local targets, its bundled configuration, and ``vigie demo``."""

from __future__ import annotations

import asyncio
import json
import random
import re
import socket
from collections.abc import Coroutine
from pathlib import Path

import aiohttp
import apprise
import dns.asyncquery
import dns.message
import dns.rcode
import pytest
from aiohttp import web
from click.testing import CliRunner
from yarl import URL

from dashboard.admin.passwords import Passwords
from docs_bridge.sources.markdown import read_folder
from monitor.config_loader import load_config
from monitor.plugins import (
    ProbeRegistry,
    build_plugin_manager,
    config_sections,
    plugin_commands,
)
from monitor.probe import Status
from monitor.runner import run_check
from monitor.store import Store
from plugins import apache_status, php_fpm
from plugins.demo.account import DEMO_USER, ensure_demo_account
from plugins.demo.alerts import KEEP
from plugins.demo.command import DEMO_CONFIG, demo_command, render_demo_config, run_demo
from plugins.demo.democonfig import CHECK_TCP, GUIDES_DIR, executable
from plugins.demo.feeder import FED_CHECK, MESSAGE, feed_heartbeat
from plugins.demo.targets import (
    DEFAULT_BASE_PORT,
    NEXTCLOUD_STATUS,
    OFFSETS,
    start_demo_targets,
)
from plugins.heartbeat import BeatBoard, HeartbeatProbe
from tests.conftest import ProbeClock, free_port, port_open
from tests.peers import Changes

HAS_CHECK_TCP = executable(str(CHECK_TCP))


def _free(port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):  # the DNS target takes both
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_base_port() -> int:
    """A base port whose demo target ports are all free."""
    for _ in range(100):
        base = random.randint(20000, 60000)
        if all(_free(base + offset) for offset in OFFSETS.values()):
            return base
    raise RuntimeError("no free port range for the demo targets")


@pytest.fixture(scope="module")
def plugin_manager():
    return build_plugin_manager()


@pytest.fixture(scope="module")
def registry(plugin_manager):
    """The probe kinds of every installed plugin, as ``vigie run`` loads them."""
    return ProbeRegistry.from_plugin_manager(plugin_manager)


@pytest.fixture
def load(registry, plugin_manager, tmp_path):
    """Load a configuration text (or the bundled file) as ``vigie run`` does."""
    def loader(text: str | None = None):
        path = DEMO_CONFIG
        if text is not None:
            path = tmp_path / "vigie-demo.yaml"
            path.write_text(text, encoding="utf-8")
        return load_config(path, registry, config_sections(plugin_manager))
    return loader


@pytest.fixture
async def session():
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as http:
        yield http


def _target_ports(check) -> set[int]:
    """The ports a check's options point at."""
    options = check.options
    ports = {getattr(options, key, None) for key in ("port", "smtp_port")}
    if getattr(options, "url", None):
        ports.add(URL(str(options.url)).port)
    for word in getattr(options, "command", ()):
        if word.isdigit() and int(word) > 1000:
            ports.add(int(word))
    return ports - {None}


def test_bundled_config_validates(load):
    config = load()
    assert 8 <= len(config.services) <= 10
    group_ids = {g.id for g in config.file.groups}
    for service in config.services:
        assert service.name.fr and service.name.en, service.id
        assert service.group in group_ids
        for check in service.checks:
            assert check.name.en, check.key
            assert 30 <= check.interval <= 60 and check.retry_interval == 10
    kinds = {c.ref.kind for c in config.checks}
    assert {"http", "tcp", "nextcloud", "sympa", "php_fpm", "apache_status", "smtp", "imap",
            "dns", "heartbeat", "nagios"} <= kinds
    assert not {"mysql", "postgresql"} & kinds  # a visitor's machine may have neither
    # every target the configuration probes is a demo target
    ports = set().union(*(_target_ports(c) for c in config.checks))
    assert ports == {DEFAULT_BASE_PORT + o for n, o in OFFSETS.items()
                     if n not in ("alerts", "helpdesk", "mailbox")}
    receiver = config.sections["notifications"].urls[0].url.get_secret_value()
    assert receiver == f"json://127.0.0.1:{DEFAULT_BASE_PORT + OFFSETS['alerts']}/alertes"
    desk = config.sections["helpdesk"].desk
    assert (desk.type, desk.host, desk.port, desk.security) == (
        "email", "127.0.0.1", DEFAULT_BASE_PORT + OFFSETS["helpdesk"], "none")
    mail = config.sections["mail"]
    assert (mail.host, mail.port, mail.security) == (
        "127.0.0.1", DEFAULT_BASE_PORT + OFFSETS["mailbox"], "none")
    assert mail.from_address.endswith("@demo.coop.test")
    assistance = config.sections["assistance"]
    assert assistance.enabled and assistance.desk == "tickets"
    assert config.file.incidents.quiet_period <= 120
    (window,) = config.file.maintenance
    assert window.recurring and window.services == ["listes"] and window.announce_before


def test_render_moves_only_the_target_ports(load):
    text = render_demo_config(12000, public_url="http://127.0.0.1:9090/",
                              available=lambda path: True)
    settings = "\n".join(line.split("#")[0] for line in text.splitlines())
    assert not re.search(r"\b87(0[1-9]|1[0-6])\b", settings), "a target port was left"
    assert "127.0.0.1:12000/" in settings and "port: 12005" in settings
    assert "port: 12008" in settings and "smtp_port: 12010" in settings
    assert "-p, 12005," in settings and "json://127.0.0.1:12013/alertes" in settings
    assert "listen: 127.0.0.1:8080" in settings  # Vigie's own port is --port's business
    config = load(text)
    assert len(config.checks) == len(load().checks)
    assert config.file.site.public_url == "http://127.0.0.1:9090/"
    assert config.data_dir == config.path.parent
    ports = set().union(*(_target_ports(c) for c in config.checks))
    assert ports == {12000 + o for n, o in OFFSETS.items()
                     if n not in ("alerts", "helpdesk", "mailbox")}
    assert config.sections["helpdesk"].desk.port == 12014
    assert config.sections["mail"].port == 12015


def test_render_leaves_the_nagios_check_out_without_monitoring_plugins(load):
    asked = []

    def missing(path: str) -> bool:
        asked.append(path)
        return False

    config = load(render_demo_config(available=missing))
    assert asked == [str(CHECK_TCP)]
    assert "nagios" not in {c.ref.kind for c in config.checks}
    assert len(config.checks) == len(load().checks) - 1
    assert config.service("messagerie").checks[-1].ref.kind == "tcp"


def test_rendered_guides_resolve_from_the_installed_package(load):
    config = load(render_demo_config())
    (source,) = config.sections["guides"].sources
    folder = Path(source.path)
    assert folder.is_absolute() and folder == GUIDES_DIR.resolve()
    # each guide names the demo services it is about (its front matter), and every demo
    # service but the forum has guides of its own
    pages = read_folder(folder)
    declared = {sid for page in pages for sid in page.services}
    service_ids = {s.id for s in config.services}
    assert service_ids - {"forum"} <= declared <= service_ids | {"bases-de-donnees"}


def _expected() -> dict[str, tuple[Status, str | None]]:
    expected = {
        "sites-web/accueil": (Status.UP, None),
        "sites-web/php-base": (Status.UP, None),
        "sites-web/apache": (Status.UP, None),
        "sites-web/php-fpm": (Status.UP, None),
        "espace-membre/web": (Status.DEGRADED, "http.slow"),
        "espace-membre/apache": (Status.DEGRADED, "apache.no_idle"),
        "espace-membre/php-fpm": (Status.DEGRADED, "php_fpm.listen_queue"),
        "dns/www": (Status.UP, None),
        "dns/mx": (Status.UP, None),
        "sauvegardes/quotidienne": (Status.UP, None),
        "sauvegardes/hors-site": (Status.DOWN, "heartbeat.never"),
        "nextcloud/status": (Status.MAINTENANCE, "nextcloud.maintenance"),
        "forum/web": (Status.UP, None),
        "listes/sympa": (Status.UP, None),
        "messagerie/smtp": (Status.UP, None),
        "messagerie/imap": (Status.UP, None),
        "messagerie/relais": (Status.UP, None),
        "webmail/web": (Status.DOWN, "http.status"),
        "webmail/sieve": (Status.DOWN, "connection.refused"),
    }
    if HAS_CHECK_TCP:
        expected["messagerie/relais-nagios"] = (Status.UP, "nagios.ok")
    return expected


async def test_targets_answer_what_the_demo_config_expects(registry, load, session):
    base = free_base_port()
    config = load(render_demo_config(base))
    slow = config.service("espace-membre").checks[0]
    # the real slow target answers after 3 s, well past the config's degraded_after
    assert slow.options.degraded_after < 3.0 < slow.timeout
    # heartbeats: the job reported 100 s after the start, the off-site copy never did;
    # judged 130 s after the start (past the copy's expected_every + grace)
    now = [1_000_000.0]
    board = BeatBoard(clock=lambda: now[0])
    beats = HeartbeatProbe(board)
    fed = next(c for c in config.checks if c.key == FED_CHECK)
    for check in config.service("sauvegardes").checks:
        board.watch(check.key, check.options)
    now[0] += 100
    assert board.record(fed.options.token.get_secret_value(), True, "ok")
    now[0] += 30

    def probe(check):
        return beats if check.ref.kind == "heartbeat" else registry.get(check.ref.kind).instance

    targets = await start_demo_targets("127.0.0.1", base,
                                       slow_delay=slow.options.degraded_after + 0.2)
    try:
        results = await asyncio.gather(*(run_check(check, probe(check), session)
                                         for check in config.checks))
    finally:
        await targets.close()
    got = {check.key: (result.status, result.reason.code if result.reason else None)
           for check, result in zip(config.checks, results)}
    assert got == _expected()
    by_key = dict(zip((c.key for c in config.checks), results))
    assert by_key["listes/sympa"].info == {"version": "6.2.72"}
    assert set(by_key["listes/sympa"].samples["sympa_layer_seconds"]) == {
        "web", "wsdl", "soap", "smtp"}
    # closed: every port is free again
    assert not any(port_open("127.0.0.1", base + offset) for offset in OFFSETS.values())


async def test_nextcloud_target_follows_the_real_shapes(session):
    base = free_base_port()
    targets = await start_demo_targets("127.0.0.1", base)
    try:
        async with session.get(targets.urls["nextcloud"]) as resp:
            assert resp.status == 200
            assert resp.content_type == "application/json"
            body = json.loads(await resp.text())
        assert list(body) == ["installed", "maintenance", "needsDbUpgrade", "version",
                              "versionstring", "edition", "productname", "extendedSupport"]
        assert body == NEXTCLOUD_STATUS and body["maintenance"] is True
        assert body["edition"] == "" and body["productname"] == "Nextcloud"
        async with session.get(f"http://127.0.0.1:{targets.port('nextcloud')}/index.php") as resp:
            assert resp.status == 503
            assert resp.headers["X-Nextcloud-Maintenance-Mode"] == "1"
            assert resp.headers["Retry-After"] == "120"
    finally:
        await targets.close()


async def test_sympa_target_follows_the_real_shapes(session):
    targets = await start_demo_targets("127.0.0.1", free_base_port())
    base = f"http://127.0.0.1:{targets.port('sympa')}"
    envelope = ('<?xml version="1.0"?><soap:Envelope '
                'xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
                '<{op} xmlns="urn:sympasoap"/></soap:Body></soap:Envelope>')
    try:
        async with session.get(f"{base}/sympa") as resp:
            assert resp.status == 200 and resp.content_type == "text/html"
            assert '<meta name="generator" content="Sympa 6.2.72" />' in await resp.text()
        async with session.get(f"{base}/sympa/wsdl") as resp:
            assert resp.status == 200 and resp.content_type == "text/xml"
            wsdl = await resp.text()
        assert f'targetNamespace="{base}/sympa/wsdl"' in wsdl
        assert f'<soap:address location="{base}/sympasoap"/>' in wsdl
        headers = {"Content-Type": "text/xml", "SOAPAction": '"urn:sympasoap#checkCookie"'}
        async with session.post(f"{base}/sympasoap", headers=headers,
                                data=envelope.format(op="checkCookie")) as resp:
            assert resp.status == 500 and resp.content_type == "text/xml"
            fault = await resp.text()
        assert "<faultcode>soap:Client</faultcode>" in fault
        assert "<faultstring>User not authenticated</faultstring>" in fault
        async with session.post(f"{base}/sympasoap", headers=headers,
                                data=envelope.format(op="lists")) as resp:
            assert resp.status == 500
            assert "Denied access to method" in await resp.text()
    finally:
        await targets.close()


async def test_status_pages_one_healthy_one_saturated(session):
    targets = await start_demo_targets("127.0.0.1", free_base_port())
    pages = {}
    try:
        for name in ("web1", "web2"):
            root = f"http://127.0.0.1:{targets.port(name)}"
            async with session.get(f"{root}/fpm-status?json") as resp:
                assert resp.content_type == "application/json"
                first = json.loads(await resp.text())
            async with session.get(f"{root}/fpm-status") as resp:
                assert resp.content_type == "text/plain"
                second = php_fpm.parse_status(await resp.read())
            async with session.get(f"{root}/server-status?auto") as resp:
                apache = apache_status.parse_status(await resp.read())
            pages[name] = first, second, apache
    finally:
        await targets.close()
    healthy, saturated = pages["web1"], pages["web2"]
    assert list(healthy[0])[:5] == ["pool", "process manager", "start time", "start since",
                                    "accepted conn"]
    assert healthy[0]["listen queue"] == 0 and healthy[0]["idle processes"] > 0
    assert int(healthy[2]["IdleWorkers"]) >= 5 and healthy[2]["ServerMPM"] == "event"
    assert saturated[0]["listen queue"] > 0 and saturated[0]["idle processes"] == 0
    assert saturated[1]["max children reached"] > saturated[0]["max children reached"]
    assert saturated[2]["IdleWorkers"] == "0" and int(saturated[2]["BusyWorkers"]) > 0
    assert saturated[2]["Scoreboard"].count("W") == int(saturated[2]["BusyWorkers"])


async def test_dns_target_answers_like_an_authoritative_server():
    targets = await start_demo_targets("127.0.0.1", free_base_port())
    port = targets.port("dns")
    try:
        ok = await dns.asyncquery.udp(dns.message.make_query("www.demo.coop.test", "A"),
                                      "127.0.0.1", port=port, timeout=2)
        missing = await dns.asyncquery.tcp(dns.message.make_query("nope.demo.coop.test", "A"),
                                           "127.0.0.1", port=port, timeout=2)
        elsewhere = await dns.asyncquery.udp(dns.message.make_query("example.org", "A"),
                                             "127.0.0.1", port=port, timeout=2)
    finally:
        await targets.close()
    assert ok.rcode() == dns.rcode.NOERROR and ok.answer[0].to_text().endswith("192.0.2.10")
    assert missing.rcode() == dns.rcode.NXDOMAIN and missing.authority[0].rdtype == 6  # SOA
    assert elsewhere.rcode() == dns.rcode.REFUSED and not elsewhere.answer


async def test_mail_greeters_refuse_what_they_do_not_do():
    targets = await start_demo_targets("127.0.0.1", free_base_port())
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", targets.port("smtp"))
        assert (await reader.readline()).startswith(b"220 ")
        writer.write(b"MAIL FROM:<a@example.org>\r\nQUIT\r\n")
        assert (await reader.readline()).startswith(b"502 ")
        assert (await reader.readline()).startswith(b"221 ")
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", targets.port("imap"))
        assert (await reader.readline()).startswith(b"* OK ")
        writer.write(b'a1 LOGIN "demo" "secret"\r\na2 LOGOUT\r\n')
        assert (await reader.readline()).startswith(b"a1 NO ")
        assert await reader.readline() == b"* BYE Logging out\r\n"
        assert (await reader.readline()).startswith(b"a2 OK ")
        writer.close()
    finally:
        await targets.close()


async def test_alert_receiver_records_apprise_posts(session):
    targets = await start_demo_targets("127.0.0.1", free_base_port())
    root = f"http://127.0.0.1:{targets.port('alerts')}"
    try:
        sender = apprise.Apprise()
        assert sender.add(f"json://127.0.0.1:{targets.port('alerts')}/alertes")
        # Apprise's json:// is synchronous (requests): keep it off the event loop
        sent = await asyncio.to_thread(
            sender.notify, title="🔴 Webmail : panne majeure",
            body="<b>Webmail</b> : panne\nPage : http://127.0.0.1:8080/incidents/1",
            notify_type=apprise.NotifyType.FAILURE)
        assert sent
        async with session.post(f"{root}/alertes", data=b"not json") as resp:
            assert resp.status == 400
        async with session.get(f"{root}/") as resp:
            assert resp.status == 200
            page = await resp.text()
        async with session.get(f"{root}/alertes.json") as resp:
            received = await resp.json()
        for n in range(KEEP + 5):
            async with session.post(f"{root}/alertes", json={"title": f"n{n}", "type": "info"}):
                pass
    finally:
        await targets.close()
    assert "Alertes reçues par les bénévoles" in page
    assert "🔴 Webmail : panne majeure" in page and 'class="failure"' in page
    assert "&lt;b&gt;Webmail&lt;/b&gt;" in page and "<b>Webmail" not in page
    assert '<a href="http://127.0.0.1:8080/incidents/1">' in page
    assert [(a["title"], a["type"]) for a in received] == [("🔴 Webmail : panne majeure",
                                                            "failure")]
    kept = [a.title for a in targets.inbox.alerts]
    assert len(kept) == KEEP and kept[-1] == f"n{KEEP + 4}"


async def test_heartbeat_feeder_beats_and_survives_a_refusal():
    beats: list[dict] = []
    changes = Changes()  # noted at each beat received and each beat's outcome

    async def push(request: web.Request) -> web.Response:
        beats.append({"token": request.match_info["token"], **(await request.post())})
        changes.note()
        return web.json_response({"ok": True, "status": "up"})

    def on_beat(ok: bool) -> None:
        results.append(ok)
        changes.note()

    app = web.Application()
    app.router.add_post("/push/{token}", push)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    results: list[bool] = []
    feeding = asyncio.create_task(feed_heartbeat(f"http://127.0.0.1:{port}/push/tok-1234",
                                                 every=0.05, on_beat=on_beat))
    try:
        await changes.wait(lambda: len(beats) >= 3)
        await runner.cleanup()  # Vigie stops: the feeder goes on
        await changes.wait(lambda: results and results[-1] is False)
        assert not feeding.done()
    finally:
        feeding.cancel()
        await asyncio.gather(feeding, return_exceptions=True)
        await runner.cleanup()
    assert beats[0] == {"token": "tok-1234", "status": "up", "msg": MESSAGE}
    assert results[:3] == [True, True, True]


def test_demo_account_gets_a_new_password_at_each_start(tmp_path):
    from dashboard.admin import accounts

    url = f"sqlite:///{tmp_path / 'vigie.sqlite'}"
    store = Store(url)
    store.upgrade()
    first = ensure_demo_account(url)
    second = ensure_demo_account(url)
    assert first != second and len(second) >= accounts.MIN_PASSWORD_LENGTH
    with store.session() as session, session.begin():
        assert accounts.authenticate(session, DEMO_USER, first, passwords=Passwords()) is None
        assert accounts.authenticate(session, DEMO_USER, second, passwords=Passwords()) is not None
        assert [u.username for u in accounts.list_users(session)] == [DEMO_USER]
    store.dispose()


async def test_flaky_target_alternates(session):
    clock = ProbeClock()
    targets = await start_demo_targets("127.0.0.1", free_base_port(), flap_period=0.2,
                                       clock=clock)
    try:
        statuses = []
        for _ in range(10):
            async with session.get(targets.urls["flaky"]) as resp:
                statuses.append(resp.status)
            clock.advance(0.07)
    finally:
        await targets.close()
    # up first, so a fresh demo starts green; then down and up again, 0.2 s each
    assert statuses == [200, 200, 200, 502, 502, 502, 200, 200, 200, 502]


async def test_echo_target_greets_and_echoes():
    targets = await start_demo_targets("127.0.0.1", free_base_port())
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", targets.port("echo"))
        assert (await reader.readline()).startswith(b"220 ")
        writer.write(b"bonjour\r\n")
        assert await reader.readline() == b"bonjour\r\n"
        writer.write(b"QUIT\r\n")
        assert await reader.readline() == b"221 Bye\r\n"
        assert await reader.read() == b""
        writer.close()
        # clients still connected do not stop the targets from closing
        _r, lingering = await asyncio.open_connection("127.0.0.1", targets.port("echo"))
        _r, idle_imap = await asyncio.open_connection("127.0.0.1", targets.port("imap"))
        _r, idle_dns = await asyncio.open_connection("127.0.0.1", targets.port("dns"))
    finally:
        await asyncio.wait_for(targets.close(), 2)
    for writer in (lingering, idle_imap, idle_dns):
        writer.close()


async def test_port_taken_is_reported_and_nothing_is_left_running():
    base = free_base_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", base + OFFSETS["dns"]))
        taken.listen()
        with pytest.raises(OSError):
            await start_demo_targets("127.0.0.1", base)
    assert not port_open("127.0.0.1", base + OFFSETS["site"])
    assert not port_open("127.0.0.1", base + OFFSETS["sympa"])


def test_demo_command_is_registered():
    commands = dict(plugin_commands(build_plugin_manager()))
    assert commands["demo"] is demo_command
    help_text = CliRunner().invoke(demo_command, ["--help"]).output
    for option in ("--host", "--port", "--data-dir", "--targets-port", "data/demo"):
        assert option in help_text


async def test_run_demo_serves_the_whole_product_until_stopped(tmp_path, session, monkeypatch):
    base, port = free_base_port(), free_port()
    ready, stop, lines = asyncio.Event(), asyncio.Event(), []
    beats, changes = [], Changes()

    def feed(url: str) -> Coroutine:  # the demo's feeder, telling the test each beat
        def on_beat(ok: bool) -> None:
            beats.append(ok)
            changes.note()
        return feed_heartbeat(url, on_beat=on_beat)

    monkeypatch.setattr("plugins.demo.command.feed_heartbeat", feed)
    vigie = f"http://127.0.0.1:{port}"
    task = asyncio.create_task(run_demo("127.0.0.1", port, tmp_path / "data", base,
                                        ready=ready, stop=stop, echo=lines.append))
    try:
        await asyncio.wait_for(ready.wait(), 15)
        assert port_open("127.0.0.1", base + OFFSETS["site"])
        # the account is made before Vigie starts, the first beat once it listens; Vigie
        # has taken the beat's result when it answers it
        assert any(line.lstrip().startswith("Autres comptes") for line in lines)
        await changes.wait(lambda: beats, within=15)
        assert beats == [True]
        async with session.get(f"{vigie}/metrics") as resp:
            assert resp.status == 200
            metrics = await resp.text()
        assert 'check="quotidienne"' in metrics.partition(
            "vigie_heartbeat_last_beat_timestamp_seconds{")[2][:200]
        async with session.get(f"{vigie}/") as resp:
            assert resp.status == 200
            status_page = await resp.text()
        async with session.get(f"{vigie}/guides/demo/nextcloud-maintenance") as resp:
            assert resp.status == 200
            assert "Nextcloud est en maintenance" in await resp.text()
        async with session.get(f"http://127.0.0.1:{base + OFFSETS['alerts']}/") as resp:
            assert resp.status == 200
            assert "Alertes reçues par les bénévoles" in await resp.text()
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
    assert "Coopérative de démonstration" in status_page
    assert 'vigie_check_up{' in metrics
    output = "\n".join(lines)
    for address in (f"{vigie}/", f"{vigie}/metrics", f"{vigie}/admin/",
                    f"http://127.0.0.1:{base}/", f"http://127.0.0.1:{base + OFFSETS['alerts']}/"):
        assert address in output
    config_path = tmp_path / "data" / "vigie-demo.yaml"
    assert f"vigie -c {config_path} user add" in output
    # the printed password opens the admin area's account
    password = re.search(rf"{DEMO_USER} / (\S+)", output).group(1)
    from dashboard.admin import accounts

    store = Store(f"sqlite:///{tmp_path / 'data' / 'vigie.sqlite'}")
    with store.session() as db, db.begin():
        assert accounts.authenticate(db, DEMO_USER, password, passwords=Passwords()) is not None
    store.dispose()
    # the configuration rendered for these ports was written to the data directory and used
    assert config_path.read_text() == render_demo_config(base, public_url=f"{vigie}/")
    assert not port_open("127.0.0.1", base + OFFSETS["site"])
