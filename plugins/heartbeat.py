"""Probe kind ``heartbeat``: jobs (backups, cron tasks) tell Vigie they ran.

A job calls ``POST /push/<token>`` (``GET`` and ``HEAD`` work too, for a bare
``curl``/``wget``), optionally with ``status=up|down|fail`` and ``msg=...`` as form or
query fields. The check is down when the last beat said ``down``/``fail`` (its message is
the reason) or when no beat came within ``expected_every`` + ``grace``.

How it fits together: ``vigie_startup`` builds a :class:`BeatBoard` (thread-safe, in
memory) for the enabled heartbeat checks, hands it to the probe instance found through
``runtime.registry``, and mounts :class:`PushApp`, a small WSGI app served by Vigie's
HTTP threads, under ``/push``. A beat updates the board and is also submitted at once with
``runtime.submit_result``, so a failing job shows without waiting for the next run; the
scheduled runs read the board like any other check.

Beats are not persisted: after a restart, until a job's first beat arrives, the start
time counts as its last beat, so a restart never pages anyone before a full
``expected_every`` + ``grace`` has passed without news.

A token in the wrong hands (or a job in a loop) must not write a row per request: a beat
is *stored* (submitted as a result) at most once per check and :func:`beat_period`, plus
the first change of status within that period, so a failure following a success is
never delayed. A later change in the same period is taken on the board, and the next
scheduled run stores it; any other beat within the period is refused with 429 and a
``Retry-After``, leaving the board as it was. The limiter is two fields per watched
check: nothing grows with the requests.

Tokens are secrets: only their SHA-256 digest is kept, compared with
:func:`hmac.compare_digest`, and never logged or shown.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr, field_validator
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request

from monitor.api import (
    Duration,
    LogThrottle,
    Probe,
    ProbeConfig,
    ProbeContext,
    ProbeFailed,
    ProbeResult,
    SampleSpec,
    Status,
    _,
    clean_line,
    duration,
    every,
    hookimpl,
    left_out,
    reason,
)

if TYPE_CHECKING:
    from monitor.api import StartupContext

log = logging.getLogger(__name__)

#: where the receiver is mounted on Vigie's HTTP listener
PUSH_PREFIX = "/push"
#: a job's message is cut to this many characters
MAX_MESSAGE = 200
#: larger requests (body or query string) are refused with 413
MAX_REQUEST_BYTES = 8192
STATUSES = {"up": True, "down": False, "fail": False}
_TOKEN = re.compile(r"[A-Za-z0-9._~-]{16,200}")
#: at most one "unknown token" warning per this many seconds (a misconfigured job
#: retrying in a loop must not flood the log)
UNKNOWN_TOKEN_LOG_EVERY = 60.0


class HeartbeatConfig(ProbeConfig):
    """Keys of a ``heartbeat`` check."""

    # validation errors must not echo the input: it holds secrets
    model_config = ProbeConfig.model_config | {"hide_input_in_errors": True}

    #: the secret in the push address; ``token_file`` works. At least 16 characters among
    #: letters, digits and ``- _ . ~`` (e.g. ``python3 -c "import secrets;
    #: print(secrets.token_urlsafe(24))"``)
    token: SecretStr
    #: how often the job runs (e.g. ``1d`` for a nightly backup)
    expected_every: Duration
    #: how late a beat may be before the check is down
    grace: Duration = 3600.0

    @field_validator("token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        # the message must never quote the token itself
        if not _TOKEN.fullmatch(value.get_secret_value()):
            raise ValueError("the token must be 16 to 200 characters among letters, digits "
                             "and - _ . ~ (e.g. from: python3 -c \"import secrets; "
                             "print(secrets.token_urlsafe(24))\")")
        return value


def token_digest(token: str) -> bytes:
    """The SHA-256 digest under which a token is known."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def clean_message(text: str) -> str:
    """A job's message as stored: one line of printable text, at most MAX_MESSAGE characters.

    Markup is kept as text (``<script>`` stays ``<script>``): escaping is the job of
    whatever displays it.
    """
    return clean_line(text, MAX_MESSAGE)


