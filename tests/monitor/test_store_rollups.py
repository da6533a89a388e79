"""Daily rollups on a small crafted data set whose figures are worked out by hand, on SQLite
and PostgreSQL, across the 23-hour day of the spring clock change in Europe/Paris."""

from __future__ import annotations

import random
import statistics
from datetime import date
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, select, update

from monitor import availability
from monitor.config_loader import load_config
from monitor.plugins import ProbeKind, ProbeRegistry
from monitor.probe import Probe, ProbeResult, Status
from monitor.state import ServiceStatus
from monitor.store import ResultRecord, Store
from monitor.store import rollups
from monitor.store.models import CheckRow, DailyCheckRollup, DailyServiceRollup, ResultRow
from monitor.store.rollup_ledger import LATENCY_EVERY, SETTLE, RollupLedger
from monitor.store.rollups import day_bounds, percentile

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


def test_check_rollups_of_a_23_hour_day(store):
    assert store.compute_rollups(DAY, DAY, "Europe/Paris", now=HI + 2 * H) == 5
    rows = _check_rollups(store, DAY)
    http = rows["web/http"]
    # the results at LO-1 and HI belong to the neighbouring days
    counts = (http.runs, http.up, http.degraded, http.down, http.unknown, http.maintenance)
    assert counts == (9, 4, 1, 2, 1, 1)
    # availability (monitor.availability): (up + degraded) / (runs - unknown - maintenance)
    assert http.uptime == pytest.approx(5 / 7)
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
    # 23 h minus 1 h unknown and 1 h of maintenance (not counted); 1 h of major outage
    assert web.observed == pytest.approx(21 * H)
    assert web.uptime == pytest.approx(20 / 21)
    assert web.availability_rule == availability.RULE
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
    assert web.observed == pytest.approx(11 * H)  # the hour of maintenance is not counted
    assert web.uptime == pytest.approx(10 / 11)

    # later the same day, then once more: the same rows are updated, never duplicated
    for _ in range(2):
        store.compute_rollups(DAY, DAY, "Europe/Paris", now=HI + H)
        assert _check_rollups(store, DAY)["web/http"].runs == 9
        assert _service_rollups(store, DAY)["web"].uptime == pytest.approx(20 / 21)
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
    assert _service_rollups(store, DAY)["web"].uptime == pytest.approx(20 / 21)


# Computed by the database -----------------------------------------------------------------

OTHER_DAY = date(2024, 3, 27)  # a 24-hour day, left empty by _fill


def _random_day(store: Store, seed: int) -> dict[str, list[tuple[int, float]]]:
    """Results of OTHER_DAY with many ties and every status; returns them per check."""
    rng = random.Random(seed)
    low, _ = day_bounds(OTHER_DAY, PARIS)
    sizes = {"web/http": 97, "web/db": 2, "mail/smtp": 1}
    data: dict[str, list[tuple[int, float]]] = {}
    for key, size in sizes.items():
        data[key] = [(rng.choice([0, 0, 0, 1, 2, 3, 4]),
                      rng.choice([0.1, 0.25, 3.0]) if rng.random() < 0.3
                      else rng.lognormvariate(-2, 1)) for _ in range(size)]
    # one check without any answered run: no latency
    data["mail/smtp"] = [(int(Status.DOWN), 10.0)]
    store.write_results([ResultRecord(key, low + i * 60.0, Status(status), duration)
                         for key, rows in data.items() for i, (status, duration) in enumerate(rows)])
    return data


def test_sql_percentiles_equal_the_python_definition_exactly(store):
    data = _random_day(store, seed=4)
    store.compute_rollups(OTHER_DAY, OTHER_DAY, "Europe/Paris", now=HI)
    checks, services = _check_rollups(store, OTHER_DAY), _service_rollups(store, OTHER_DAY)
    answered = {key: sorted(d for s, d in rows if s in (0, 1)) for key, rows in data.items()}
    for key, rows in data.items():
        row = checks[key]
        assert row.runs == len(rows)
        assert [row.up, row.degraded, row.down, row.unknown, row.maintenance] == [
            sum(1 for s, _ in rows if s == code) for code in range(5)]
        # exact: the same doubles as percentile() on both engines
        assert (row.latency_p50, row.latency_p95) == (
            percentile(answered[key], 0.5), percentile(answered[key], 0.95))
    assert (checks["mail/smtp"].latency_p50, checks["mail/smtp"].latency_p95) == (None, None)
    web = sorted(answered["web/http"] + answered["web/db"])
    assert services["web"].runs == len(data["web/http"]) + len(data["web/db"])
    assert (services["web"].latency_p50, services["web"].latency_p95) == (
        percentile(web, 0.5), percentile(web, 0.95))
    assert (services["mail"].latency_p50, services["mail"].latency_p95) == (None, None)


