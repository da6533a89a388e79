"""The volunteers' picture of the locations: frozen records the dashboard reads.

:meth:`monitor.locations.book.LocationBook.grid` makes a :class:`LocationGrid` (a check ×
location grid, as the running Vigie holds it in memory now); the dashboard gets the
function through ``StartupContext.location_grid`` and never sees the live objects.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.probe import Reason, Status
from monitor.words import Bilingual


@dataclass(frozen=True, slots=True)
class PlaceRecord:
    """One location."""

    name: str
    label: Bilingual
    #: False for the server's own location
    remote: bool
    #: False while the location is left out for its silence (``locations.silent_after``)
    reachable: bool
    #: when its last result was received (the server's clock); None: none since start
    last_result_at: float | None
    #: the checks run from it
    checks: int


@dataclass(frozen=True, slots=True)
class CellRecord:
    """One check at one location: that location's own damped state."""

    location: str
    #: confirmed status at this location (after ``confirm`` failures in a row); None: not
    #: judged yet
    status: Status | None
    since: float | None
    #: the last result from this location (status, when it started, its reason)
    last_status: Status | None
    last_at: float | None
    reason: Reason | None
    #: a failure was seen here but is not confirmed yet
    pending: bool
    reachable: bool

    @property
    def failing(self) -> bool:
        """Confirmed down or degraded at this location."""
        return self.status in (Status.DOWN, Status.DEGRADED)


@dataclass(frozen=True, slots=True)
class CheckGridRow:
    """One check run from several locations: the consensus and each location's cell."""

    key: str
    service_id: str
    check_id: str
    name: Bilingual
    quorum: int
    #: the consensus members are told (None: no verdict yet)
    status: Status | None
    #: up for members while some locations (fewer than the quorum) see a failure
    partial: bool
    #: the consensus' reason ("2 of 3 locations: …")
    reason: Reason | None
    #: one cell per location the check runs from, in the order the check lists them
    cells: tuple[CellRecord, ...]

    def cell(self, location: str) -> CellRecord | None:
        """This check's cell at ``location`` (None: it does not run there)."""
        return next((c for c in self.cells if c.location == location), None)


@dataclass(frozen=True, slots=True)
class LocationGrid:
    """Every check run from several locations × every location, now."""

    #: the locations the checks run from, the server's own first
    locations: tuple[PlaceRecord, ...]
    checks: tuple[CheckGridRow, ...]
    #: when the picture was taken (the server's clock)
    at: float

    def for_service(self, service_id: str) -> LocationGrid:
        """The grid of one service's checks (and only the locations they run from)."""
        rows = tuple(r for r in self.checks if r.service_id == service_id)
        used = {c.location for r in rows for c in r.cells}
        return LocationGrid(tuple(p for p in self.locations if p.name in used), rows, self.at)