@dataclass(frozen=True, slots=True)
class Beat:
    """One beat received from a job."""

    at: float
    ok: bool
    message: str


def beat_period(config: HeartbeatConfig, interval: float | None) -> float:
    """The shortest time between two stored beats of a check: half the time the job
    declares between its runs (a job beating at its own pace is never refused, even a
    little early), and at most the check's ``interval`` (the scheduled runs store a result
    that often anyway)."""
    half = config.expected_every / 2
    return min(half, interval) if interval else half


@dataclass(slots=True)
class _Watch:
    check_key: str
    digest: bytes
    config: HeartbeatConfig
    #: when watching started: counts as the last beat until a real one arrives
    since: float
    #: see :func:`beat_period`
    period: float
    last: Beat | None = None
    #: when the current period began (its first beat, stored), and whether a change of
    #: status was stored since
    period_start: float | None = None
    changed: bool = False

    def admit(self, now: float, ok: bool) -> bool | None:
        """Whether a beat saying ``ok`` now is stored (True), only taken on the board
        (False), or refused (None)."""
        start = self.period_start
        if start is None or not start <= now < start + self.period:
            self.period_start, self.changed = now, False
            return True
        if self.last is not None and self.last.ok != ok:
            stored = not self.changed
            self.changed = True
            return stored
        return None


@dataclass(frozen=True, slots=True)
class Admission:
    """What became of a beat for one check using its token."""

    check_key: str
    #: the check's result after the beat; None when the beat was refused
    result: ProbeResult | None
    #: the result is to be stored at once (else the next scheduled run stores the state)
    store: bool = False
    #: when refused: seconds until this check takes a beat again
    retry_after: float = 0.0


class BeatBoard:
    """The last beat of each heartbeat check, shared by the HTTP threads and the probe."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._watches: dict[str, _Watch] = {}

    def watch(self, check_key: str, config: HeartbeatConfig,
              interval: float | None = None) -> None:
        """Start (or restart, when its token changed) watching a check's beats.

        :param interval: the check's interval (see :func:`beat_period`); kept when None.
        """
        digest = token_digest(config.token.get_secret_value())
        with self._lock:
            current = self._watches.get(check_key)
            if current is None or current.digest != digest:
                self._watches[check_key] = _Watch(check_key, digest, config, self.clock(),
                                                  beat_period(config, interval))
            else:
                current.config = config
                if interval is not None:
                    current.period = beat_period(config, interval)

    def record(self, token: str, ok: bool, message: str) -> list[Admission]:
        """Offer a beat to every check using ``token``; say what became of it for each
        (see the module for the rule).

        An empty list means the token is unknown.
        """
        digest = token_digest(token)
        now = self.clock()
        admissions = []
        with self._lock:
            # compare against every watch, without stopping at the first match
            matches = [w for w in self._watches.values() if hmac.compare_digest(w.digest, digest)]
            for found in matches:
                stored = found.admit(now, ok)
                if stored is None:
                    assert found.period_start is not None
                    admissions.append(Admission(found.check_key, None, retry_after=(
                        found.period_start + found.period - now)))
                    continue
                found.last = Beat(now, ok, message)
                admissions.append(Admission(found.check_key, _judge(found, now), stored))
        return admissions

    def judge(self, check_key: str, config: HeartbeatConfig) -> ProbeResult:
        """The check's result now (watching it from now on if it was not yet)."""
        self.watch(check_key, config)
        with self._lock:
            return _judge(self._watches[check_key], self.clock())

    def last_beat(self, check_key: str) -> Beat | None:
        """The last beat received for a check, if any."""
        with self._lock:
            found = self._watches.get(check_key)
            return found.last if found else None


