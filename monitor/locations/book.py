"""Each location's own damped state of each check run from several locations, whether
each remote location is reachable, and the checks' verdicts.

:class:`LocationBook` is synchronous, like :class:`monitor.state.StateBook`; the runtime
feeds it on the event loop (:mod:`monitor.locations.system`) while the metrics and the
dashboard read it from other threads, so every method holds its lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from monitor.config import Check, LocationSettings
from monitor.locations.consensus import Verdict, Vote, decide
from monitor.locations.records import CellRecord, CheckGridRow, LocationGrid, PlaceRecord
from monitor.locations.wording import verdict_reason
from monitor.probe import ProbeResult, Reason
from monitor.state import CheckState


def located(check: Check, here: str) -> bool:
    """Whether ``check`` runs from another location than the server alone (``here``):
    its status is then the consensus of its locations."""
    return bool(check.locations) and check.locations != (here,)


def runs_here(check: Check, here: str) -> bool:
    """Whether the server itself runs ``check`` (it lists the server's location, or none)."""
    return not check.locations or here in check.locations


@dataclass(frozen=True, slots=True)
class LocationChange:
    """A remote location became unreachable (silent for ``silent_after``) or reachable
    again (a result came)."""

    location: str
    reachable: bool
    #: when its last result before the silence was received (or the book started)
    silent_since: float
    at: float


class LocationBook:
    """Per (check, location) :class:`~monitor.state.CheckState`, with the check's own
    ``confirm`` and ``retry_interval``; the remote locations' last results; the verdicts.

    :param checks: every check of the configuration (those run from the server alone
        are left out).
    :param clock: the server's clock (a test's controlled clock).
    """

    def __init__(self, checks: Iterable[Check], settings: LocationSettings, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.here = settings.self.name
        self.clock = clock
        self.checks: dict[str, Check] = {c.key: c for c in checks
                                         if c.enabled and located(c, self.here)}
        self._states = {(c.key, name): CheckState(c) for c in self.checks.values()
                        for name in c.locations}
        self._at: dict[str, list[str]] = {}
        for check in self.checks.values():
            for name in check.locations:
                self._at.setdefault(name, []).append(check.key)
        #: remote location -> when it was last heard of (its last result, or the start)
        self._heard = dict.fromkeys(
            (name for name in settings.remote_names() if name in self._at), clock())
        self._received: dict[str, float] = {}
        #: unreachable location -> silent since
        self._silent: dict[str, float] = {}
        self._verdicts: dict[str, Verdict] = {}
        self._reasons: dict[str, Reason | None] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        """Count the remote locations' silences from now (Vigie starts probing)."""
        with self._lock:
            now = self.clock()
            for name in self._heard:
                self._heard[name] = now

    def locations(self) -> list[str]:
        """The locations some check runs from, the server's first, in the file's order."""
        return [n for n in self.settings.names() if n in self._at]

    def checks_at(self, location: str) -> list[str]:
        """The keys of the checks run from ``location``."""
        return list(self._at.get(location, ()))

    def state(self, check_key: str, location: str) -> CheckState:
        """The damped state of ``check_key`` at ``location``.

        :raises KeyError: the check does not run from there.
        """
        return self._states[(check_key, location)]

    def reachable(self, location: str) -> bool:
        """Whether ``location`` counts in the consensus now."""
        with self._lock:
            return location not in self._silent

    def record(self, check_key: str, location: str, result: ProbeResult
               ) -> LocationChange | None:
        """Apply ``result`` to the check's state at ``location``; the change, when the
        location was unreachable and is reachable again."""
        now = self.clock()
        with self._lock:
            self._states[(check_key, location)].record(result)
            if location == self.here:
                return None
            self._heard[location] = self._received[location] = now
            silent_since = self._silent.pop(location, None)
        if silent_since is None:
            return None
        return LocationChange(location, True, silent_since, now)

    def heard(self, location: str) -> LocationChange | None:
        """A result came from the remote ``location`` for a check this node does not
        judge (a cluster's node owning another share): the location is alive. The
        change, when it was unreachable and is reachable again."""
        now = self.clock()
        with self._lock:
            if location not in self._heard:
                return None
            self._heard[location] = self._received[location] = now
            silent_since = self._silent.pop(location, None)
        if silent_since is None:
            return None
        return LocationChange(location, True, silent_since, now)

    def look(self) -> list[LocationChange]:
        """The remote locations silent for ``silent_after`` since the last look, now
        left out of the consensus."""
        now = self.clock()
        changes = []
        with self._lock:
            for name, heard in self._heard.items():
                if name not in self._silent and now - heard >= self.settings.silent_after:
                    self._silent[name] = heard
                    changes.append(LocationChange(name, False, heard, now))
        return changes

    def decide(self, check_key: str) -> Verdict:
        """The check's verdict from its locations' states now (kept for :meth:`grid`)."""
        check = self.checks[check_key]
        with self._lock:
            votes = [Vote(name, self._states[(check_key, name)].status,
                          name not in self._silent) for name in check.locations]
            verdict = decide(votes, check.quorum)
            self._verdicts[check_key] = verdict
            if verdict.status is not None:
                self._reasons[check_key] = verdict_reason(
                    verdict, {n: self._last_reason(check_key, n) for n in check.locations},
                    self.settings.label)
        return verdict

    def reason(self, check_key: str) -> Reason | None:
        """The reason of the check's last verdict that had a status."""
        with self._lock:
            return self._reasons.get(check_key)

    def last_here(self, check_key: str) -> ProbeResult | None:
        """The last result of the server's own run of the check (None: it has none, or
        the server does not run it)."""
        state = self._states.get((check_key, self.here))
        return state.last if state is not None else None

    def _last_reason(self, check_key: str, location: str) -> Reason | None:
        last = self._states[(check_key, location)].last
        return last.reason if last is not None else None

    def grid(self) -> LocationGrid:
        """The check × location picture now (frozen records)."""
        with self._lock:
            places = tuple(PlaceRecord(
                name, self.settings.label(name), name != self.here,
                name not in self._silent, self._received.get(name),
                len(self._at[name])) for name in self.locations())
            rows = tuple(self._row(check) for check in self.checks.values())
        return LocationGrid(places, rows, self.clock())

    def _row(self, check: Check) -> CheckGridRow:
        verdict = self._verdicts.get(check.key)
        cells = []
        for name in check.locations:
            state = self._states[(check.key, name)]
            last = state.last
            cells.append(CellRecord(
                name, state.status, state.since, last.status if last else None,
                last.started_at if last else None, last.reason if last else None,
                state.pending, name not in self._silent))
        return CheckGridRow(
            check.key, check.ref.service_id, check.ref.check_id, check.name, check.quorum,
            verdict.status if verdict else None, bool(verdict and verdict.partial),
            self._reasons.get(check.key), tuple(cells))
