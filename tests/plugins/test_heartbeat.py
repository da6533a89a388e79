"""The ``heartbeat`` push probe: its receiver (WSGI), its board and its verdicts."""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import aiohttp
import pytest
from pydantic import ValidationError
from waitress.server import create_server
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client

from monitor.config import Check, Config, FileConfig, LocalizedText, Service
from monitor.plugins import ProbeRegistry, build_plugin_manager
from monitor.probe import CheckRef, ProbeFailed, ProbeResult, Status
from monitor.runner import probe_context
from plugins import heartbeat
from plugins.heartbeat import HeartbeatConfig, HeartbeatProbe
from tests.conftest import free_port
from tests.peers import Process

TOKEN = "Zq3-backup-nightly-7f2c9e41"
OTHER_TOKEN = "Zq3-disabled-job-00000000"
DAY, HOUR = 86400.0, 3600.0


def make_check(check_id: str, token: str, enabled: bool = True) -> Check:
    """A resolved heartbeat check, as the config loader builds it."""
    config = HeartbeatConfig.model_validate({"token": token, "expected_every": "1d", "grace": "1h"})
    return Check(ref=CheckRef("backups", check_id, "heartbeat"), name=LocalizedText(fr=check_id),
                 interval=300.0, timeout=10.0, confirm=1, retry_interval=30.0,
                 options=config, enabled=enabled)


class StandInRuntime:
    """What the plugin uses of monitor.startup.StartupContext: config, probes, mount,
    submit_result."""

    def __init__(self, checks: list[Check]) -> None:
        service = Service("backups", LocalizedText(fr="Sauvegardes"), None, None, tuple(checks))
        self.config = Config(path=Path("vigie.yaml"), file=FileConfig(), services=(service,))
        pm = build_plugin_manager(load_entry_points=False, extra_plugins=[("heartbeat", heartbeat)])
        self.probes = ProbeRegistry.from_plugin_manager(pm)
        self.mounts: dict[str, object] = {}
        self.submitted: list[tuple[str, ProbeResult]] = []

    def mount(self, prefix: str, app) -> None:
        self.mounts[prefix] = app

    def submit_result(self, check_key: str, result: ProbeResult) -> None:
        self.submitted.append((check_key, result))

    @property
    def probe(self) -> HeartbeatProbe:
        return self.probes.get("heartbeat").instance


