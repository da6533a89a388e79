"""A bad recurring rule stored in the database never stops ``vigie run`` (issue 12, point
4): before the fix a ``FREQ=SECONDLY`` row made every start spin at 100 % CPU, ignore
SIGTERM and keep the database locked until the row was deleted by hand."""

from __future__ import annotations

import time

from monitor.incidents.models import MaintenanceWindow
from monitor.store import Store
from tests.conftest import free_port
from tests.monitor.test_runtime import scrape, start
from tests.peers import Process

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

    vigie = Process(start(config))
    try:
        # the windows are read and applied before Vigie says it listens (a generous
        # timeout: it only fails on a hang, the spin the bad rules used to cause)
        vigie.wait_line("listening on", "Vigie listening", timeout=90)
        text = scrape(port)
        assert 'vigie_maintenance_active{service="web"} 1.0' in text
        assert "vigie_maintenance_windows_refused 3.0" in text
    finally:
        output = vigie.stop()  # SIGTERM: it must be heard, not ignored
    assert vigie.proc.returncode == 0, output
    assert "Traceback" not in output, output
    for rule in BAD_RULES:
        assert sum(rule in line and "refused" in line for line in output.splitlines()) == 1, output

