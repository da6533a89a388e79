"""The probe contract: what a probe plugin implements and what it returns.

A probe kind is a class with a ``kind`` name, a typed ``Config`` model (the keys a check of
that kind accepts besides the common ones) and one ``async def check(config, ctx)``. One
instance serves every check of its kind, so a probe keeps no per-check state.

Probes report failures by raising :class:`ProbeFailed` with a :class:`Reason` (a code and
the volunteers' sentence, one message of the catalogues)
(the runner turns it into a ``down`` result, or the status given), or by returning a
:class:`ProbeResult` themselves. They never retry: the state machine's confirmation does.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from monitor.resources import is_local_exhaustion
from monitor.schema import StrictModel
from monitor.status import Status
from monitor.words import Bilingual, Words, _

if TYPE_CHECKING:
    import aiohttp


@dataclass(frozen=True, slots=True)
class Reason:
    """A short human explanation of a result, for volunteers, in French and English.

    ``code`` is a stable machine identifier (``http.status``, ``timeout``…) used for
    grouping, tests and the members' words; ``words`` is the technical sentence
    volunteers read (alerts, tickets, ``vigie check``, the admin API), a
    :class:`~monitor.words.Bilingual` rendered from the catalogues when the probe built
    the reason (:func:`reason`); :attr:`fr` and :attr:`en` read it.

    Members never read ``words``: public places (the status page, the JSON API without a
    token, badges, the feed, forum posts, automatic incident updates) show
    :meth:`for_public`, the members' words for the code
    (:func:`monitor.reasonwords.public_words`), which name no address, port, code or
    counter.

    ``public`` says whether the sentence quotes text that came from outside Vigie (a
    monitoring plugin's output, a job's message, a server's error or a value it
    answered). It is stored with the reason and kept for the volunteers' places that
    want to know; the runner (``monitor.runner.clean_result``) sets it to False for a
    sentence that needed cleaning (a control character, a line break, too long).
    """

    code: str
    words: Bilingual
    #: False when ``words`` quote outside text (see above)
    public: bool = True

    @property
    def fr(self) -> str:
        """The sentence in French."""
        return self.words.fr

    @property
    def en(self) -> str:
        """The sentence in English (French when there is none)."""
        return self.words.say("en")

    def text(self, lang: str = "fr") -> str:
        """The sentence in ``lang`` (French when the language is unknown)."""
        return self.words.say(lang)

    def for_public(self, status: Status | int | None = None) -> Reason:
        """What a public place shows: the members' words for this reason's code (or,
        for a code without words, a sentence for the check's ``status``), same code."""
        from monitor.reasonwords import public_words

        try:
            key = Status(status) if status is not None else None
        except ValueError:
            key = None
        words = public_words(self.code, key)
        return Reason(self.code, Bilingual(words.fr, words.en))


def reason(code: str, words: Words | str, en: str | None = None, /, *, public: bool = True,
           **params: Any) -> Reason:
    """Build a :class:`Reason` from its code and its volunteers' sentence.

    Vigie's own probes give one English message of the catalogues (``monitor.words._``
    or ``n_``, parameters included), rendered in every language::

        reason("http.status", _("HTTP status {got}", got=503))

    A plugin outside Vigie's catalogues may give the French and the English templates
    instead, formatted with ``params``: ``reason("x.y", "Disque plein à {p} %",
    "Disk {p} % full", p=97)``.

    Give ``public=False`` when a parameter is text from outside Vigie (see :class:`Reason`).
    The members' words for ``code`` are declared apart (:attr:`Probe.public_words`).

    >>> reason("http.status", _("HTTP status {got}", got=503)).en
    'HTTP status 503'
    """
    if isinstance(words, Words):
        if en is not None or params:
            raise TypeError("give the parameters to the message (_(msgid, **params)), "
                            "not to reason()")
        return Reason(code, Bilingual(words.fr, words.en), public)
    return Reason(code, Bilingual(words.format(**params), (en or words).format(**params)),
                  public)


#: the reason of a run that failed because Vigie itself ran short of a local resource
#: (file descriptors, memory): it says nothing about the target, so the state machine
#: neither confirms nor clears a failure with it (``monitor.state``), and the runtime
#: stores the run as ``unknown`` and alerts the volunteers
LOCAL_RESOURCES = reason(
    "vigie.resources",
    _("Vigie ran short of resources for this check (file descriptors or memory): result "
      "not counted"))


class _SharedEmpty(dict):
    """An empty ``dict`` that refuses every change: the one ``samples`` and ``info`` of
    every result that has none (an empty dict per result is 64 bytes, per check kept as
    its last result). Readers see a plain empty dict (``json``, ``isinstance``)."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("this empty mapping is shared by every result: give the result "
                        "a dict of its own instead")

    __setitem__ = __delitem__ = __ior__ = _refuse
    update = setdefault = pop = popitem = clear = _refuse


#: the shared empty mapping (see :class:`_SharedEmpty`)
NO_VALUES: dict[str, Any] = _SharedEmpty()


def _no_values() -> dict[str, Any]:
    return NO_VALUES


@dataclass(slots=True)
class ProbeResult:
    """The outcome of one run of one check.

    ``duration`` and ``started_at`` are filled in by the runner; a probe only sets what
    it judged. ``samples`` are numeric measurements declared in the probe's ``samples``
    (a value may be a mapping from a label value to a number for a probe that declares
    a ``label``); ``info`` holds short strings such as a version.
    """

    status: Status
    reason: Reason | None = None
    #: the shared read-only :data:`NO_VALUES` when not given: give a dict to fill
    samples: dict[str, float | dict[str, float]] = field(default_factory=_no_values)
    #: the shared read-only :data:`NO_VALUES` when not given: give a dict to fill
    info: dict[str, str] = field(default_factory=_no_values)
    duration: float = 0.0
    started_at: float = 0.0

    @classmethod
    def up(cls, reason: Reason | None = None, **kwargs: Any) -> ProbeResult:
        """A passing result."""
        return cls(Status.UP, reason, **kwargs)

    @classmethod
    def degraded(cls, reason: Reason, **kwargs: Any) -> ProbeResult:
        """A result that works but not well (slow, nearly full, certificate expiring…)."""
        return cls(Status.DEGRADED, reason, **kwargs)

    @classmethod
    def down(cls, reason: Reason, **kwargs: Any) -> ProbeResult:
        """A failing result."""
        return cls(Status.DOWN, reason, **kwargs)


class ProbeFailed(Exception):
    """Raised by a probe when the target fails; carries the human reason.

    ``status`` defaults to DOWN; use UNKNOWN when the probe could not judge (bad answer
    from a monitoring plugin, say), DEGRADED for a soft failure.

    Raised while handling an error of the OS refusing Vigie a local resource (EMFILE…,
    see :func:`monitor.resources.is_local_exhaustion`), it becomes UNKNOWN with
    :data:`LOCAL_RESOURCES`: the probe's words ("could not connect to …") would blame
    the target for Vigie's own shortage.
    """

    def __init__(
        self,
        reason: Reason,
        status: Status = Status.DOWN,
        samples: dict[str, float | dict[str, float]] | None = None,
        info: dict[str, str] | None = None,
    ) -> None:
        if status is not Status.UP and is_local_exhaustion(sys.exc_info()[1]):
            reason, status = LOCAL_RESOURCES, Status.UNKNOWN
        super().__init__(reason.en)
        self.reason = reason
        self.status = status
        self.samples = samples or NO_VALUES
        self.info = info or NO_VALUES


@dataclass(frozen=True, slots=True)
class SampleSpec:
    """Declares one numeric sample a probe may report, exported as ``vigie_<name>``.

    ``name`` follows Prometheus conventions (base units, e.g.
    ``tls_cert_expiry_timestamp_seconds``); ``label`` names the extra label when the
    sample value is a mapping (e.g. ``label="perfdata"`` for Nagios performance data).
    """

    name: str
    help: str
    label: str | None = None


class ProbeConfig(StrictModel):
    """Base for a probe's typed config: unknown keys are refused, values are frozen,
    ``SecretStr`` fields may be given as ``<field>_file``."""


@dataclass(frozen=True, slots=True)
class CheckRef:
    """Who is being probed: enough for a probe to log or name a request."""

    service_id: str
    check_id: str
    kind: str
    #: stable unique key of the check, ``service/check``; built once, because it is a
    #: dictionary key on every run and one shared string per check saves memory
    key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", f"{self.service_id}/{self.check_id}")


@dataclass(slots=True)
class ProbeContext:
    """What the runner hands to a probe for one run.

    ``http`` is the process-wide aiohttp session (never create another one). ``timeout``
    is the check's configured timeout in seconds: the hard deadline the runner enforces
    around ``check``, the figure to name in a timeout reason. ``deadline`` is the instant
    (of ``clock``, a monotonic clock) by which the probe must have finished its network
    work: a little before the runner's hard deadline, so that the probe, not the runner,
    says what it was waiting for. Probes bound their waits with :meth:`remaining`
    (``async with asyncio.timeout(ctx.remaining()):``) and never compute a budget of their
    own; :func:`monitor.runner.probe_context` builds a context by the runner's one rule.
    """

    check: CheckRef
    timeout: float
    http: aiohttp.ClientSession
    #: the instant (of ``clock``) the probe's network work must be over
    deadline: float
    #: the monotonic clock ``deadline`` is read on (the runner's; a test's manual clock)
    clock: Callable[[], float]
    extras: dict[str, Any] = field(default_factory=dict)

    def remaining(self) -> float:
        """Seconds left until :attr:`deadline` (0 when past)."""
        left = self.deadline - self.clock()
        return left if left > 0.0 else 0.0

    def expired(self) -> bool:
        """The probe's time is up."""
        return self.clock() >= self.deadline


class Probe:
    """Base class of a probe kind. Subclasses set ``kind`` and ``Config``, implement ``check``."""

    #: the value of ``kind:`` in the configuration
    kind: ClassVar[str]
    #: the typed model of the kind-specific keys
    Config: ClassVar[type[ProbeConfig]] = ProbeConfig
    #: one line for ``vigie probes`` and the docs
    description: ClassVar[str] = ""
    #: numeric samples this kind may report
    samples: ClassVar[tuple[SampleSpec, ...]] = ()
    #: keys of ``ProbeResult.info`` exported as labels of ``vigie_<kind>_info`` (bounded
    #: values only, such as a version; undeclared keys are never exported)
    info_keys: ClassVar[tuple[str, ...]] = ()
    #: what members read for each reason code this kind emits (or a code family:
    #: ``"mail.tls"`` covers ``mail.tls.expired``), plain words with no address, port,
    #: code or counter; the core's words cover the shared families (``connection``,
    #: ``dns``, ``tls``, ``http``, ``timeout``…), see :mod:`monitor.reasonwords`
    public_words: ClassVar[Mapping[str, Words]] = {}
    #: whether a ``vigie agent`` at a remote location can run this kind's checks. False
    #: for a kind whose results do not come from probing from where it runs: a push
    #: check (the ``heartbeat`` kind judges the beats jobs send to the server itself).
    #: A check of such a kind listing a remote location is refused at load.
    runs_on_agents: ClassVar[bool] = True

    @classmethod
    def prepare(cls, config: ProbeConfig) -> Any:
        """What a check of this kind keeps for its lifetime (``Check.options``, handed to
        :meth:`check` on every run), made once from its validated ``config`` at load.

        The config itself by default. A kind with many checks may return something
        smaller that reads the same keys (the http probe shares every option but the URL
        between checks configured alike).
        """
        return config

    @classmethod
    def config_of(cls, options: Any) -> ProbeConfig:
        """The validated config a check's ``options`` were made from (what :meth:`prepare`
        was given), to send the check elsewhere (a remote agent validates and prepares it
        again). ``options`` itself by default; a kind whose :meth:`prepare` returns
        something else overrides this too."""
        return options

    async def check(self, config: Any, ctx: ProbeContext) -> ProbeResult:
        """Run the check once against ``config`` and return its result (or raise ProbeFailed)."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release resources held across runs (connection pools…); called at shutdown."""