class Clock:
    """A settable clock for the board."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def runtime():
    """A stand-in runtime after ``vigie_startup``; its board runs on ``runtime.clock``."""
    rt = StandInRuntime([make_check("nightly", TOKEN),
                         make_check("old-job", OTHER_TOKEN, enabled=False)])
    heartbeat.vigie_startup(rt)
    rt.clock = Clock()
    rt.probe.board.clock = rt.clock
    yield rt
    heartbeat.vigie_shutdown(rt)


@pytest.fixture
def client(runtime) -> Client:
    """werkzeug's test client on the mounted app, under /push as the runtime's router does."""
    return Client(DispatcherMiddleware(NotFound(), dict(runtime.mounts)))


async def judge(rt: StandInRuntime) -> ProbeResult:
    """Run the probe for the ``nightly`` check as the scheduler would."""
    check = rt.config.checks[0]
    async with aiohttp.ClientSession() as http:
        ctx = probe_context(check.ref, check.timeout, http)
        try:
            return await rt.probe.check(check.options, ctx)
        except ProbeFailed as failed:
            return ProbeResult(failed.status, failed.reason)


def test_startup_mounts_the_receiver_only_for_enabled_heartbeat_checks():
    rt = StandInRuntime([make_check("nightly", TOKEN)])
    heartbeat.vigie_startup(rt)
    assert list(rt.mounts) == ["/push"]
    assert rt.probe.board is not None
    heartbeat.vigie_shutdown(rt)
    assert rt.probe.board is None

    idle = StandInRuntime([make_check("off", TOKEN, enabled=False)])
    heartbeat.vigie_startup(idle)
    assert idle.mounts == {}


async def test_beat_ok_is_up(runtime, client):
    answer = client.post(f"/push/{TOKEN}")
    assert answer.status_code == 200
    assert answer.json == {"ok": True, "status": "up"}
    result = await judge(runtime)
    assert result.status == Status.UP
    assert result.reason is None
    assert result.samples == {"heartbeat_last_beat_timestamp_seconds": runtime.clock.now}
    assert [(key, r.status) for key, r in runtime.submitted] == [("backups/nightly", Status.UP)]


async def test_restart_counts_as_a_beat_until_the_first_one(runtime):
    waiting = await judge(runtime)
    assert waiting.status == Status.UP
    assert waiting.reason.code == "heartbeat.waiting"
    runtime.clock.now += DAY + HOUR - 60
    assert (await judge(runtime)).status == Status.UP
    runtime.clock.now += 120
    never = await judge(runtime)
    assert never.status == Status.DOWN
    assert never.reason.code == "heartbeat.never"
    assert never.reason.en.endswith("(expected every day)")
    assert never.reason.fr.endswith("(attendu tous les jours)")


async def test_no_beat_past_grace_is_down(runtime, client):
    client.post(f"/push/{TOKEN}")
    runtime.clock.now += DAY + HOUR - 1
    assert (await judge(runtime)).status == Status.UP
    runtime.clock.now += 2
    late = await judge(runtime)
    assert late.status == Status.DOWN
    assert late.reason.code == "heartbeat.late"
    assert late.reason.en == "No beat from the job for 1 day 1 hour (expected every day)"
    assert late.reason.fr == "Aucun signal de la tâche depuis 1 jour 1 heure (attendu tous les jours)"
    # the next beat brings it back at once
    client.post(f"/push/{TOKEN}")
    assert (await judge(runtime)).status == Status.UP


async def test_failed_beat_is_down_with_its_message_kept_as_text(runtime, client):
    message = "<script>alert(1)</script> disque plein"
    answer = client.post(f"/push/{TOKEN}", data={"status": "fail", "msg": message})
    assert answer.status_code == 200
    assert answer.json == {"ok": True, "status": "fail"}
    result = await judge(runtime)
    assert result.status == Status.DOWN
    assert result.reason.code == "heartbeat.failed"
    assert result.reason.en == f"The job reported a failure: {message}"
    assert result.reason.fr == f"La tâche a signalé un échec : {message}"
    assert not result.reason.public  # the job's words: volunteers only
    # shown at once, not at the next scheduled run
    key, pushed = runtime.submitted[-1]
    assert (key, pushed.status, pushed.reason) == ("backups/nightly", Status.DOWN, result.reason)


async def test_get_with_query_fields_and_head(runtime, client):
    assert client.get(f"/push/{TOKEN}?status=down&msg=rsync%20exit%2023").status_code == 200
    result = await judge(runtime)
    assert result.reason.en == "The job reported a failure: rsync exit 23"
    head = client.head(f"/push/{TOKEN}")
    assert head.status_code == 200 and head.data == b""
    assert (await judge(runtime)).status == Status.UP


async def test_message_is_cut_and_flattened(runtime, client):
    client.post(f"/push/{TOKEN}", data={"status": "down", "msg": "ligne 1\nligne\t2\x00 " + "x" * 500})
    result = await judge(runtime)
    text = result.reason.en.removeprefix("The job reported a failure: ")
    assert len(text) == heartbeat.MAX_MESSAGE
    assert text.startswith("ligne 1 ligne 2 xxx") and text.endswith("…")


def test_refusals(client):
    unknown = client.post("/push/Zq3-backup-nightly-7f2c9e42")
    assert unknown.status_code == 404
    assert unknown.json == {"error": "unknown token"}
    assert client.post("/push/").status_code == 404
    assert client.post(f"/push/{OTHER_TOKEN}").status_code == 404  # its check is disabled
    bad_status = client.post(f"/push/{TOKEN}", data={"status": "maybe"})
    assert bad_status.status_code == 400
    assert client.put(f"/push/{TOKEN}").status_code == 405
    too_big = client.post(f"/push/{TOKEN}", data={"msg": "x" * 20000})
    assert too_big.status_code == 413
    assert client.get(f"/push/{TOKEN}?msg=" + "x" * 20000).status_code == 413


async def test_the_token_never_appears_in_logs_or_results(runtime, client, caplog):
    caplog.set_level(logging.DEBUG)
    near_miss = TOKEN[:-1] + "X"
    answers = [client.post(f"/push/{TOKEN}"),
               client.post(f"/push/{near_miss}"),
               client.post(f"/push/{TOKEN}", data={"status": "fail", "msg": "disk full"})]
    heartbeat.vigie_shutdown(runtime)
    heartbeat.vigie_startup(runtime)
    result = await judge(runtime)
    with pytest.raises(ValidationError) as invalid:
        HeartbeatConfig.model_validate({"token": "short-secret", "expected_every": "1d"})
    assert "unknown token" in caplog.text  # the refusal was logged…
    assert "reported fail" in caplog.text
    seen = caplog.text + str(invalid.value) + repr(runtime.config) + repr(result)
    seen += "".join(a.get_data(as_text=True) for a in answers)
    seen += " ".join(f"{r.reason.fr} {r.reason.en}" for _, r in runtime.submitted if r.reason)
    for secret in (TOKEN, near_miss, "short-secret"):
        assert secret not in seen  # …without the token


def test_unknown_token_warnings_are_throttled(client, caplog):
    caplog.set_level(logging.WARNING)
    for _ in range(5):
        client.post("/push/Zq3-nobody-has-this-token")
    assert caplog.text.count("unknown token") == 1


def test_token_file_and_config_errors(tmp_path):
    secret = tmp_path / "token"
    secret.write_text(TOKEN + "\n")
    config = HeartbeatConfig.model_validate({"token_file": str(secret), "expected_every": "1d"})
    assert config.token.get_secret_value() == TOKEN
    assert config.grace == HOUR
    for bad in ({"token": TOKEN}, {"token": "has spaces in the token!", "expected_every": "1h"},
                {"token": TOKEN, "expected_every": "1d", "grace": "soon"}):
        with pytest.raises(ValidationError):
            HeartbeatConfig.model_validate(bad)


async def test_outside_vigie_run_the_probe_cannot_judge():
    check = make_check("nightly", TOKEN)
    async with aiohttp.ClientSession() as http:
        with pytest.raises(ProbeFailed) as failed:
            await HeartbeatProbe().check(check.options, probe_context(check.ref, 10.0, http))
    assert failed.value.status == Status.UNKNOWN
    assert failed.value.reason.code == "heartbeat.no_receiver"


async def test_real_http_server_and_a_short_deadline(runtime):
    """A waitress server in a thread, beats over real HTTP, and a short deadline passing on
    the board's clock (the test moves it)."""
    check = make_check("fast", TOKEN)
    short = check.options.model_copy(update={"expected_every": 0.2, "grace": 0.1})
    runtime.probe.board.watch(check.key, short)
    server = create_server(DispatcherMiddleware(NotFound(), dict(runtime.mounts)),
                           host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.effective_port}/push"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{base}/{TOKEN}", data={"status": "up"}) as answer:
                assert answer.status == 200
                assert json.loads(await answer.read()) == {"ok": True, "status": "up"}
            async with http.get(f"{base}/not-a-real-token-at-all") as answer:
                assert answer.status == 404
            ctx = probe_context(check.ref, 1.0, http)
            assert (await runtime.probe.check(short, ctx)).status == Status.UP
            runtime.clock.now += 0.29  # within expected_every and its grace: still up
            assert (await runtime.probe.check(short, ctx)).status == Status.UP
            runtime.clock.now += 0.02
            late = await runtime.probe.check(short, ctx)
            assert late.status == Status.DOWN
            assert late.reason.code == "heartbeat.late"
    finally:
        server.close()
        server.task_dispatcher.shutdown()
        thread.join(5)


