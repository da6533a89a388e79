"""The background machinery of the status page: refresh runs and detail reads, with jobs
that block on events the tests release (no sleeps, no time bounds)."""

from __future__ import annotations

import threading

from dashboard.offpath import MAX_RUNNERS, DetailReads, Refresher

LONG = 60.0  # only ever reached if something hangs


class Monotonic:
    """A monotonic clock the tests move."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class BlockingJob:
    """A refresh job whose runs block until released, run by run."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.finished: list[int] = []
        self.release: dict[int, threading.Event] = {}
        self.entered = threading.Condition()

    def __call__(self, number: int) -> None:
        gate = self.release.setdefault(number, threading.Event())
        with self.entered:
            self.started.append(number)
            self.entered.notify_all()
        assert gate.wait(LONG)
        self.finished.append(number)

    def running(self, count: int) -> None:
        with self.entered:
            assert self.entered.wait_for(lambda: len(self.started) >= count, LONG)

    def let_go(self, number: int) -> None:
        self.release.setdefault(number, threading.Event()).set()


def test_asking_during_a_run_waits_for_nothing_and_starts_nothing():
    job, clock = BlockingJob(), Monotonic()
    refresher = Refresher(job, stuck_after=30, name="t", monotonic=clock)
    first = refresher.ask()
    job.running(1)
    assert refresher.ask() == first  # served by the run going on
    assert not refresher.wait(first, 0)
    job.let_go(first)
    assert refresher.wait(first, LONG)
    assert refresher.idle(LONG)
    assert job.started == [first]


def test_a_fresh_request_gets_a_run_that_starts_after_it():
    job, clock = BlockingJob(), Monotonic()
    refresher = Refresher(job, stuck_after=30, name="t", monotonic=clock)
    first = refresher.ask()
    job.running(1)
    fresh = refresher.ask(fresh=True)
    assert fresh > first
    job.let_go(first)
    job.let_go(fresh)
    assert refresher.wait(fresh, LONG)
    assert job.started == [first, fresh]


def test_a_stuck_run_is_left_behind_and_tried_again_beside_it():
    job, clock = BlockingJob(), Monotonic()
    refresher = Refresher(job, stuck_after=30, name="t", monotonic=clock)
    stuck = refresher.ask()
    job.running(1)
    clock.now += 10
    assert refresher.ask() == stuck and refresher.busy_for() == 10
    clock.now += 21  # no answer for more than stuck_after
    again = refresher.ask()
    assert again > stuck
    job.running(2)
    # the second one hangs too: no third thread (MAX_RUNNERS), however long it lasts
    assert MAX_RUNNERS == 2
    clock.now += 100
    assert refresher.ask() == again
    job.let_go(again)
    assert refresher.wait(again, LONG)
    # the first is still stuck: once alone, it is tried again beside
    third = refresher.ask()
    assert third > again
    job.running(3)
    job.let_go(third)
    job.let_go(stuck)
    assert refresher.idle(LONG)
    assert sorted(job.finished) == [stuck, again, third]


def test_a_read_that_comes_late_is_kept_for_the_next_request():
    gate, kept = threading.Event(), []
    came = threading.Event()
    reads = DetailReads(lambda read: read("conn"))

    def slow(conn):
        assert gate.wait(LONG)
        return f"chart from {conn}"

    def keep(value):
        kept.append(value)
        came.set()

    assert reads.get("chart", slow, keep, wait=0) is None  # not yet: the request goes on
    assert reads.get("chart", slow, keep, wait=0) is None  # the same read, not a second
    gate.set()
    assert came.wait(LONG)
    assert kept == ["chart from conn"]


def test_reads_going_at_once_are_limited():
    gate = threading.Event()
    reads = DetailReads(lambda read: read(None), limit=2)
    blocked = lambda conn: gate.wait(LONG)  # noqa: E731 (a one-line stand-in)
    assert reads.get(1, blocked, lambda v: None, wait=0) is None
    assert reads.get(2, blocked, lambda v: None, wait=0) is None
    ran = []
    assert reads.get(3, lambda conn: ran.append(1) or "x", lambda v: None, wait=LONG) is None
    assert ran == []  # not even started
    gate.set()


def test_a_read_error_reaches_the_request():
    reads = DetailReads(lambda read: read(None))

    def broken(conn):
        raise LookupError("no such table")

    try:
        reads.get("x", broken, lambda v: None, wait=LONG)
    except LookupError as exc:
        assert str(exc) == "no such table"
    else:
        raise AssertionError("the error was swallowed")
