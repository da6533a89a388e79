"""What members read about a failing check: plain words per reason code.

A probe's reason (:class:`monitor.probe.Reason`) is written for volunteers: it names the
address, the port, the HTTP code, the counter that tell them where to look. Members read
something else, in every public place (the status page, the JSON API without a token,
badges, the feed, forum posts, automatic incident updates): what does not work, in plain
words, with no address, port, host name, code, counter or quoted outside text.

Those words are chosen by the reason's **code** (a contract: stored rows, metrics and
tests use it), most precise first: ``lists.web.down``, then ``lists.web``, then
``lists``; a code nobody gave words for gets a sentence for the check's status
(:data:`PUBLIC_SENTENCES`). The core gives the words of the families it emits itself
(:data:`CORE_WORDS`: ``connection``, ``dns``, ``tls``, ``http``, ``timeout``, ``probe``,
``vigie``); each probe kind declares those of its own codes (``Probe.public_words``),
learnt when the probe registry is built (:func:`learn`). The words are catalogue
messages (:mod:`monitor.words`), so both languages come from the ``.po`` files.

The table is one per process, like the catalogues: a stored row is rendered wherever
it is read (the dashboard on its own, the incident engine, a bridge), and every such
process builds the probe registry when it loads the configuration.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from monitor.probe import Status
from monitor.words import Words, _

#: the sentence for a code nobody gave words for, by the check's status
PUBLIC_SENTENCES: dict[Status | None, Words] = {
    Status.UP: _("The service works"),
    Status.DEGRADED: _("The service works, but not fully; the volunteers know"),
    Status.DOWN: _("The service does not work; the volunteers know"),
    Status.UNKNOWN: _("The service could not be checked; the volunteers know"),
    Status.MAINTENANCE: _("The service announces maintenance"),
    None: _("The service has a problem; the volunteers know"),
}

#: the words of the reason families the core itself emits (``monitor.runner``,
#: ``monitor.probe``), shared by every probe that reports them
CORE_WORDS: dict[str, Words] = {
    "connection": _("The service cannot be reached"),
    "connection.closed": _("The service hangs up without answering"),
    "connection.refused": _("The service refuses connections"),
    "connection.reset": _("The service breaks off connections"),
    "connection.unreachable": _("The service cannot be reached over the network"),
    "dns": _("The service's name cannot be found on the Internet"),
    "http": _("The site answers with an error"),
    "http.protocol": _("The site's answers are garbled"),
    "http.status": _("The site answers with an error"),
    "probe": _("Vigie could not check the service; the volunteers know"),
    "timeout": _("The service does not answer in time"),
    "tls": _("The service's secure connection fails"),
    "tls.verify": _("The service's security certificate is refused"),
    "vigie": _("Vigie could not check the service; the volunteers know"),
    # a check run from several places (monitor.locations.wording): members read the
    # consensus; the failing places are the volunteers' business
    "vigie.locations.partial": _("The service works"),
    "vigie.locations.down": _("The service does not work; the volunteers know"),
    "vigie.locations.degraded": _("The service works, but not fully; the volunteers know"),
    "vigie.locations.maintenance": _("The service announces maintenance"),
    # a remote agent that cannot run a check (monitor.agent.checks): its configuration
    # is the volunteers' business, members only learn the check could not be made
    "agent.check_invalid": _("Vigie could not check the service; the volunteers know"),
    "agent.kind_missing": _("Vigie could not check the service; the volunteers know"),
    "agent.secret_withheld": _("Vigie could not check the service; the volunteers know"),
}

_learnt: dict[str, tuple[Words, str]] = {}


class WordsConflict(ValueError):
    """Two probe kinds give different words to the same reason code."""


def learn(words: Mapping[str, Words], owner: str) -> None:
    """Add the members' words ``owner`` (a probe kind) gives its reason codes.

    Learning the same words again is harmless (a registry built twice); different words
    for a code the core or another kind already worded raise :class:`WordsConflict`.
    """
    for code, said in words.items():
        known = CORE_WORDS.get(code)
        if known is None and code in _learnt:
            known, other = _learnt[code]
        else:
            other = "the core"
        if known is not None and known != said:
            raise WordsConflict(f"probe kind {owner!r} words the reason code {code!r} "
                                f"differently from {other}")
        if known is None:
            _learnt[code] = (said, owner)


def _families(code: str) -> Iterator[str]:
    """``a.b.c``, ``a.b``, ``a``."""
    while code:
        yield code
        code = code.rpartition(".")[0]


def worded(code: str) -> Words | None:
    """The members' words for ``code`` or its nearest family, None when nobody gave any."""
    for family in _families(code):
        said = CORE_WORDS.get(family)
        if said is None and family in _learnt:
            said = _learnt[family][0]
        if said is not None:
            return said
    return None


def public_words(code: str, status: Status | None = None) -> Words:
    """What members read for a reason ``code`` of a check in ``status``."""
    said = worded(code)
    if said is not None:
        return said
    return PUBLIC_SENTENCES.get(status, PUBLIC_SENTENCES[None])


def table() -> dict[str, Words]:
    """Every code or family with words (the core's and the learnt ones)."""
    return {**CORE_WORDS, **{code: said for code, (said, _owner) in _learnt.items()}}