def test_registered_through_the_plugin_hooks():
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[("heartbeat", heartbeat)])
    assert ProbeRegistry.from_plugin_manager(pm).get("heartbeat").probe_class is HeartbeatProbe
    assert pm.hook.vigie_startup.get_hookimpls() and pm.hook.vigie_shutdown.get_hookimpls()


# How often beats are kept (one stored beat per check per period) ----------------------


def test_period_is_half_the_expected_rate_at_most_the_interval():
    config = HeartbeatConfig.model_validate({"token": TOKEN, "expected_every": "1d"})
    assert heartbeat.beat_period(config, 300.0) == 300.0
    fast = HeartbeatConfig.model_validate({"token": TOKEN, "expected_every": "1m"})
    assert heartbeat.beat_period(fast, 300.0) == 30.0


async def test_repeated_beats_are_refused_with_retry_after(runtime, client):
    period = heartbeat.beat_period(runtime.config.checks[0].options, 300.0)
    assert client.post(f"/push/{TOKEN}").status_code == 200
    runtime.clock.now += 100
    again = client.post(f"/push/{TOKEN}")
    assert again.status_code == 429
    assert again.headers["Retry-After"] == str(int(period - 100))
    assert again.json["retry_after"] == int(period - 100)
    assert "too many beats" in again.json["error"]
    assert again.headers["Content-Type"] == "application/json"
    runtime.clock.now += 0.5
    assert client.post(f"/push/{TOKEN}").headers["Retry-After"] == str(int(period - 100))
    # only the first beat was stored; the refused ones did not move the last beat either
    assert len(runtime.submitted) == 1
    first = runtime.submitted[0][1].samples["heartbeat_last_beat_timestamp_seconds"]
    assert runtime.probe.board.last_beat("backups/nightly").at == first
    # a new period: stored again
    runtime.clock.now += period
    assert client.post(f"/push/{TOKEN}").status_code == 200
    assert len(runtime.submitted) == 2


