"""The locations inside ``vigie run``: results from each place in, verdicts out.

:class:`LocationSystem` is what :class:`monitor.runtime.Runtime` holds. On the event loop:

- the server's own runs of a check run from several locations come from the scheduler
  (:meth:`on_self_result`), the agents' results from any thread
  (:meth:`submit_location_result`, thread-safe; the agents' endpoint calls it for each
  new result, in order);
- each result updates that location's damped state, then the check's verdict is
  decided again (:mod:`monitor.locations.consensus`) and handed to the runtime
  (``Runtime.take_verdict``), which sets the check's status as it is, with no second
  damping, and stores it as the check's result;
- :meth:`run` looks every :attr:`look_every` seconds for remote locations silent for
  ``locations.silent_after``: each is left out of its checks' verdicts, and volunteers
  get a ``vigie.agents`` alert (another when it reports again). Never an outage.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from monitor.locations.book import LocationBook, LocationChange
from monitor.locations.records import LocationGrid
from monitor.locations.wording import back_alert, silent_alert
from monitor.notifications import SystemAlert
from monitor.probe import NO_VALUES, ProbeResult
from monitor.runner import clean_result
from monitor.waits import wait_event

if TYPE_CHECKING:
    from monitor.config import Check
    from monitor.runtime import Runtime

log = logging.getLogger(__name__)

#: seconds between two looks for silent locations, at most
LOOK_EVERY = 30.0
#: seconds before an alert that could not be written is tried again
RETRY_AFTER = 5.0


class LocationNotAssigned(ValueError):
    """A result was submitted for a check that does not run from that location (the
    agents' endpoint answers 403)."""


class LocationSystem:
    """The locations of one running Vigie (see the module)."""

    def __init__(self, runtime: Runtime, *, clock: Callable[[], float] = time.time) -> None:
        self.runtime = runtime
        settings = runtime.config.file.locations
        self.book = LocationBook(runtime.config.checks, settings, clock=clock)
        self.here = self.book.here
        #: keys of the checks whose status is their locations' consensus
        self.located = frozenset(self.book.checks)
        self.look_every = max(0.05, min(LOOK_EVERY, settings.silent_after / 4))
        #: where the server's own runs of located checks go besides the verdict (the
        #: per-location raw results' table, when the agents' part provides it), or None
        self.self_results: Callable[[str, str, ProbeResult], None] | None = None
        self._alerts: list[SystemAlert] = []
        self._news = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def grid(self) -> LocationGrid:
        """The check × location picture now (any thread)."""
        return self.book.grid()

    # Results in -------------------------------------------------------------------------

    def submit_location_result(self, check_key: str, location: str,
                               result: ProbeResult) -> None:
        """Take one result of ``check_key`` run at the remote ``location``. Thread-safe;
        the result crosses :func:`~monitor.runner.clean_result` and is applied on the
        event loop, in the order of the calls.

        :raises KeyError: no enabled check has this key.
        :raises LocationNotAssigned: the check does not run from ``location`` (or it is
            the server's own, whose runs are not submitted).
        :raises TypeError: ``result`` does not have the shape of a :class:`ProbeResult`.
        """
        check = self.runtime.enabled_check(check_key)
        if location == self.here:
            raise LocationNotAssigned(f"{location!r} is the server's own location: its "
                                      "results come from the server's runs")
        if check.key not in self.located or location not in check.locations:
            raise LocationNotAssigned(f"check {check_key!r} does not run from the "
                                      f"location {location!r}")
        result = clean_result(result)
        if not result.started_at:
            result.started_at = self.book.clock()
        assert self._loop is not None, "submit_location_result() called before the start"
        self._loop.call_soon_threadsafe(self.apply, check, location, result)

    def take_followed(self, check_key: str, location: str, result: ProbeResult,
                      owned: bool) -> None:
        """An agent's result read back from the database by a cluster's node
        (:mod:`monitor.locations.follow`, on the event loop): applied when this node
        owns the check, else it only says the location is alive. A row of a check that
        does not run from ``location`` here (another configuration) is left out."""
        check = self.book.checks.get(check_key)
        if check is None or location == self.here or location not in check.locations:
            return
        if owned:
            self.apply(check, location, result)
            return
        back = self.book.heard(location)
        if back is not None:
            self._changed([back])

    def on_self_result(self, check: Check, result: ProbeResult) -> float:
        """The server's own run of a located check; return the delay until its next run
        (the server's location's damping: ``retry_interval`` while a failure is pending)."""
        if self.self_results is not None:
            self.self_results(check.key, self.here, result)
        self.apply(check, self.here, result)
        return self.book.state(check.key, self.here).next_delay()

    def apply(self, check: Check, location: str, result: ProbeResult) -> None:
        """Apply one location's result and hand the check's verdict to the runtime (on the
        event loop)."""
        back = self.book.record(check.key, location, result)
        self._verdict(check, result)
        if back is not None:
            self._changed([back])

    def _verdict(self, check: Check, trigger: ProbeResult | None) -> None:
        """Decide the check again and hand a verdict with a status to the runtime: stored
        as the check's result when a location's result caused it (``trigger``: its time
        and duration), else only its status. A verdict carries the samples and info of
        the server's own last run of the check (certificate expiry, versions…): the
        metrics and pages of the check read them as for any check."""
        verdict = self.book.decide(check.key)
        if verdict.status is None:
            return
        why = self.book.reason(check.key)
        if trigger is None:
            self.runtime.take_verdict(check, ProbeResult(
                verdict.status, why, started_at=self.book.clock()), store=False)
            return
        own = self.book.last_here(check.key)
        self.runtime.take_verdict(check, ProbeResult(
            verdict.status, why, samples=own.samples if own else NO_VALUES,
            info=own.info if own else NO_VALUES, duration=trigger.duration,
            started_at=trigger.started_at))

    # Reachability -----------------------------------------------------------------------

    def look(self) -> None:
        """Leave out the locations silent for ``silent_after`` (on the event loop)."""
        changes = self.book.look()
        if changes:
            self._changed(changes)

    def _changed(self, changes: list[LocationChange]) -> None:
        for change in changes:
            keys = self.book.checks_at(change.location)
            label = self.book.settings.label(change.location)
            if change.reachable:
                log.info("location %s reports again", change.location)
                alert = back_alert(change.location, label, change.silent_since, change.at)
            else:
                log.warning("location %s silent since %.0f: left out of %d checks",
                            change.location, change.silent_since, len(keys))
                alert = silent_alert(change.location, label, change.silent_since,
                                     change.at, len(keys))
            self._alerts.append(alert)
            for key in keys:
                self._verdict(self.book.checks[key], None)
        self._news.set()

    async def run(self) -> None:
        """Look for silent locations and tell volunteers, until cancelled."""
        self._loop = asyncio.get_running_loop()
        while True:
            await wait_event(self._news, self.look_every)
            self._news.clear()
            self.look()
            self._news.clear()
            await self._tell()

    def wake(self) -> None:
        """Look now (a test moved the clock), from any thread."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._news.set)

    async def _tell(self) -> None:
        if not self.runtime.is_leader():
            # (a cluster's nodes all follow every location: the leader alone tells)
            self._alerts.clear()
            return
        while self._alerts:
            alert = self._alerts[0]
            if not await self.runtime.incidents.tell(alert):
                asyncio.get_running_loop().call_later(RETRY_AFTER, self._news.set)
                return
            self._alerts.pop(0)

    def started(self, loop: asyncio.AbstractEventLoop) -> None:
        """Vigie starts: results are applied on ``loop`` from now on (set before the
        listener serves), and the remote locations' silences count from now."""
        self._loop = loop
        self.book.start()
