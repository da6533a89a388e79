"""The public plugin API: everything a probe, notifier or bridge author imports from Vigie.

A plugin imports from here and nowhere else in ``monitor``::

    from monitor.api import Probe, ProbeConfig, ProbeContext, ProbeResult, hookimpl, reason

The names below are stable for plugins; the modules they come from are the core's own
business and may move. A test fails when a module in ``plugins/``, ``docs_bridge/`` or
``tickets_bridge/`` imports anything from ``monitor`` but this module, and when a name of
``__all__`` has no docstring (a value that cannot carry one, such as a constant, is
described by the ``#:`` comment above its entry in ``__all__``). This module only
re-exports, so that a change in the core is a change of one line here.
"""

from __future__ import annotations

from monitor import terms
from monitor.assistance.request import (
    AssistanceQuery,
    AssistanceRequest,
    Screenshot,
    Suggestion,
)
from monitor.config import IDENT, Config, SiteSettings
from monitor.deadline import deadline
from monitor.httpcall import Answer, DeliveryError, call
from monitor.httpcall import redact as redact_secrets
from monitor.logthrottle import LogThrottle, left_out
from monitor.markup import guard
from monitor.notifications import (
    CheckSnapshot,
    IncidentEvent,
    Link,
    MaintenanceEvent,
    PermanentFailure,
    RetryLater,
    ServiceSnapshot,
    SystemAlert,
)
from monitor.plugins import hookimpl
from monitor.probe import (
    CheckRef,
    Probe,
    ProbeConfig,
    ProbeContext,
    ProbeFailed,
    ProbeResult,
    Reason,
    SampleSpec,
    Status,
    reason,
)
from monitor.safetext import clean_line, clean_text
from monitor.schema import (
    Duration,
    StrictModel,
    format_duration,
    http_url,
    http_url_problem,
    redact,
)
from monitor.startup import StartupContext
from monitor.state import StateBook
from monitor.status import ServiceStatus, worst
from monitor.weblinks import web_address
from monitor.words import (
    Bilingual,
    Both,
    Number,
    Words,
    _,
    duration,
    every,
    moment,
    n_,
    say,
    say_n,
)

__all__ = [
    # hooks and start-up
    #: marks a plugin's hook implementations (``@hookimpl`` above ``def vigie_…``):
    #: pluggy's marker for the ``vigie`` project
    "hookimpl",
    "StartupContext",
    # probes
    "Probe",
    "ProbeConfig",
    "ProbeContext",
    "ProbeResult",
    "ProbeFailed",
    "CheckRef",
    "Status",
    "worst",
    "SampleSpec",
    "Reason",
    "reason",
    "deadline",
    # words (one set of catalogues, French and English)
    "_",
    "n_",
    "say",
    "say_n",
    "Words",
    "Bilingual",
    #: deprecated: the former name of ``Bilingual``, kept for the plugins that import it
    "Both",
    "Number",
    "duration",
    "every",
    "moment",
    "terms",
    # outside text, made safe once at the boundary
    "clean_line",
    "clean_text",
    "guard",
    "web_address",
    # configuration
    "Config",
    "SiteSettings",
    "StrictModel",
    #: a duration in configuration: seconds as a number, or ``90s``, ``5m``, ``1h30m``…
    "Duration",
    #: the pattern of an identifier in configuration (``^[a-z0-9][a-z0-9_-]{0,62}$``),
    #: for ``Field(pattern=IDENT)`` on the ``id`` of a source, a receiver, an entry
    "IDENT",
    "format_duration",
    "http_url",
    "http_url_problem",
    "redact",
    # notifications and bridges
    "IncidentEvent",
    "MaintenanceEvent",
    "SystemAlert",
    "ServiceSnapshot",
    "CheckSnapshot",
    "Link",
    "RetryLater",
    "PermanentFailure",
    "call",
    "Answer",
    "DeliveryError",
    "redact_secrets",
    # members' assistance
    "AssistanceQuery",
    "AssistanceRequest",
    "Suggestion",
    "Screenshot",
    # live state and logs
    "StateBook",
    "ServiceStatus",
    "LogThrottle",
    "left_out",
]