def test_slices_of_services_give_the_same_rollups(store, monkeypatch):
    _random_day(store, seed=5)
    with store.engine.connect() as conn:
        assert rollups.service_slices(conn) == [("mail", "web")]
        # web has two checks: too big for a slice of one, alone anyway
        assert rollups.service_slices(conn, size=1) == [("mail", "mail"), ("web", "web")]
    store.compute_rollups(OTHER_DAY, OTHER_DAY, "Europe/Paris", now=HI)
    whole = {k: _columns(r) for k, r in _check_rollups(store, OTHER_DAY).items()}
    whole_services = {k: _columns(r) for k, r in _service_rollups(store, OTHER_DAY).items()}
    monkeypatch.setattr(rollups, "SLICE_CHECKS", 1)
    store.rollup_ledger = RollupLedger()  # the day is final: forget it was computed
    with store.engine.begin() as conn:
        conn.execute(delete(DailyCheckRollup))
        conn.execute(delete(DailyServiceRollup))
    assert store.compute_rollups(OTHER_DAY, OTHER_DAY, "Europe/Paris", now=HI) == 5
    assert {k: _columns(r) for k, r in _check_rollups(store, OTHER_DAY).items()} == whole
    assert {k: _columns(r)
            for k, r in _service_rollups(store, OTHER_DAY).items()} == whole_services


def _columns(row) -> tuple:
    return tuple(getattr(row, c.key) for c in row.__table__.columns if c.key != "id")


# Final days ---------------------------------------------------------------------------------

def test_a_final_day_is_rolled_up_once_until_late_results_are_written(store):
    final = HI + SETTLE
    assert store.compute_rollups(DAY, DAY, "Europe/Paris", now=final) == 5
    # a row written behind the store's back is not seen: the day is final, not recomputed
    with store.engine.begin() as conn:
        check_id = conn.scalar(select(CheckRow.id).where(CheckRow.key == "web/db"))
        conn.execute(ResultRow.__table__.insert().values(
            check_id=check_id, started_at=LO + 300, status=int(Status.UP), duration=0.9))
    assert store.compute_rollups(DAY, DAY, "Europe/Paris", now=final + 600) == 0
    assert _check_rollups(store, DAY)["web/db"].runs == 2
    # a late write through the store (a writer flushing its buffer) makes it count again
    store.write_results([ResultRecord("web/db", LO + 400, Status.UP, 0.8)])
    assert store.compute_rollups(DAY, DAY, "Europe/Paris", now=final + 1200) == 5
    assert _check_rollups(store, DAY)["web/db"].runs == 4
    assert store.compute_rollups(DAY, DAY, "Europe/Paris", now=final + 1800) == 0


def test_a_day_that_just_ended_is_recomputed_until_it_settles(store):
    for now in (LO + 12 * H, HI, HI + SETTLE - 1):
        assert store.compute_rollups(DAY, DAY, "Europe/Paris", now=now) == 5
    assert store.compute_rollups(DAY, DAY, "Europe/Paris", now=HI + SETTLE) == 5
    assert store.compute_rollups(DAY, DAY, "Europe/Paris", now=HI + SETTLE) == 0


def test_final_days_are_forgotten_by_late_writes_only():
    final = RollupLedger()
    day, end, now = date(2024, 3, 31), HI, HI + 10 * H
    assert final.mark("Europe/Paris", day, end, final.late_writes())
    assert final.is_final("Europe/Paris", day)
    assert not final.is_final("UTC", day)
    final.written(now - 5, now=now)  # a fresh batch
    assert final.is_final("Europe/Paris", day)
    final.written(HI + H, now=now)  # late, but after the day
    assert final.is_final("Europe/Paris", day)
    final.written(HI - 1, now=now)  # late, in the day
    assert not final.is_final("Europe/Paris", day)
    # a late write while a pass computed the day: the pass does not mark it
    token = final.late_writes()
    final.written(LO, now=now)
    assert not final.mark("Europe/Paris", day, end, token)
    assert not final.is_final("Europe/Paris", day)


