"""A real ``vigie run`` mailing 1,000 subscribers is killed with SIGKILL in the middle of
sending, then started again: every subscriber ends with exactly one "opened" mail, and
later one "resolved" mail in the same thread.

The mails go to a local SMTP server (aiosmtpd) that records what it accepts. In the first
test the server holds its answer to the 301st message while the test kills Vigie: the
process dies with a mail in flight that the server never accepted, the ledger holding the
300 accepted before it. The second test kills Vigie at whatever point it has reached once
300 mails are accepted — possibly the one moment the ledger cannot cover (a mail accepted,
its ledger row not yet committed): at most that one mail is sent again, as the same
message (same Message-ID).
"""

from __future__ import annotations

import asyncio
import secrets
import signal
import subprocess
import sys
import threading
from collections import Counter
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import insert

from monitor.store import Store
from monitor.subscriptions.models import Subscriber
from tests.conftest import free_port
from tests.peers import Process, wait_until

ROOT = Path(__file__).resolve().parents[3]
SUBSCRIBERS = 1000
KILL_AT = 300


class Recorder:
    """The SMTP server's handler: keeps (recipient, Subject, Message-ID, In-Reply-To) of
    each message accepted; ``hold_after`` messages accepted, it holds its answer to the
    next one until :attr:`release` is set (then answers "try later")."""

    def __init__(self, hold_after: int | None = None) -> None:
        self.accepted: list[tuple[str, str, str, str | None]] = []
        self.hold_after = hold_after
        self.holding = threading.Event()
        self.release = threading.Event()
        self.changed = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        if self.hold_after is not None and len(self.accepted) >= self.hold_after:
            self.hold_after = None
            with self.changed:
                self.holding.set()
                self.changed.notify_all()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait)
            return "451 4.3.0 Try again later"
        message = BytesParser(policy=policy.default).parsebytes(envelope.content,
                                                                headersonly=True)
        with self.changed:
            for to in envelope.rcpt_tos:
                self.accepted.append((to, message["Subject"], message["Message-ID"],
                                      message["In-Reply-To"]))
            self.changed.notify_all()
        return "250 Message accepted"

    def count(self) -> int:
        with self.changed:
            return len(self.accepted)


