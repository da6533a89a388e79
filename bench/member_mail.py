"""Issue 16: one incident mailed to 10,000 subscribers. ``vigie run`` (its own process)
watches one service whose site the script makes fail; the incident opens and every
confirmed subscriber's "opened" mail goes to a local SMTP server (aiosmtpd, in this
process, counting what it accepts), on SQLite and on PostgreSQL.

Measured: the time from the site failing to the last mail accepted (target < 120 s), the
sending rate from the first mail to the last, Vigie's resident memory before the incident
and at its peak while sending (target: growth < 50 MB), and that each subscriber got
exactly one mail. The subscribers are written straight into the database before Vigie
starts (confirmed, following everything). ``subscriptions.send_rate`` is set to its
maximum (10,000 a second) so the figure is what Vigie can do, not the throttle.

    .venv/bin/python bench/member_mail.py [--subscribers 10000] [--engines sqlite postgresql]
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import (
    MachineLoad,
    child_env,
    describe_machine,
    load_note,
    migrate_in_subprocess,
    progress,
    spread,
    use_repo_root,
)

use_repo_root()

#: targets (docs/performance.md)
TARGET_SECONDS = 120.0
TARGET_RSS_GROWTH_MB = 50.0
POSTGRES = os.environ.get("VIGIE_BENCH_POSTGRES",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MiB = 1024 * 1024


class Counting:
    """The SMTP server's handler: counts the messages accepted per recipient, notes when
    the first and the last came."""

    def __init__(self) -> None:
        self.recipients: dict[str, int] = {}
        self.accepted = 0
        self.first = self.last = 0.0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        now = time.monotonic()
        with self.lock:
            for to in envelope.rcpt_tos:
                self.recipients[to] = self.recipients.get(to, 0) + 1
                self.accepted += 1
            self.first = self.first or now
            self.last = now
        return "250 Message accepted"


class Failing(BaseHTTPRequestHandler):
    """The watched site: 500 once :attr:`failing` is set."""

    failing = False

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(500 if Failing.failing else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def write_config(folder: Path, url: str, smtp_port: int, site_port: int, listen: int) -> Path:
    path = folder / "vigie.yaml"
    path.write_text(f"""\
data_dir: data
store: {{url: '{url}'}}
server: {{listen: '127.0.0.1:{listen}'}}
scheduler: {{spread_first_runs: false}}
plugins: {{blocked: [demo]}}
site: {{public_url: "https://etat.example.coop"}}
mail: {{host: 127.0.0.1, port: {smtp_port}, security: none,
        from_address: "etat@example.coop"}}
subscriptions: {{send_rate: 10000, batch_size: 200}}
services:
  - id: web
    name: {{fr: Hébergement web, en: Web hosting}}
    checks:
      - {{id: http, kind: http, url: 'http://127.0.0.1:{site_port}/', interval: 1s,
          confirm: 1}}
