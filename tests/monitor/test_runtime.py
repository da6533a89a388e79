"""`vigie run` end to end: a real process, a real HTTP target, the SQLite store, signals."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import free_port


class CountingHandler(BaseHTTPRequestHandler):
    """Answers 200 and counts the requests it served (notifying ``changed``)."""

    served = 0
    changed = threading.Condition()

    def do_GET(self):  # noqa: N802 - http.server's naming
        with CountingHandler.changed:
            CountingHandler.served += 1
            CountingHandler.changed.notify_all()
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def target():
    CountingHandler.served = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), CountingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def write_config(tmp_path: Path, url: str, port: int, checks: int = 10,
                 engine: str = "vigie") -> Path:
    lines = [
        "scheduler: {spread_first_runs: false}",
        "store: {flush_interval: 0.2s, batch_size: 50}",
        f"server: {{listen: '127.0.0.1:{port}', engine: {engine}}}",
        "services:",
        "  - id: web",
        "    name: Web",
        "    checks:",
    ]
    lines += [f"      - {{id: c{i}, kind: http, url: '{url}/{i}', interval: 0.3s}}"
              for i in range(checks)]
    path = tmp_path / "vigie.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def start(config: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "monitor", "-c", str(config), "run"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def rows(db: Path) -> tuple[int, int]:
    """(result rows, distinct (check, started_at) pairs)."""
    with sqlite3.connect(db) as conn:
        total = conn.execute("SELECT count(*) FROM results").fetchone()[0]
        distinct = conn.execute(
            "SELECT count(*) FROM (SELECT DISTINCT check_id, started_at FROM results)").fetchone()[0]
    return total, distinct


def wait_for(predicate, requests: int = 1000):
    """``predicate()``'s value once true, checked again each time the target serves a
    request: the running Vigie's rows and metrics change as its checks run. Fails when
    the target gets no request for 30 s, or ``requests`` requests went by in vain."""
    changed = CountingHandler.changed
    with changed:
        seen = CountingHandler.served
    for _ in range(requests):
        if value := predicate():
            return value
        with changed:
            if not changed.wait_for(lambda seen=seen: CountingHandler.served > seen, 30):
                raise AssertionError("the target got no request in time")
            seen = CountingHandler.served
    raise AssertionError(f"condition not met within {requests} requests")


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def count_rows_safely(db: Path) -> int:
    try:
        return rows(db)[0]
    except sqlite3.Error:
        return 0


def test_run_serves_metrics_and_saves_every_result_on_sigterm(tmp_path, target):
    port = free_port()
    config = write_config(tmp_path, target, port)
    db = tmp_path / "data" / "vigie.sqlite"
    proc = start(config)
    try:
        wait_for(lambda: db.exists() and count_rows_safely(db) >= 30)
        text = scrape(port)
        assert 'vigie_check_up{check="c0",kind="http",service="web"} 1.0' in text
        assert "vigie_build_info" in text
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    total, distinct = rows(db)
    # every run the target served was saved, including the runs in flight at SIGTERM
    assert total == distinct == CountingHandler.served


def test_server_engine_waitress_serves_metrics_and_healthz_and_stops(tmp_path, target):
    port = free_port()
    proc = start(write_config(tmp_path, target, port, checks=2, engine="waitress"))
    try:
        wait_for(lambda: _scraped_with(port, 'vigie_check_up{check="c0",kind="http",'
                                             'service="web"} 1.0'))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            assert answer.status == 200 and answer.headers["Server"] == "vigie"
            assert answer.headers["X-Content-Type-Options"] == "nosniff"
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output


def _scraped_with(port: int, needle: str) -> str | None:
    """The exposition once it holds ``needle`` (None before, or while nothing listens)."""
    try:
        text = scrape(port)
    except OSError:
        return None
    return text if needle in text else None


def test_kill_9_then_restart_keeps_history_without_duplicates(tmp_path, target):
    port = free_port()
    config = write_config(tmp_path, target, port)
    db = tmp_path / "data" / "vigie.sqlite"
    proc = start(config)
    try:
        wait_for(lambda: db.exists() and count_rows_safely(db) >= 40)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=10)
    before, _ = rows(db)
    proc = start(config)
    try:
        wait_for(lambda: count_rows_safely(db) >= before + 40)
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    total, distinct = rows(db)
    assert total == distinct, "duplicate result rows after a crash and restart"
    assert total >= before + 40


def test_invalid_config_refuses_to_start_naming_file_line_key(tmp_path):
    path = tmp_path / "vigie.yaml"
    path.write_text("defaults:\n  interval: soon\n")
    proc = subprocess.run([sys.executable, "-m", "monitor", "-c", str(path), "run"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 3
    assert f"{path}:2: defaults.interval: invalid duration 'soon'" in proc.stderr
