""":class:`monitor.locations.system.LocationSystem` between its inputs and the runtime:
what each verdict hands to ``Runtime.take_verdict`` (stored or not, with which time,
duration and samples), the server's own retry delay, and the words members read."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from monitor.config import Check, Config, FileConfig, LocalizedText, LocationSettings, Service
from monitor.locations.consensus import Verdict
from monitor.locations.system import LocationSystem
from monitor.locations.wording import verdict_reason
from monitor.probe import CheckRef, ProbeConfig, ProbeResult, Status, reason

SETTINGS = {"remote": [{"name": "lyon"}, {"name": "nice"}], "silent_after": "2m"}
HOME = Check(CheckRef("web", "home", "http"), LocalizedText(fr="home"), 300.0, 10.0, 2,
             30.0, ProbeConfig(), locations=("local", "lyon", "nice"), quorum=2)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Taken:
    """What the runtime was handed: ``(check key, result, stored)``."""

    verdicts: list[tuple[str, ProbeResult, bool]] = field(default_factory=list)


class Runtime:
    """The part of :class:`monitor.runtime.Runtime` a LocationSystem uses."""

    def __init__(self) -> None:
        file = FileConfig.model_validate({"locations": SETTINGS})
        self.config = Config(path=Path("vigie.yaml"), file=file,
                             services=(Service("web", LocalizedText(fr="Web"), None, None,
                                               (HOME,)),))
        self.taken = Taken()
        self.incidents = SimpleNamespace(tell=None)
        self.leading = True

    def is_leader(self) -> bool:
        return self.leading

    def enabled_check(self, key: str) -> Check:
        return {HOME.key: HOME}[key]

    def take_verdict(self, check: Check, result: ProbeResult, *, store: bool = True) -> None:
        self.taken.verdicts.append((check.key, result, store))


def system() -> tuple[LocationSystem, Runtime, Clock]:
    runtime, clock = Runtime(), Clock()
    # (a stand-in holding the parts of Runtime it uses)
    return LocationSystem(runtime, clock=clock), runtime, clock  # type: ignore[arg-type]  # stand-in


FAILED = reason("http.status", "HTTP 503", "HTTP 503")


def test_the_server_s_own_run_is_retried_after_retry_interval_while_a_failure_is_pending():
    locations, runtime, clock = system()
    assert locations.on_self_result(HOME, ProbeResult.up(started_at=clock.now)) == 300.0
    assert locations.on_self_result(HOME, ProbeResult.down(FAILED, started_at=clock.now)) \
        == 30.0
    assert locations.on_self_result(HOME, ProbeResult.down(FAILED, started_at=clock.now)) \
        == 300.0  # confirmed down at this location: back to the interval


def test_each_verdict_is_stored_with_the_trigger_s_time_and_the_server_s_samples():
    locations, runtime, clock = system()
    own = ProbeResult.up(samples={"tls_cert_expiry_timestamp_seconds": 2e9},
                         info={"version": "1.2"}, duration=0.2, started_at=clock.now)
    locations.on_self_result(HOME, own)
    # local up, lyon and nice not judged yet: they could make a quorum of two, no verdict
    assert runtime.taken.verdicts == []
    locations.apply(HOME, "lyon", ProbeResult.up(duration=0.7, started_at=clock.now + 4))
    [(key, verdict, stored)] = runtime.taken.verdicts
    assert (key, verdict.status, stored) == ("web/home", Status.UP, True)
    assert (verdict.started_at, verdict.duration) == (clock.now + 4, 0.7)
    assert verdict.samples == own.samples and verdict.info == own.info
    assert verdict.reason is None


def test_a_silent_location_changes_the_verdict_without_a_stored_result():
    locations, runtime, clock = system()
    unjudged = reason("probe.output", "sortie illisible", "unreadable output")
    for _ in range(2):  # the server's own probe cannot judge the target
        locations.on_self_result(HOME, ProbeResult(Status.UNKNOWN, unjudged,
                                                   started_at=clock.now))
    for location in ("lyon", "nice"):
        locations.apply(HOME, location, ProbeResult.down(FAILED, started_at=clock.now))
        locations.apply(HOME, location, ProbeResult.down(FAILED, started_at=clock.now + 1))
    verdict = runtime.taken.verdicts[-1][1]
    assert verdict.status is Status.DOWN and len(runtime.taken.verdicts) == 1
    assert locations.look_every == 30.0  # min(30 s, silent_after / 4)
    clock.now += 119
    locations.look()
    assert len(runtime.taken.verdicts) == 1
    clock.now += 1
    locations.apply(HOME, "lyon", ProbeResult.down(FAILED, started_at=clock.now))
    locations.look()  # nice silent for 2 minutes: left out, down 1 of 2 needed
    key, verdict, stored = runtime.taken.verdicts[-1]
    assert (verdict.status, stored, verdict.started_at) == (Status.UNKNOWN, False, clock.now)
    assert verdict.reason.code == "vigie.locations.no_quorum"
    assert verdict.reason.en == "only 1 location of 3 can judge the check (2 needed)"
    assert [a.details["location"] for a in locations._alerts] == ["nice"]


def test_members_read_the_consensus_words_never_the_locations():
    locations, runtime, clock = system()
    locations.on_self_result(HOME, ProbeResult.up(started_at=clock.now))
    locations.apply(HOME, "nice", ProbeResult.up(started_at=clock.now))
    for at in (1, 2):
        locations.apply(HOME, "lyon", ProbeResult.down(FAILED, started_at=clock.now + at))
    partial = runtime.taken.verdicts[-1][1].reason
    assert partial.code == "vigie.locations.partial"
    assert partial.en == "1 location of 3 sees a failure (lyon): HTTP 503"
    assert partial.for_public(Status.UP).en == "The service works"
    assert partial.for_public(Status.UP).fr == "Le service fonctionne"
    no_quorum = verdict_reason(Verdict(Status.UNKNOWN, 2, 3, judging=("local",)), {},
                               LocationSettings().label)
    assert no_quorum.for_public(Status.UNKNOWN).en == \
        "Vigie could not check the service; the volunteers know"
    down = verdict_reason(Verdict(Status.DOWN, 2, 3, ("lyon", "nice")), {},
                          LocationSettings().label)
    assert (down.code, down.en) == ("vigie.locations.down", "2 locations of 3: no reason given")
    assert down.for_public(Status.DOWN).en == "The service does not work; the volunteers know"


def test_a_followed_result_is_judged_by_the_owner_and_only_heard_elsewhere():
    """A cluster's node reading agents' results back (``take_followed``): the owner
    applies them; another node only learns the location is alive (a silent location
    comes back); a row of a check not run from there is left out."""
    locations, runtime, clock = system()
    locations.book.start()
    clock.now += 121  # lyon and nice silent for silent_after
    locations.look()
    assert not locations.book.reachable("lyon")
    locations.take_followed(HOME.key, "lyon", ProbeResult.down(FAILED, started_at=clock.now),
                            owned=False)
    assert locations.book.reachable("lyon")  # heard: back in the consensus
    assert locations.book.state(HOME.key, "lyon").last is None  # not judged here
    locations.take_followed(HOME.key, "paris", ProbeResult.up(started_at=clock.now), True)
    locations.take_followed("web/other", "lyon", ProbeResult.up(started_at=clock.now), True)
    locations.take_followed(HOME.key, "local", ProbeResult.up(started_at=clock.now), True)
    assert all(locations.book.state(HOME.key, n).last is None for n in HOME.locations)
    locations.take_followed(HOME.key, "nice", ProbeResult.down(FAILED, started_at=clock.now),
                            owned=True)
    assert locations.book.state(HOME.key, "nice").last is not None
    assert locations.book.reachable("nice")


async def test_only_the_leader_tells_volunteers_of_a_silent_location():
    """Every node of a cluster follows every location: the leader alone tells."""
    told = []

    async def tell(alert) -> bool:
        told.append(alert.details["location"])
        return True

    for leading in (False, True):
        locations, runtime, clock = system()
        runtime.incidents.tell = tell
        runtime.leading = leading
        locations.book.start()
        clock.now += 121
        locations.look()
        await locations._tell()
        assert locations._alerts == []
    assert told == ["lyon", "nice"]  # once, by the leader