""")
    return path


def subscribe(url: str, count: int) -> None:
    """``count`` confirmed subscribers following everything, a third in English."""
    from sqlalchemy import insert

    from monitor.store import Store
    from monitor.subscriptions.models import Subscriber

    store = Store(url)
    rows = [dict(email=f"member{n:05d}@example.org", email_key=f"member{n:05d}@example.org",
                 language="en" if n % 3 == 0 else "fr", everything=True, services=[],
                 groups=[], state="confirmed", manage_token=secrets.token_urlsafe(32),
                 requests=1, created_at=1.0, confirmed_at=1.0, updated_at=1.0, failures=0)
            for n in range(count)]
    with store.write_session() as s, s.begin():
        for first in range(0, count, 1000):
            s.execute(insert(Subscriber), rows[first:first + 1000])
    store.dispose()


def rss_sampler(pid: int, samples: list[tuple[float, float]], stopping: threading.Event) -> None:
    import psutil

    process = psutil.Process(pid)
    while not stopping.wait(0.1):
        try:
            samples.append((time.monotonic(), process.memory_info().rss / MiB))
        except psutil.NoSuchProcess:
            return


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def sent_metric(port: int) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
    found = re.search(r'^vigie_member_mails_total\{outcome="sent"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else float("nan")


def wait_for(predicate, seconds: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def run_engine(engine: str, args: argparse.Namespace) -> dict:
    """One measured run: set up, start Vigie, make the site fail, wait for every mail."""
    import sqlalchemy as sa
    from aiosmtpd.controller import Controller

    from tests.conftest import free_port

    schema = None
    admin = None
    with tempfile.TemporaryDirectory(prefix="vigie-bench-mail-") as tmp:
        folder = Path(tmp)
        if engine == "sqlite":
            url = f"sqlite:///{folder / 'vigie.sqlite'}"
        else:
            schema = f"vigie_bench_{uuid.uuid4().hex[:10]}"
            admin = sa.create_engine(POSTGRES)
            with admin.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            url = f"{POSTGRES}?options=-csearch_path%3D{schema}"
        handler = Counting()
        smtp = Controller(handler, hostname="127.0.0.1", port=free_port())
        smtp.start()
        Failing.failing = False
        site = ThreadingHTTPServer(("127.0.0.1", 0), Failing)
        threading.Thread(target=site.serve_forever, daemon=True).start()
        proc = None
        stopping = threading.Event()
        rss: list[tuple[float, float]] = []
        try:
            migrate_in_subprocess(url)
            progress(f"{engine}: writing {args.subscribers:,} subscribers…")
            subscribe(url, args.subscribers)
            listen = free_port()
            config = write_config(folder, url, smtp.port, site.server_address[1], listen)
            log = (folder / "vigie.log").open("w")
            proc = subprocess.Popen([sys.executable, "-m", "monitor", "-c", str(config), "run"],
                                    stdout=log, stderr=subprocess.STDOUT, env=child_env(),
                                    cwd=folder)
            if not wait_for(lambda: healthy(listen), 60):
                raise SystemExit(f"{engine}: Vigie did not start:\n"
                                 + (folder / "vigie.log").read_text()[-3000:])
            threading.Thread(target=rss_sampler, args=(proc.pid, rss, stopping),
                             daemon=True).start()
            time.sleep(args.settle)  # the baseline: Vigie running, nothing to send
            baseline = max(r for _, r in rss[-10:])
            load = MachineLoad().start()
            load.track(proc.pid)
            progress(f"{engine}: the site fails; mailing {args.subscribers:,} subscribers…")
            failed_at = time.monotonic()
            Failing.failing = True
            done = wait_for(lambda: handler.accepted >= args.subscribers, args.timeout, 0.05)
            finished = time.monotonic()
            machine = load.stop()
            stopping.set()
            sent = sent_metric(listen)
            during = [r for t, r in rss if t >= failed_at]
            with handler.lock:
                once = sum(1 for n in handler.recipients.values() if n == 1)
                accepted, first, last = handler.accepted, handler.first, handler.last
            return {"done": done, "accepted": accepted, "distinct": len(handler.recipients),
                    "once": once, "seconds": (last if done else finished) - failed_at,
                    "first_after": first - failed_at if first else float("nan"),
                    "rate": (accepted - 1) / (last - first) if last > first else 0.0,
                    "rss_before": baseline, "rss_peak": max(during, default=baseline),
                    "sent_metric": sent, "load": machine}
        finally:
            stopping.set()
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            site.shutdown()
            site.server_close()
            smtp.stop()
            if schema is not None and admin is not None:
                with admin.begin() as conn:
                    conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()


def report(engine: str, results: list[dict], args: argparse.Namespace) -> bool:
    seconds = spread(r["seconds"] for r in results)
    rate = spread(r["rate"] for r in results)
    first = spread(r["first_after"] for r in results)
    growth = spread(r["rss_peak"] - r["rss_before"] for r in results)
    before = spread(r["rss_before"] for r in results)
    peak = spread(r["rss_peak"] for r in results)
    exact = all(r["done"] and r["once"] == args.subscribers == r["distinct"]
                for r in results)
    ok = {"time": seconds.median < TARGET_SECONDS,
          "rss": growth.median < TARGET_RSS_GROWTH_MB, "exact": exact}
    print(f"{engine}: {args.subscribers:,} subscribers, one incident, {len(results)} run(s) "
          f"(median [min–max])")
    print(f"  from the site failing to the last mail accepted: {seconds.fmt(1)} s "
          f"(target < {TARGET_SECONDS:g} s: {'met' if ok['time'] else 'MISSED'}); "
          f"the first mail after {first.fmt(1)} s")
    print(f"  sending rate, first mail to last: {rate.fmt(0)} mails/s")
    print(f"  Vigie RSS before {before.fmt(1)} MB, peak while sending {peak.fmt(1)} MB: "
          f"growth {growth.fmt(1)} MB (target < {TARGET_RSS_GROWTH_MB:g} MB: "
          f"{'met' if ok['rss'] else 'MISSED'})")
    print(f"  each subscriber exactly one mail: {'yes' if exact else 'NO'} "
          f"({', '.join(str(r['accepted']) for r in results)} accepted; "
          f"vigie_member_mails_total{{outcome=\"sent\"}} "
          f"{', '.join(format(r['sent_metric'], '.0f') for r in results)})")
    print(f"  {load_note([r['load'] for r in results])}")
    return all(ok.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--engines", nargs="+", default=["sqlite", "postgresql"],
                        choices=["sqlite", "postgresql"])
    parser.add_argument("--runs", type=int, default=1, help="runs per engine (median)")
    parser.add_argument("--settle", type=float, default=5.0,
                        help="seconds Vigie runs before the incident (the RSS baseline)")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds to wait for every mail before giving up")
    args = parser.parse_args()
    print(describe_machine())
    good = True
    for engine in args.engines:
        results = [run_engine(engine, args) for _ in range(args.runs)]
        good = report(engine, results, args) and good
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