def _judge(watch: _Watch, now: float) -> ProbeResult:
    config, last = watch.config, watch.last
    samples: dict[str, Any] = {"heartbeat_last_beat_timestamp_seconds": last.at} if last else {}
    if last is not None and not last.ok:
        if last.message:
            # the job's own words: volunteers only (see monitor.probe.Reason)
            why = reason("heartbeat.failed", _("The job reported a failure: {msg}",
                                               msg=last.message), public=False)
        else:
            why = reason("heartbeat.failed", _("The job reported a failure (no message)"))
        return ProbeResult.down(why, samples=samples)
    reference = last.at if last else watch.since
    silent = now - reference
    if silent > config.expected_every + config.grace:
        # durations in words ("2 minutes 20 secondes", "toutes les minutes"), as everywhere
        params = {"ago": duration(silent, smallest=1), "every": every(config.expected_every)}
        if last is None:
            why = reason("heartbeat.never",
                         _("No beat from the job since Vigie started {ago} ago (expected "
                           "{every})", **params))
        else:
            why = reason("heartbeat.late",
                         _("No beat from the job for {ago} (expected {every})", **params))
        return ProbeResult.down(why, samples=samples)
    if last is None:
        return ProbeResult.up(reason("heartbeat.waiting",
                                     _("Waiting for the first beat since Vigie started")))
    return ProbeResult.up(samples=samples)


class HeartbeatProbe(Probe):
    """Judges push checks from the beats the receiver recorded."""

    kind = "heartbeat"
    public_words = {
        "heartbeat": _("A scheduled task (backups, updates…) did not run as planned; "
                       "the volunteers know"),
        "heartbeat.failed": _("A scheduled task (backups, updates…) failed; the volunteers know"),
        "heartbeat.no_receiver": _("Vigie could not check the service; the volunteers know"),
        "heartbeat.waiting": _("The task has not reported yet"),
    }
    Config = HeartbeatConfig
    # the beats reach the server's own listener: an agent elsewhere never sees them
    runs_on_agents = False
    description = ("Push check: a job calls /push/<token>; down when it reports a failure "
                   "or goes silent")
    samples = (
        SampleSpec("heartbeat_last_beat_timestamp_seconds",
                   "Unix time of the last beat received since Vigie started"),
    )

    def __init__(self, board: BeatBoard | None = None) -> None:
        #: set by ``vigie_startup``; None outside ``vigie run``
        self.board = board

    async def check(self, config: HeartbeatConfig, ctx: ProbeContext) -> ProbeResult:
        """The check's state from the board (no I/O)."""
        if self.board is None:
            raise ProbeFailed(reason(
                "heartbeat.no_receiver",
                _("The beat receiver is not running (it only works inside “vigie run”)")),
                status=Status.UNKNOWN)
        return self.board.judge(ctx.check.key, config)


Submit = Callable[[str, ProbeResult], None]


