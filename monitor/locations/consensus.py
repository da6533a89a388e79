"""The consensus of a check's locations: what members are told, from what each place sees.

Pure and synchronous. Each location of a check has its own damped status (a
:class:`~monitor.state.CheckState`: ``confirm`` failures in a row, as for any check); the
:class:`Vote` of a location is that confirmed status and whether the location is
reachable. :func:`decide` turns the votes into a :class:`Verdict`; the rule (documented
in docs/locations.md, tested in tests/monitor/locations/test_consensus.py):

1. unreachable locations are left out: they never count for or against the check;
2. **down** when at least ``quorum`` reachable locations are confirmed down;
3. **degraded** when at least ``quorum`` are confirmed down or degraded (fewer down);
4. **no verdict yet** (``status`` None: the check keeps its status) when the locations
   not judged yet (just started, first failures not confirmed) could still make a
   quorum of failures with those failing now;
5. **maintenance** when at least ``quorum`` say the target announces maintenance;
6. **up** when any reachable location says up: failures below the quorum make it a
   *partial* failure (:attr:`Verdict.partial`), which volunteers see and members do not;
7. otherwise **unknown**: too few locations can judge the check to reach the quorum
   either way (unknown neither opens nor resolves an incident).

The quorum is never lowered for unreachable locations: an agent that stops reporting can
hide a failure it alone would have seen, never make one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from monitor.probe import Status


@dataclass(frozen=True, slots=True)
class Vote:
    """What one location says of a check."""

    location: str
    #: its confirmed (damped) status; None while it has none yet
    status: Status | None
    #: False when the location has been silent for ``locations.silent_after``
    reachable: bool = True


@dataclass(frozen=True, slots=True)
class Verdict:
    """The consensus of a check's locations (:func:`decide`)."""

    #: the status members are told; None: no verdict yet (the check keeps its status)
    status: Status | None
    quorum: int
    #: how many locations the check runs from
    total: int
    #: the locations whose votes made the status (down ones for down, down and degraded
    #: ones for degraded, those announcing maintenance for maintenance, up ones for up)
    deciding: tuple[str, ...] = ()
    #: reachable locations confirmed down or degraded
    failing: tuple[str, ...] = ()
    #: locations left out for their silence
    unreachable: tuple[str, ...] = ()
    #: reachable locations that could judge (a confirmed status other than unknown)
    judging: tuple[str, ...] = ()

    @property
    def partial(self) -> bool:
        """Up for members while some locations see a failure (fewer than the quorum)."""
        return self.status is Status.UP and bool(self.failing)


_FAILING = (Status.DOWN, Status.DEGRADED)


def decide(votes: Sequence[Vote], quorum: int) -> Verdict:
    """The verdict of ``votes`` (one per location of the check) under ``quorum``; see the
    module's rule."""
    reachable = [v for v in votes if v.reachable]
    down = tuple(v.location for v in reachable if v.status is Status.DOWN)
    failing = tuple(v.location for v in reachable if v.status in _FAILING)
    waiting = sum(1 for v in reachable if v.status is None)
    unreachable = tuple(v.location for v in votes if not v.reachable)
    judging = tuple(v.location for v in reachable
                    if v.status is not None and v.status is not Status.UNKNOWN)

    def verdict(status: Status | None, deciding: tuple[str, ...] = ()) -> Verdict:
        return Verdict(status, quorum, len(votes), deciding, failing, unreachable, judging)

    if len(down) >= quorum:
        return verdict(Status.DOWN, down)
    if len(failing) >= quorum:
        return verdict(Status.DEGRADED, failing)
    if len(failing) + waiting >= quorum:
        return verdict(None)
    announcing = tuple(v.location for v in reachable if v.status is Status.MAINTENANCE)
    if len(announcing) >= quorum:
        return verdict(Status.MAINTENANCE, announcing)
    up = tuple(v.location for v in reachable if v.status is Status.UP)
    if up:
        return verdict(Status.UP, up)
    return verdict(None if waiting else Status.UNKNOWN)
