"""Daily rollups on a small crafted data set whose figures are worked out by hand, on SQLite
and PostgreSQL, across the 23-hour day of the spring clock change in Europe/Paris."""

from __future__ import annotations

import statistics
from datetime import date
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from monitor.config_loader import load_config
from monitor.plugins import ProbeKind, ProbeRegistry
from monitor.probe import Probe, ProbeResult, Status
from monitor.state import ServiceStatus
from monitor.store import ResultRecord, Store
from monitor.store.models import CheckRow, DailyCheckRollup, DailyServiceRollup
from monitor.store.rollups import day_bounds, percentile, service_uptime

PARIS = ZoneInfo("Europe/Paris")
DAY = date(2024, 3, 31)  # clocks go from 02:00 to 03:00: 23 hours
LO = 1711839600.0        # 2024-03-31 00:00 CET = 2024-03-30 23:00 UTC
HI = 1711922400.0        # 2024-04-01 00:00 CEST = 2024-03-31 22:00 UTC
H = 3600.0

CATALOG = """
services:
  - id: web
    name: Web
    checks:
      - {id: http, kind: noop}
      - {id: db, kind: noop}
  - id: mail
    name: Mail
    checks:
      - {id: smtp, kind: noop}
"""


class NoopProbe(Probe):
    """A probe kind for building configurations; never run here."""

    kind = "noop"

    async def check(self, config, ctx):
        return ProbeResult.up()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    """A migrated store with the catalog and the crafted data."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'vigie.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_schema_url")
    registry = ProbeRegistry({"noop": ProbeKind("noop", NoopProbe, NoopProbe(), "test")})
    path = tmp_path / "vigie.yaml"
    path.write_text(CATALOG, encoding="utf-8")
    store = Store(url)
    store.upgrade()
    store.sync_catalog(load_config(path, registry))
    _fill(store)
    yield store
    store.dispose()


def _fill(store: Store) -> None:
    S = Status
    http = [
        (LO - 1, S.UP, 9.0),          # 23:59:59 the day before
        (LO, S.UP, 0.1),              # midnight exactly: this day
        (LO + H, S.UP, 0.2),
        (LO + 2 * H, S.UP, 0.3),
        (LO + 2 * H + 100, S.DOWN, 5.0),
        (LO + 2 * H + 200, S.DOWN, 5.0),
        (LO + 3 * H, S.DEGRADED, 1.0),
        (LO + 4 * H, S.UP, 0.4),
        (LO + 15 * H + 60, S.UNKNOWN, 2.0),
        (HI - 1, S.MAINTENANCE, 0.05),  # 23:59:59, a 23-hour day
        (HI, S.UP, 7.0),              # next midnight: the next day
    ]
    db = [(LO + 100, S.UP, 0.6), (LO + 200, S.UP, 0.7)]
    smtp = [(LO + 6 * H + 1, S.UP, 0.05)]
    rows = [ResultRecord(key, at, status, duration)
            for key, data in (("web/http", http), ("web/db", db), ("mail/smtp", smtp))
            for at, status, duration in data]
    assert store.write_results(rows) == len(rows)
    web = [
        (LO - 86400, None, ServiceStatus.OPERATIONAL),
        (LO + 2 * H, ServiceStatus.OPERATIONAL, ServiceStatus.MAJOR_OUTAGE),
        (LO + 3 * H, ServiceStatus.MAJOR_OUTAGE, ServiceStatus.OPERATIONAL),
        (LO + 10 * H, ServiceStatus.OPERATIONAL, ServiceStatus.MAINTENANCE),
        (LO + 11 * H, ServiceStatus.MAINTENANCE, ServiceStatus.OPERATIONAL),
        (LO + 15 * H, ServiceStatus.OPERATIONAL, ServiceStatus.UNKNOWN),
        (LO + 16 * H, ServiceStatus.UNKNOWN, ServiceStatus.OPERATIONAL),
        (HI + H, ServiceStatus.OPERATIONAL, ServiceStatus.DEGRADED),
    ]
    for at, previous, current in web:
        store.record_service_change("web", at, previous, current)
    store.record_service_change("mail", LO + 6 * H, None, ServiceStatus.OPERATIONAL)


def _check_rollups(store: Store, day: date) -> dict[str, DailyCheckRollup]:
    with store.session() as session:
        rows = session.execute(select(CheckRow.key, DailyCheckRollup)
                               .join(CheckRow, CheckRow.id == DailyCheckRollup.check_id)
                               .where(DailyCheckRollup.day == day)).all()
    return {key: row for key, row in rows}


def _service_rollups(store: Store, day: date) -> dict[str, DailyServiceRollup]:
    with store.session() as session:
        rows = session.scalars(select(DailyServiceRollup).where(DailyServiceRollup.day == day))
        return {r.service_id: r for r in rows}


def test_day_bounds_follow_the_clock_changes():
    assert day_bounds(DAY, PARIS) == (LO, HI)
    assert HI - LO == 23 * H
    spring_back = day_bounds(date(2024, 10, 27), PARIS)
    assert spring_back[1] - spring_back[0] == 25 * H
    assert day_bounds(date(2024, 6, 1), ZoneInfo("UTC")) == (1717200000.0, 1717286400.0)


def test_percentiles_interpolate_like_the_inclusive_method():
    values = sorted([0.1, 0.2, 0.3, 0.4, 1.0, 0.6, 0.7, 2.5, 0.05])
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    assert percentile(values, 0.95) == pytest.approx(cuts[94])
    assert percentile(values, 0.5) == pytest.approx(statistics.median(values))
    assert percentile([3.0], 0.95) == 3.0
    assert percentile([], 0.5) is None


def test_service_uptime_counts_time_not_changes():
    uptime, observed, worst = service_uptime(
        None, [(10.0, ServiceStatus.OPERATIONAL), (40.0, ServiceStatus.DEGRADED),
               (70.0, ServiceStatus.OPERATIONAL)], 0.0, 100.0)
    assert (uptime, observed, worst) == (60 / 90, 90.0, ServiceStatus.DEGRADED)
    assert service_uptime(None, [], 0.0, 100.0) == (None, 0.0, None)


def test_check_rollups_of_a_23_hour_day(store):
    assert store.compute_rollups(DAY, DAY, "Europe/Paris", now=HI + 2 * H) == 5
    rows = _check_rollups(store, DAY)
    http = rows["web/http"]
    # the results at LO-1 and HI belong to the neighbouring days
    counts = (http.runs, http.up, http.degraded, http.down, http.unknown, http.maintenance)
    assert counts == (9, 4, 1, 2, 1, 1)
    assert http.uptime == pytest.approx(5 / 8)  # (up + maintenance) / (runs - unknown)
    # latencies of answered runs: 0.1 0.2 0.3 0.4 1.0
    assert http.latency_p50 == pytest.approx(0.3)
    assert http.latency_p95 == pytest.approx(0.88)  # 0.4 + 0.8 * (1.0 - 0.4)
    db = rows["web/db"]
    assert (db.runs, db.uptime) == (2, 1.0)
    assert (db.latency_p50, db.latency_p95) == (pytest.approx(0.65), pytest.approx(0.695))
    assert rows["mail/smtp"].runs == 1


def test_service_rollups_of_a_23_hour_day(store):
    store.compute_rollups(DAY, DAY, "Europe/Paris", now=HI + 2 * H)
    rows = _service_rollups(store, DAY)
    web = rows["web"]
    # 23 h observed minus 1 h unknown; 1 h of major outage; maintenance counts as up
    assert web.observed == pytest.approx(22 * H)
    assert web.uptime == pytest.approx(21 / 22)
    assert web.worst_status == ServiceStatus.MAJOR_OUTAGE.code
    assert web.runs == 11
    # both checks' answered latencies: 0.1 0.2 0.3 0.4 0.6 0.7 1.0
    assert web.latency_p50 == pytest.approx(0.4)
    assert web.latency_p95 == pytest.approx(0.91)
    mail = rows["mail"]
    # nothing known before its first status at 06:00
    assert (mail.observed, mail.uptime) == (pytest.approx(17 * H), 1.0)
    assert mail.worst_status == ServiceStatus.OPERATIONAL.code


def test_today_is_observed_until_now_and_recomputing_replaces_rows(store):
    now = LO + 12 * H
    store.compute_rollups(DAY, DAY, "Europe/Paris", now=now)
    http = _check_rollups(store, DAY)["web/http"]
    assert (http.runs, http.down, http.unknown, http.maintenance) == (7, 2, 0, 0)
    web = _service_rollups(store, DAY)["web"]
    assert web.observed == pytest.approx(12 * H)
    assert web.uptime == pytest.approx(11 / 12)

    # later the same day, then once more: the same rows are updated, never duplicated
    for _ in range(2):
        store.compute_rollups(DAY, DAY, "Europe/Paris", now=HI + H)
        assert _check_rollups(store, DAY)["web/http"].runs == 9
        assert _service_rollups(store, DAY)["web"].uptime == pytest.approx(21 / 22)
        with store.session() as session:
            assert session.scalar(select(func.count()).select_from(DailyCheckRollup)) == 3
            assert session.scalar(select(func.count()).select_from(DailyServiceRollup)) == 2


def test_a_range_of_days_and_pruned_days_are_kept(store):
    written = store.compute_rollups(date(2024, 3, 30), date(2024, 4, 1), "Europe/Paris",
                                    now=HI + 2 * H)
    # 30th: web/http + web; 31st: 3 checks + 2 services; 1st: web/http + web
    assert written == 2 + 5 + 2
    before = _check_rollups(store, date(2024, 3, 30))["web/http"]
    assert (before.runs, before.latency_p50) == (1, 9.0)
    after = _check_rollups(store, date(2024, 4, 1))["web/http"]
    assert (after.runs, after.latency_p95) == (1, 7.0)
    # a day that has not begun yet is skipped
    assert store.compute_rollups(date(2024, 4, 2), None, "Europe/Paris", now=HI + 2 * H) == 0

    assert store.prune(HI + 10 * H) == 14
    assert store.compute_rollups(DAY, DAY, "Europe/Paris", now=HI + 2 * H) == 0
    assert _check_rollups(store, DAY)["web/http"].runs == 9
    assert _service_rollups(store, DAY)["web"].uptime == pytest.approx(21 / 22)