async def test_a_change_of_status_within_the_period_is_never_lost(runtime, client):
    assert client.post(f"/push/{TOKEN}").status_code == 200
    runtime.clock.now += 1
    failed = client.post(f"/push/{TOKEN}", data={"status": "fail", "msg": "disk full"})
    assert failed.status_code == 200  # a change: taken and stored at once
    assert [r.status for _, r in runtime.submitted] == [Status.UP, Status.DOWN]
    runtime.clock.now += 1
    assert client.post(f"/push/{TOKEN}", data={"status": "fail"}).status_code == 429
    # a second change in the same period is taken (the board, so the next scheduled run
    # stores it) but not stored at once: a job flapping on purpose writes nothing more
    runtime.clock.now += 1
    assert client.post(f"/push/{TOKEN}").status_code == 200
    assert [r.status for _, r in runtime.submitted] == [Status.UP, Status.DOWN]
    assert (await judge(runtime)).status == Status.UP
    runtime.clock.now += 1
    assert client.post(f"/push/{TOKEN}", data={"status": "fail"}).status_code == 200
    assert client.post(f"/push/{TOKEN}").status_code == 200
    assert len(runtime.submitted) == 2


def test_a_flood_stores_at_most_two_beats_per_period(runtime, client):
    # a job flapping on purpose: every change is taken on the board, two are stored
    statuses = []
    for i in range(2000):
        state = "up" if i % 3 else "fail"
        statuses.append(client.post(f"/push/{TOKEN}", data={"status": state}).status_code)
        runtime.clock.now += 0.01
    assert len(runtime.submitted) == 2
    assert statuses.count(429) == 666  # the repeated "up" of each three
    assert runtime.probe.board.last_beat("backups/nightly").ok  # the last word counts


