"""A bad recurring rule stored in the database never stops ``vigie run`` (issue 12, point
4): before the fix a ``FREQ=SECONDLY`` row made every start spin at 100 % CPU, ignore
SIGTERM and keep the database locked until the row was deleted by hand."""

from __future__ import annotations

import signal
import subprocess
import time

from monitor.incidents.models import MaintenanceWindow
from monitor.store import Store
from tests.conftest import free_port
from tests.monitor.test_runtime import scrape, start, wait_for

BAD_RULES = ("RRULE:FREQ=SECONDLY", "RRULE:FREQ=MINUTELY", "CRON:* * * * *")


def test_vigie_starts_serves_and_stops_with_bad_rules_in_the_database(tmp_path):
    port = free_port()
    db = tmp_path / "vigie.sqlite"
    config = tmp_path / "vigie.yaml"
    config.write_text(f"""\
scheduler: {{spread_first_runs: false}}
store: {{url: 'sqlite:///{db}', flush_interval: 0.1s}}
server: {{listen: '127.0.0.1:{port}'}}
services:
  - id: web
    name: Web
    checks:
      - {{id: a, kind: tcp, host: 127.0.0.1, port: {port}, interval: 1s}}
""")
    store = Store(f"sqlite:///{db}")
    store.upgrade()
    now = time.time()
    with store.session() as session, session.begin():
        for rule in BAD_RULES:  # as POST /admin/api/v1/maintenance stored them
            session.add(MaintenanceWindow(title_fr=rule, all_services=True, rule=rule,
                                          duration=1.0, timezone="Europe/Paris",
                                          created_at=now, updated_at=now))
        session.add(MaintenanceWindow(title_fr="Bonne", all_services=True, timezone="UTC",
                                      starts_at=now - 60, ends_at=now + 3600,
                                      created_at=now, updated_at=now))
    store.dispose()

    proc = start(config)
    try:
        # generous timeouts: they only fail on a hang
        text = wait_for(lambda: (t := _scrape(port)) and
                        'vigie_maintenance_active{service="web"} 1.0' in t and t, timeout=90)
        assert "vigie_maintenance_windows_refused 3.0" in text
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=90)
    except (AssertionError, subprocess.TimeoutExpired):
        proc.kill()
        proc.communicate()
        raise
    assert proc.returncode == 0, output
    assert "Traceback" not in output, output
    for rule in BAD_RULES:
        assert sum(rule in line and "refused" in line for line in output.splitlines()) == 1, output


def _scrape(port: int) -> str | None:
    try:
        return scrape(port)
    except OSError:
        return None