class PushApp:
    """The WSGI app receiving beats at ``<mount prefix>/<token>``.

    Answers JSON: 200 ``{"ok": true, "status": ...}``; 400 for a bad ``status``; 404 for
    an unknown token; 405 for a method other than GET, POST, HEAD; 413 for a request over
    MAX_REQUEST_BYTES; 429 with ``Retry-After`` for a beat within the period of a stored
    one that changes nothing (see the module).
    """

    def __init__(self, board: BeatBoard, submit: Submit | None = None) -> None:
        self.board = board
        self.submit = submit
        self._unknown_log = LogThrottle(UNKNOWN_TOKEN_LOG_EVERY)
        self._refused_log = LogThrottle(UNKNOWN_TOKEN_LOG_EVERY)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        request.max_content_length = MAX_REQUEST_BYTES
        status, payload, headers = self._handle(request)
        body = b"" if request.method == "HEAD" else json.dumps(payload).encode()
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(body))),
                                ("Cache-Control", "no-store"), *headers])
        return [body]

    def _handle(self, request: Request) -> tuple[str, dict[str, Any], list[tuple[str, str]]]:
        if request.method not in ("GET", "POST", "HEAD"):
            return ("405 Method Not Allowed", {"error": "use POST (or GET)"},
                    [("Allow", "GET, POST, HEAD")])
        if len(request.environ.get("QUERY_STRING", "")) > MAX_REQUEST_BYTES:
            return "413 Content Too Large", {"error": "request too large"}, []
        try:
            form = request.form if request.method == "POST" else {}
        except RequestEntityTooLarge:
            return "413 Content Too Large", {"error": "request too large"}, []
        token = request.path.strip("/")
        if not token or "/" in token:
            return "404 Not Found", {"error": "unknown token"}, []
        state = (form.get("status") or request.args.get("status") or "up").strip().lower()
        if state not in STATUSES:
            return "400 Bad Request", {"error": "status must be up, down or fail"}, []
        message = clean_message(form.get("msg") or request.args.get("msg") or "")
        admissions = self.board.record(token, STATUSES[state], message)
        if not admissions:
            if (skipped := self._unknown_log.allow()) is not None:
                # the token itself is never logged: a typo of a real one is half a secret
                log.warning("heartbeat: beat with an unknown token from %s%s",
                            request.remote_addr or "?", left_out(skipped))
            return "404 Not Found", {"error": "unknown token"}, []
        if all(a.result is None for a in admissions):
            return self._refused(admissions)
        for taken in admissions:
            if not taken.store or taken.result is None:
                continue
            log.log(logging.INFO if state != "up" else logging.DEBUG,
                    "heartbeat: %s reported %s", taken.check_key, state)
            if self.submit is not None:
                try:
                    self.submit(taken.check_key, taken.result)
                except Exception:  # the beat is recorded; the next run will show it
                    log.exception("heartbeat: could not submit the result of %s",
                                  taken.check_key)
        return "200 OK", {"ok": True, "status": state}, []

    def _refused(self, admissions: list[Admission]
                 ) -> tuple[str, dict[str, Any], list[tuple[str, str]]]:
        """429: the beat changes nothing a stored one of this period did not say."""
        wait = max(1, math.ceil(min(a.retry_after for a in admissions)))
        if (skipped := self._refused_log.allow()) is not None:
            log.warning("heartbeat: too many beats for %s; answered 429%s",
                        ", ".join(a.check_key for a in admissions), left_out(skipped))
        return ("429 Too Many Requests",
                {"error": "too many beats: one is kept per period, and this one changes "
                          "nothing; send the next one later",
                 "retry_after": wait},
                [("Retry-After", str(wait))])


def _our_probe(ctx: StartupContext) -> HeartbeatProbe | None:
    """This plugin's probe instance, found through the probe registry."""
    registry = ctx.probes
    kind = registry.get(HeartbeatProbe.kind) if registry is not None else None
    instance = getattr(kind, "instance", None)
    return instance if isinstance(instance, HeartbeatProbe) else None


@hookimpl
def vigie_register_probes() -> list[type[Probe]]:
    """Register the ``heartbeat`` probe kind."""
    return [HeartbeatProbe]


@hookimpl
def vigie_startup(ctx: StartupContext) -> None:
    """Watch the enabled heartbeat checks and mount the receiver under ``/push``."""
    checks = [c for c in ctx.config.checks
              if c.enabled and isinstance(c.options, HeartbeatConfig)]
    if not checks:
        return
    board = BeatBoard()
    for check in checks:
        board.watch(check.key, check.options, check.interval)
    probe = _our_probe(ctx)
    if probe is None:
        log.warning("heartbeat: the probe instance was not found; heartbeat checks will "
                    "report 'unknown' between beats")
    else:
        probe.board = board
    ctx.mount(PUSH_PREFIX, PushApp(board, ctx.submit_result))
    log.info("heartbeat: receiving beats for %d check(s) under %s/<token>",
             len(checks), PUSH_PREFIX)


@hookimpl
def vigie_shutdown(ctx: StartupContext) -> None:
    """Forget the board (beats are not kept across restarts)."""
    probe = _our_probe(ctx)
    if probe is not None:
        probe.board = None