def test_refused_beats_are_logged_once_a_minute(runtime, client, caplog):
    caplog.set_level(logging.WARNING)
    for _ in range(5):
        client.post(f"/push/{TOKEN}")
    assert caplog.text.count("too many beats for backups/nightly") == 1
    assert TOKEN not in caplog.text


def test_the_limiter_keeps_no_state_per_unknown_token(runtime, client):
    board = runtime.probe.board
    before = len(board._watches)
    for i in range(500):
        assert client.post(f"/push/Zq3-flood-{i:08d}-unknown").status_code == 404
    assert len(board._watches) == before


def test_a_flood_of_beats_over_a_real_listener_stores_two_rows(tmp_path):
    """`vigie run` with its real listener and SQLite store: 200 beats stored at most twice
    (the first, and the first change of status), the rest answered 429."""
    port = free_port()
    config = tmp_path / "vigie.yaml"
    config.write_text(
        "scheduler: {spread_first_runs: false}\n"
        "store: {flush_interval: 0.2s}\n"
        f"server: {{listen: '127.0.0.1:{port}'}}\n"
        "plugins: {blocked: [demo]}\n"
        "services:\n"
        "  - id: backups\n"
        "    name: Sauvegardes\n"
        "    checks:\n"
        f"      - {{id: nightly, kind: heartbeat, token: {TOKEN}, expected_every: 1d,\n"
        "          interval: 1h, retry_interval: 1h}\n")
    vigie = Process(subprocess.Popen(
        [sys.executable, "-m", "monitor", "-c", str(config), "run"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    base = f"http://127.0.0.1:{port}/push/{TOKEN}"
    answers: list[tuple[int, str | None]] = []
    try:
        vigie.wait_line("listening on", "the listener up")
        assert _post(base, b"")[0] == 200  # the first beat: stored
        for _ in range(200):
            answers.append(_post(base, b""))
        answers.append(_post(base, b"status=fail&msg=disk+full"))
        answers.append(_post(base, b"status=fail&msg=disk+full"))
    finally:
        output = vigie.stop()
    assert vigie.proc.returncode == 0, output
    assert {code for code, _ in answers[:200]} == {429}
    assert all(retry is not None and int(retry) > 3000 for _, retry in answers[:200])
    assert answers[200][0] == 200  # a change of status: stored at once
    assert answers[201][0] == 429
    with sqlite3.connect(tmp_path / "data" / "vigie.sqlite") as db:
        stored = [row[0] for row in db.execute("SELECT status FROM results ORDER BY id")]
    # the scheduled run at start, the first beat, the failure: nothing of the flood
    assert len(stored) == 3, stored
    assert Status(stored[-1]) == Status.DOWN


def _post(url: str, body: bytes) -> tuple[int, str | None]:
    request = urllib.request.Request(url, data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.headers.get("Retry-After")
    except urllib.error.HTTPError as refused:
        return refused.code, refused.headers.get("Retry-After")




def test_a_late_job_is_said_in_words_in_both_languages():
    """Issue 13: "il y a 2m20s (attendu toutes les 1m)" — durations now read as words."""
    from plugins.heartbeat import Beat, HeartbeatConfig, _judge, _Watch

    config = HeartbeatConfig(token="t" * 24, expected_every=60, grace=30)
    watch = _Watch(check_key="job", digest=b"", config=config, since=0.0, period=60.0,
                   last=Beat(at=1000.0, ok=True, message=""))
    late = _judge(watch, 1140.0)
    assert late.reason.fr == ("Aucun signal de la tâche depuis 2 minutes 20 secondes "
                              "(attendu toutes les minutes)")
    assert late.reason.en == ("No beat from the job for 2 minutes 20 seconds "
                              "(expected every minute)")
