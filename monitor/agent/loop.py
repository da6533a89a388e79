"""One agent process: its checks fetched, run, spooled and sent, until SIGTERM or a
refused token.

Four tasks on one event loop:

- **checks** — fetches the location's checks at start and every ``--refresh-every``
  (``If-None-Match``: an unchanged list costs a 304); a new list replaces the scheduler,
  the checks kept keeping their due times and their state;
- **runs** — :class:`monitor.scheduler.Scheduler`, as in ``vigie run``: the same
  runner, deadlines and probe plugins. A local :class:`monitor.state.StateBook` only
  decides the delay before each next run (the retry interval after a failure not yet
  confirmed); the server judges;
- **spool** — writes results to disk as they come (a batch per write, fsynced), in the
  spool's own thread;
- **send** — :class:`monitor.agent.sender.Sender`.

The last list of checks is kept in ``<data dir>/checks.json`` (mode 0600: it holds the
secrets the server shares with agents), so an agent started while the server is away
runs its checks all the same.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from monitor import __version__
from monitor.agent.checks import AssignedChecks, ChecksAnswer, agent_registry, assigned_checks
from monitor.agent.protocol import (
    Fetched,
    ProtocolError,
    Refused,
    ServerClient,
    Unavailable,
)
from monitor.agent.records import result_record
from monitor.agent.sender import FIRST_BACKOFF, Identity, Sender
from monitor.agent.settings import EXIT_REFUSED, AgentSettings
from monitor.agent.spool import Spool, SpoolThread
from monitor.config import Check
from monitor.http_session import LazyHttpSession
from monitor.plugins import ProbeRegistry
from monitor.probe import ProbeResult
from monitor.scheduler import Scheduler, first_run_offset
from monitor.state import StateBook

log = logging.getLogger(__name__)

#: a clock further than this from the server's is worth a warning (seconds)
CLOCK_WARNING = 60.0
#: exit code of an agent stopped by a bug of its own (systemd restarts it)
EXIT_FAILED = 1
#: seconds a stopping agent gives to sending what it holds (the rest waits on disk)
LAST_PUSH = 5.0
#: seconds results gather in memory before they are written (one write and one fsync
#: for all of them)
SPOOL_EVERY = 0.25


def probe_user_agent(agent: str, location: str) -> str:
    """The User-Agent of the agent's probe requests: Vigie's, naming the agent and its
    location, so a target's logs (or a test's stand-in) tell where a request came from.
    The names come from the server: only letters, digits, ``.``, ``_`` and ``-`` are
    kept."""
    def safe(name: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]", "", name)[:63] or "?"
    return (f"Vigie/{__version__} (status monitoring; agent {safe(agent)} at "
            f"{safe(location)})")


class Agent:
    """The agent (see the module); :meth:`run` returns its exit code."""

    def __init__(self, settings: AgentSettings, token: str, registry: ProbeRegistry, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.registry = agent_registry(registry)
        self.token = token
        self.disk = SpoolThread(Spool(settings.spool_dir, settings.max_buffered))
        self.identity = Identity(boot=str(uuid.uuid4()))
        self.exit_code = 0
        #: results lost before the spool (its disk refusing them), sent with ``dropped``
        self.lost_in_memory = 0
        self._clock = clock
        self._assigned: AssignedChecks | None = None
        self._etag: str | None = None
        self._state = StateBook([])
        #: check key → when (``clock``) it is due next
        self._due: dict[str, float] = {}
        self._unspooled: list[dict[str, Any]] = []
        self._spool_wake = asyncio.Event()
        self._checks_changed = asyncio.Event()
        self._stop = asyncio.Event()
        self._clock_off = False
        self._disk_failing = False
        self.sender: Sender | None = None
        #: the probes' HTTP session (its User-Agent names this agent and its location)
        self.http = LazyHttpSession()

    def stop(self) -> None:
        """Stop as SIGTERM does."""
        self._stop.set()

    async def run(self) -> int:
        """Run until stopped; save every result taken to disk before returning.

        :raises monitor.agent.spool.SpoolLocked: another agent uses the data directory.
        :raises OSError: the data directory cannot be used.
        """
        settings = self.settings
        try:
            await self.disk.call(self.disk.spool.open)
        except BaseException:
            self.disk.shutdown()
            raise
        try:
            spool = self.disk.spool
            log.info("Vigie agent %s%s for %s: %d results waiting on disk, next seq %d",
                     __version__, f" ({settings.location_label})"
                     if settings.location_label else "", settings.server, spool.buffered,
                     spool.next_seq)
            await self._load_cached_checks()
            async with ServerClient(settings.server, self.token, settings.ca_file) as client, \
                    self.http as http:
                await self._serve(client, http)
        finally:
            await self.disk.call(self.disk.spool.close)
            self.disk.shutdown()
        return self.exit_code

    async def _serve(self, client: ServerClient, http: LazyHttpSession) -> None:
        loop = asyncio.get_running_loop()
        handled = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._stop.set)
                handled.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
                pass
        self.sender = Sender(client, self.disk, self.identity,
                             max_backoff=self.settings.max_backoff,
                             dropped_elsewhere=lambda: self.lost_in_memory)
        if self._assigned is not None:
            self.identity.name(self._assigned.agent)
        runs = asyncio.create_task(self._guard(self._run_checks(http)), name="agent-runs")
        background = [
            asyncio.create_task(self._guard(self._refresh(client)), name="agent-checks"),
            asyncio.create_task(self._guard(self._write_spool()), name="agent-spool"),
            asyncio.create_task(self._guard(self.sender.run()), name="agent-send"),
        ]
        self.sender.wake.set()  # what an earlier run left on disk goes first
        try:
            await self._stop.wait()
            await runs  # runs in flight end (each within its deadline), results taken
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await self.sender.settle(LAST_PUSH)
            runs.cancel()
            await asyncio.gather(runs, return_exceptions=True)
            await self._flush()
            if self.exit_code == 0:
                await self._last_push()
            for sig in handled:
                loop.remove_signal_handler(sig)
            log.info("agent stopped: %d results wait on disk for the server",
                     await self.disk.call(lambda: self.disk.spool.buffered))

    async def _last_push(self) -> None:
        """Send what waits, if the server takes it within :data:`LAST_PUSH` seconds."""
        sender = self.sender
        if sender is None or not self.identity.known.is_set() or sender.away:
            return
        try:
            async with asyncio.timeout(LAST_PUSH):
                while await sender.send_once():
                    pass
        except (TimeoutError, ProtocolError) as exc:
            log.debug("last push not done: %s", getattr(exc, "message", exc))

    async def _guard(self, work: Coroutine[Any, Any, None]) -> None:
        """Run one of the agent's tasks; a refused token or a bug stops the agent."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Refused as exc:
            log.error("the server %s refuses this agent's token (%s); stopping. Ask its "
                      "volunteers for a new token (vigie agent-token add) and put it in "
                      "%s", self.settings.server, exc.message, self.settings.token_file)
            self.exit_code = EXIT_REFUSED
            self._stop.set()
        except Exception:
            log.exception("the agent failed; stopping (its results are on disk)")
            self.exit_code = self.exit_code or EXIT_FAILED
            self._stop.set()

    # Checks -------------------------------------------------------------------------------

    async def _refresh(self, client: ServerClient) -> None:
        """Fetch the checks now and every ``refresh_every`` (sooner while the server has
        never answered); :class:`Refused` stops the agent."""
        failures = 0
        while True:
            try:
                fetched = await client.fetch_checks(self._etag)
            except Unavailable as exc:
                failures += 1
                if failures == 1:
                    log.warning("cannot fetch the checks from %s: %s; %s", client.base_url,
                                exc.message, "running the last ones received"
                                if self._assigned is not None else "trying again")
                delay = min(self.settings.refresh_every, FIRST_BACKOFF * 2 ** failures)
            else:
                if failures:
                    log.info("checks fetched from %s again", client.base_url)
                failures = 0
                if fetched is not None:
                    await self._take(fetched)
                delay = self.settings.refresh_every
            try:
                await asyncio.wait_for(self._stop.wait(), delay)
                return
            except TimeoutError:
                pass

    async def _take(self, fetched: Fetched) -> None:
        """A new answer of the server: its checks replace the running ones."""
        answer = fetched.answer
        self._note_clock(fetched.clock_offset)
        if self._assigned is not None and answer.revision == self._assigned.revision:
            self._etag = fetched.etag
            return
        self._use(assigned_checks(answer, self.registry), fetched.etag)
        await self.disk.call(self._save_checks, answer, fetched.etag)

    def _use(self, assigned: AssignedChecks, etag: str | None) -> None:
        self._assigned, self._etag = assigned, etag
        self.identity.name(assigned.agent)
        self.http.use_user_agent(probe_user_agent(assigned.agent, assigned.location))
        self._checks_changed.set()
        log.info("%d checks for location %s (agent %s, revision %.12s)",
                 len(assigned.checks), assigned.location, assigned.agent, assigned.revision)

    def _note_clock(self, offset: float | None) -> None:
        if offset is None:
            return
        off = abs(offset) > CLOCK_WARNING
        if off and not self._clock_off:
            log.warning("this machine's clock is %.0f s %s the server's: results are "
                        "still placed right (the server measures the difference on each "
                        "batch), but set up NTP", abs(offset),
                        "behind" if offset > 0 else "ahead of")
        elif self._clock_off and not off:
            log.info("this machine's clock agrees with the server's again")
        self._clock_off = off

    async def _load_cached_checks(self) -> None:
        path = self.settings.checks_file
        try:
            saved = json.loads(await self.disk.call(path.read_bytes))
            answer = ChecksAnswer.model_validate(saved["answer"])
            etag = saved.get("etag")
        except FileNotFoundError:
            return
        except Exception as exc:  # noqa: BLE001 - a bad cache only means fetching first
            log.warning("%s cannot be read (%s); waiting for the server's list", path, exc)
            return
        self._use(assigned_checks(answer, self.registry), etag if isinstance(etag, str)
                  else None)

    def _save_checks(self, answer: ChecksAnswer, etag: str | None) -> None:
        """Keep the list on disk (the spool's thread), replaced atomically."""
        path = self.settings.checks_file
        temporary = path.with_suffix(".tmp")
        data = json.dumps({"etag": etag, "answer": answer.model_dump(mode="json")})
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)

    # Runs ---------------------------------------------------------------------------------

    async def _run_checks(self, http: LazyHttpSession) -> None:
        """Run the current checks; start again on a new list, until the agent stops."""
        stopping = asyncio.create_task(self._stop.wait())
        try:
            while not self._stop.is_set():
                assigned = self._assigned
                self._checks_changed.clear()
                scheduler = self._scheduler(assigned, http) if assigned is not None else None
                stop_runs = asyncio.Event()
                runs = (asyncio.create_task(scheduler.run(stop_runs))
                        if scheduler is not None else None)
                changed = asyncio.create_task(self._checks_changed.wait())
                await asyncio.wait([stopping, changed], return_when=asyncio.FIRST_COMPLETED)
                changed.cancel()
                stop_runs.set()
                if runs is not None:
                    await runs
        finally:
            stopping.cancel()

    def _scheduler(self, assigned: AssignedChecks, http: LazyHttpSession) -> Scheduler:
        """A scheduler for ``assigned`` (see :meth:`carry_over`)."""
        return Scheduler(list(assigned.checks), self.registry,
                         http,  # type: ignore[arg-type]  # the lazy session stands for aiohttp's
                         self._on_result, concurrency=self.settings.concurrency,
                         first_due=self.carry_over(assigned), clock=self._clock)

    def carry_over(self, assigned: AssignedChecks) -> dict[str, float]:
        """Take ``assigned`` as the checks run from now on: each check kept keeps its
        state (a failure not yet confirmed, hence its retry delay); return the seconds
        until each check's first run: when it was due for a check kept (at most its
        interval), at its usual spot in its interval for a new one."""
        now = self._clock()
        previous = self._state
        self._state = StateBook(assigned.services())
        for key, state in self._state.checks.items():
            if (before := previous.checks.get(key)) is not None:
                state.take_over(before.status, before.since, before.failures)
        due = {key: when for key, when in self._due.items() if key in self._state.checks}
        for check in assigned.checks:
            due.setdefault(check.key, now + first_run_offset(check))
        self._due = due
        return {check.key: min(due[check.key] - now, check.interval)
                for check in assigned.checks}

    def _on_result(self, check: Check, result: ProbeResult) -> float:
        """Take one result (on the loop): to the spool; the delay until the next run."""
        self._unspooled.append(result_record(check.key, result))
        self._spool_wake.set()
        state = self._state.checks.get(check.key)
        delay = check.interval
        if state is not None:
            self._state.apply(check.key, result)
            delay = state.next_delay()
        self._due[check.key] = self._clock() + delay
        return delay

    # Spool ----------------------------------------------------------------------------------

    async def _write_spool(self) -> None:
        while True:
            await self._spool_wake.wait()
            await asyncio.sleep(SPOOL_EVERY)  # let the results of the same moment join
            self._spool_wake.clear()
            if not await self._flush():
                await asyncio.sleep(FIRST_BACKOFF)  # the disk refused: try again soon
                self._spool_wake.set()

    async def _flush(self) -> bool:
        """Write the results taken so far; False when the disk refused them (they stay
        in memory, the oldest dropped beyond ``--max-buffered``)."""
        while self._unspooled:
            batch, self._unspooled = self._unspooled, []
            try:
                await self.disk.call(self.disk.spool.append, batch)
            except OSError as exc:
                kept = batch + self._unspooled
                excess = max(0, len(kept) - self.settings.max_buffered)
                self.lost_in_memory += excess
                self._unspooled = kept[excess:]
                if not self._disk_failing:
                    log.error("cannot write results to %s (%s); keeping them in memory "
                              "(at most %d) and trying again", self.settings.spool_dir,
                              exc.strerror or exc, self.settings.max_buffered)
                self._disk_failing = True
                return False
            if self._disk_failing:
                log.info("results written to %s again", self.settings.spool_dir)
                self._disk_failing = False
            if self.sender is not None:
                self.sender.wake.set()
        return True