class Target(BaseHTTPRequestHandler):
    """The monitored site: failing while :attr:`failing` is set."""

    failing = False

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(500 if Target.failing else 200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def target():
    Target.failing = False
    server = ThreadingHTTPServer(("127.0.0.1", 0), Target)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def write_config(tmp_path: Path, smtp_port: int, target_port: int) -> Path:
    path = tmp_path / "vigie.yaml"
    path.write_text(f"""\
data_dir: data
server: {{listen: '127.0.0.1:{free_port()}'}}
scheduler: {{spread_first_runs: false}}
store: {{flush_interval: 0.1s}}
incidents: {{quiet_period: 1s}}
site: {{public_url: "https://etat.example.coop"}}
mail: {{host: 127.0.0.1, port: {smtp_port}, security: none,
        from_address: "etat@example.coop"}}
subscriptions: {{send_rate: 2000, batch_size: 200}}
services:
  - id: web
    name: {{fr: Hébergement web, en: Web hosting}}
    checks:
      - {{id: http, kind: http, url: 'http://127.0.0.1:{target_port}/', interval: 0.2s,
          confirm: 1, retry_interval: 0.2s}}
""")
    return path


def subscribe_all(tmp_path: Path, count: int) -> list[str]:
    """``count`` confirmed subscribers written straight into the database (migrated
    first); their addresses."""
    store = Store(f"sqlite:///{tmp_path / 'data' / 'vigie.sqlite'}")
    store.upgrade()
    addresses = [f"member{n:04d}@example.org" for n in range(count)]
    rows = [dict(email=a, email_key=a, language="fr" if n % 3 else "en", everything=True,
                 services=[], groups=[], state="confirmed",
                 manage_token=secrets.token_urlsafe(32), requests=1, created_at=1.0,
                 confirmed_at=1.0, updated_at=1.0, failures=0)
            for n, a in enumerate(addresses)]
    with store.write_session() as s, s.begin():
        s.execute(insert(Subscriber), rows)
    store.dispose()
    return addresses


def start(config: Path) -> Process:
    return Process(subprocess.Popen([sys.executable, "-m", "monitor", "-c", str(config), "run"],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, cwd=ROOT))


def by_recipient(recorder: Recorder) -> dict[str, list[tuple[str, str, str | None]]]:
    out: dict[str, list[tuple[str, str, str | None]]] = {}
    with recorder.changed:
        for to, subject, message_id, reply_to in recorder.accepted:
            out.setdefault(to, []).append((subject, message_id, reply_to))
    return out


def opened(subject: str) -> bool:
    return subject.startswith(("Incident : ", "Incident: "))


def resolved(subject: str) -> bool:
    return subject.startswith(("Incident résolu : ", "Incident resolved: "))


def smtp_server(recorder: Recorder) -> tuple[Controller, int]:
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, port


def test_sigkill_while_mailing_1000_subscribers_sends_each_one_mail_once(tmp_path, target):
    recorder = Recorder(hold_after=KILL_AT)
    controller, port = smtp_server(recorder)
    addresses = subscribe_all(tmp_path, SUBSCRIBERS)
    config = write_config(tmp_path, port, target)
    vigie = start(config)
    try:
        Target.failing = True  # the site fails: an incident opens, 1,000 mails to send
        wait_until(recorder.changed, recorder.holding.is_set, "301st mail in flight", 120)
        assert recorder.count() == KILL_AT
        vigie.stop(signal.SIGKILL)  # in the middle of sending, a mail in flight
        assert vigie.proc.returncode == -signal.SIGKILL
        recorder.release.set()
        vigie = start(config)  # the incident is still open: the batches are taken up again
        wait_until(recorder.changed, lambda: len(recorder.accepted) >= SUBSCRIBERS,
                   "every opened mail", 300)
        mails = by_recipient(recorder)
        assert sorted(mails) == addresses
        assert all(len(m) == 1 and opened(m[0][0]) for m in mails.values())
        assert len({m[0][1] for m in mails.values()}) == SUBSCRIBERS  # one Message-ID each

        Target.failing = False  # back: resolved after the quiet period
        wait_until(recorder.changed, lambda: len(recorder.accepted) >= 2 * SUBSCRIBERS,
                   "every resolved mail", 300)
        mails = by_recipient(recorder)
        for address in addresses:
            [(first, root, none), (second, _, reply_to)] = mails[address]
            assert opened(first) and none is None
            assert resolved(second) and reply_to == root  # the same thread
        assert recorder.count() == 2 * SUBSCRIBERS
    finally:
        recorder.release.set()
        output = vigie.stop()
        controller.stop()
    assert "Traceback" not in output, output[-3000:]


def test_sigkill_at_any_point_resends_at_most_the_mail_in_flight_as_the_same_message(
        tmp_path, target):
    recorder = Recorder()
    controller, port = smtp_server(recorder)
    addresses = subscribe_all(tmp_path, SUBSCRIBERS)
    config = write_config(tmp_path, port, target)
    vigie = start(config)
    try:
        Target.failing = True
        wait_until(recorder.changed, lambda: len(recorder.accepted) >= KILL_AT,
                   f"{KILL_AT} mails accepted", 120)
        vigie.stop(signal.SIGKILL)  # wherever it is: sending, committing, waiting
        killed_at = recorder.count()
        assert KILL_AT <= killed_at < SUBSCRIBERS
        vigie = start(config)
        wait_until(recorder.changed,
                   lambda: len(by_recipient(recorder)) >= SUBSCRIBERS, "every address", 300)
    finally:
        output = vigie.stop()
        controller.stop()
    mails = by_recipient(recorder)
    assert sorted(mails) == addresses
    twice = {a: m for a, m in mails.items() if len(m) > 1}
    assert len(twice) <= 1, twice  # at most the one mail in flight at the kill…
    for sent in twice.values():
        assert len(sent) == 2 and sent[0] == sent[1]  # …and it is the same message
    counts = Counter(len(m) for m in mails.values())
    assert counts[1] >= SUBSCRIBERS - 1
    assert "Traceback" not in output, output[-3000:]
