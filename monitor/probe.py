"""The probe contract: what a probe plugin implements and what it returns.

A probe kind is a class with a ``kind`` name, a typed ``Config`` model (the keys a check of
that kind accepts besides the common ones) and one ``async def check(config, ctx)``. One
instance serves every check of its kind, so a probe keeps no per-check state.

Probes report failures by raising :class:`ProbeFailed` with a bilingual :class:`Reason`
(the runner turns it into a ``down`` result, or the status given), or by returning a
:class:`ProbeResult` themselves. They never retry: the state machine's confirmation does.
"""

from __future__ import annotations

import enum
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from monitor.resources import is_local_exhaustion
from monitor.schema import StrictModel

if TYPE_CHECKING:
    import aiohttp


class Status(enum.IntEnum):
    """Status of one check run, ordered from best to worst for comparisons.

    The integer values are exported as ``vigie_check_status`` and stored in the database:
    they are a contract and never change.
    """

    UP = 0
    DEGRADED = 1
    DOWN = 2
    UNKNOWN = 3
    #: the target itself announces maintenance (e.g. an application's status endpoint)
    MAINTENANCE = 4

    @property
    def label(self) -> str:
        """Lower-case name used in config, JSON and metric labels."""
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Reason:
    """A short human explanation of a result, in French and English.

    ``code`` is a stable machine identifier (``http.status``, ``timeout``…) used for
    grouping and tests; ``fr`` and ``en`` are the rendered sentences shown to people.

    The public rule: a probe whose sentence quotes text that came from outside Vigie (a
    monitoring plugin's output, a job's message, a server's error or a value it answered)
    sets ``public=False``. Public places (the status page, the JSON API, forum posts,
    automatic incident updates) then show :meth:`for_public`, a generic sentence for the
    check's status; volunteers keep the full sentence (alerts, tickets, ``vigie check``).

    The runner cleans every reason (``monitor.runner.clean_result``): one that needed
    cleaning (a control character, a line break, a double space, too long) quoted outside
    text, and becomes ``public=False`` whatever the probe said.
    """

    code: str
    fr: str
    en: str
    #: False when ``fr``/``en`` quote outside text (see the public rule above)
    public: bool = True

    def text(self, lang: str = "fr") -> str:
        """The sentence in ``lang`` (French when the language is unknown)."""
        return self.en if lang == "en" else self.fr

    def for_public(self, status: Status | int | None = None) -> Reason:
        """What a public place shows: this reason, or, when it quotes outside text, a
        generic sentence for the check's ``status`` (same code)."""
        if self.public:
            return self
        try:
            key = Status(status) if status is not None else None
        except ValueError:
            key = None
        fr, en = PUBLIC_SENTENCES.get(key, PUBLIC_SENTENCES[None])
        return Reason(self.code, fr, en)


#: the sentences public places show instead of a reason quoting outside text, by status
PUBLIC_SENTENCES: dict[Status | None, tuple[str, str]] = {
    Status.UP: ("La vérification a réussi", "The check passed"),
    Status.DEGRADED: ("Fonctionnement dégradé (le détail technique est transmis à l'équipe "
                      "bénévole)",
                      "Degraded service (the technical details went to the volunteers)"),
    Status.DOWN: ("La vérification a échoué (le détail technique est transmis à l'équipe "
                  "bénévole)",
                  "The check failed (the technical details went to the volunteers)"),
    Status.UNKNOWN: ("La vérification n'a pas pu conclure (le détail technique est transmis "
                     "à l'équipe bénévole)",
                     "The check could not conclude (the technical details went to the "
                     "volunteers)"),
    Status.MAINTENANCE: ("Le service annonce une maintenance", "The service announces maintenance"),
    None: ("Le détail technique est réservé à l'équipe bénévole",
           "The technical details are kept for the volunteers"),
}


def reason(code: str, fr: str, en: str, *, public: bool = True, **params: Any) -> Reason:
    """Build a :class:`Reason`, formatting both templates with ``params``.

    Give ``public=False`` when a parameter is text from outside Vigie (see :class:`Reason`).

    >>> reason("http.status", "Code HTTP {got}", "HTTP status {got}", got=503).fr
    'Code HTTP 503'
    """
    return Reason(code=code, fr=fr.format(**params), en=en.format(**params), public=public)


#: the reason of a run that failed because Vigie itself ran short of a local resource
#: (file descriptors, memory): it says nothing about the target, so the state machine
#: neither confirms nor clears a failure with it (``monitor.state``), and the runtime
#: stores the run as ``unknown`` and alerts the volunteers
LOCAL_RESOURCES = reason(
    "vigie.resources",
    "Vigie a manqué de ressources pour cette vérification (descripteurs de fichiers ou "
    "mémoire) : résultat non compté",
    "Vigie ran short of resources for this check (file descriptors or memory): result "
    "not counted")


class _SharedEmpty(dict):
    """An empty ``dict`` that refuses every change: the one ``samples`` and ``info`` of
    every result that has none (an empty dict per result is 64 bytes, per check kept as
    its last result). Readers see a plain empty dict (``json``, ``isinstance``)."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("this empty mapping is shared by every result: give the result "
                        "a dict of its own instead")

    __setitem__ = __delitem__ = __ior__ = _refuse
    update = setdefault = pop = popitem = clear = _refuse  # type: ignore[assignment]


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
    def up(cls, reason: Reason | None = None, **kwargs: Any) -> "ProbeResult":
        """A passing result."""
        return cls(Status.UP, reason, **kwargs)

    @classmethod
    def degraded(cls, reason: Reason, **kwargs: Any) -> "ProbeResult":
        """A result that works but not well (slow, nearly full, certificate expiring…)."""
        return cls(Status.DEGRADED, reason, **kwargs)

    @classmethod
    def down(cls, reason: Reason, **kwargs: Any) -> "ProbeResult":
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

    ``http`` is the process-wide aiohttp session (never create another one); ``timeout``
    is the hard deadline in seconds the runner enforces around ``check`` (a probe can use
    it to set its own, slightly shorter, socket timeouts so it can report a precise reason).
    """

    check: CheckRef
    timeout: float
    http: "aiohttp.ClientSession"
    extras: dict[str, Any] = field(default_factory=dict)


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

    @classmethod
    def prepare(cls, config: ProbeConfig) -> Any:
        """What a check of this kind keeps for its lifetime (``Check.options``, handed to
        :meth:`check` on every run), made once from its validated ``config`` at load.

        The config itself by default. A kind with many checks may return something
        smaller that reads the same keys (the http probe shares every option but the URL
        between checks configured alike).
        """
        return config

    async def check(self, config: Any, ctx: ProbeContext) -> ProbeResult:
        """Run the check once against ``config`` and return its result (or raise ProbeFailed)."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release resources held across runs (connection pools…); called at shutdown."""