def test_todays_latency_is_refreshed_hourly_and_the_rest_at_every_pass(store):
    now = LO + 5 * H
    store.compute_rollups(DAY, DAY, "Europe/Paris", now=now)
    http = _check_rollups(store, DAY)["web/http"]
    assert (http.runs, http.latency_p50) == (7, pytest.approx(0.3))
    store.write_results([ResultRecord("web/http", now + 60, Status.UP, 8.0)])
    store.record_service_change("web", now + 60, ServiceStatus.OPERATIONAL,
                                ServiceStatus.DEGRADED)
    # the next pass: counts and the service's day follow, the percentiles wait
    store.compute_rollups(DAY, DAY, "Europe/Paris", now=now + 600)
    http = _check_rollups(store, DAY)["web/http"]
    assert (http.runs, http.up, http.latency_p50) == (8, 5, pytest.approx(0.3))
    web = _service_rollups(store, DAY)["web"]
    assert (web.runs, web.worst_status) == (10, ServiceStatus.MAJOR_OUTAGE.code)
    assert web.observed == pytest.approx(5 * H + 600)
    assert web.latency_p50 == pytest.approx(0.4)  # 0.1 0.2 0.3 0.4 0.6 0.7 1.0, before
    # an hour after the last computation: recomputed (answered: 0.1 0.2 0.3 0.4 1.0 8.0)
    store.compute_rollups(DAY, DAY, "Europe/Paris", now=now + LATENCY_EVERY)
    assert _check_rollups(store, DAY)["web/http"].latency_p50 == pytest.approx(0.35)
    assert _service_rollups(store, DAY)["web"].latency_p50 == pytest.approx(0.5)


# Availability computed live, and again under a newer rule -------------------------------------


def test_days_computed_live_equal_the_rollups(store):
    """What the status page shows of today (rollups.service_days) is what a pass would
    write, whenever the pass last ran."""
    with store.engine.connect() as conn:
        live = rollups.service_days(conn, DAY, date(2024, 4, 1), PARIS, now=LO + 12 * H)
    assert list(live["web"]) == [DAY]  # the next day has not begun
    store.compute_rollups(DAY, DAY, "Europe/Paris", now=LO + 12 * H)
    row = _service_rollups(store, DAY)["web"]
    tally = live["web"][DAY]
    assert (tally.ratio, tally.observed, tally.worst.code) == (
        pytest.approx(row.uptime), pytest.approx(row.observed), row.worst_status)
    with store.engine.connect() as conn:
        live = rollups.service_days(conn, DAY, date(2024, 4, 1), PARIS, now=HI + 2 * H)
    after = live["web"][date(2024, 4, 1)]
    # operational until 01:00, then only slow: fully available, coloured as slow
    assert (after.ratio, after.observed, after.worst) == (1.0, 2 * H, ServiceStatus.DEGRADED)
    assert live["mail"][DAY].ratio == 1.0


def test_rows_of_an_older_rule_are_computed_again(store):
    store.compute_rollups(date(2024, 3, 30), date(2024, 4, 1), "Europe/Paris", now=HI + 2 * H)
    table = DailyServiceRollup.__table__
    with store.engine.begin() as conn:  # as written before the rule was versioned
        conn.execute(update(table).values(uptime=0.25, observed=1.0, worst_status=None,
                                          availability_rule=None))
    store.rollup_ledger = RollupLedger()  # a restart
    store.compute_rollups(date(2024, 4, 2), None, "Europe/Paris", now=HI + 2 * H)
    web = _service_rollups(store, DAY)["web"]
    assert (web.uptime, web.observed) == (pytest.approx(20 / 21), pytest.approx(21 * H))
    assert (web.worst_status, web.availability_rule) == (
        ServiceStatus.MAJOR_OUTAGE.code, availability.RULE)
    assert web.runs == 11 and web.latency_p50 == pytest.approx(0.4)  # left as they were
    assert store.rollup_ledger.rule_current
    # newest days first, a bounded number per pass
    with store.engine.begin() as conn:
        conn.execute(update(table).values(availability_rule=None))
    assert rollups.refresh_outdated(store.engine, "Europe/Paris", HI + 2 * H, limit=2) == 2
    with store.session() as session:
        left = session.scalars(select(DailyServiceRollup.day)
                               .where(DailyServiceRollup.availability_rule.is_(None))).all()
    assert left == [date(2024, 3, 30)]
    assert rollups.refresh_outdated(store.engine, "Europe/Paris", HI + 2 * H) == 1
    assert rollups.refresh_outdated(store.engine, "Europe/Paris", HI + 2 * H) == 0


def test_a_change_stamped_at_now_or_later_colours_today(store):
    """A status change written with a clock a little ahead of the page's still gives
    today the colour of the status shown beside it."""
    store.record_service_change("mail", LO + 12 * H + 5, ServiceStatus.OPERATIONAL,
                                ServiceStatus.MAJOR_OUTAGE)
    with store.engine.connect() as conn:
        live = rollups.service_days(conn, DAY, DAY, PARIS, now=LO + 12 * H)
    assert live["mail"][DAY].worst == ServiceStatus.MAJOR_OUTAGE
    assert live["mail"][DAY].ratio == 1.0  # not a second of it counted yet
