"""The JSON bodies of the admin API: one strict model per route.

A script may send anything; the volunteers' operations (:mod:`monitor.incidents.service`)
expect text where text is meant, lists of service ids, real booleans. Each route reads its
body with its model here first: an unknown key, a value of the wrong type (``"public":
"false"``, ``"services": [1]``, ``"weekly": 3``, ``"title_fr": 123``), a ``null`` where
a value is needed, or a Unix time that cannot be meant (``"start": 5``, in 1970) is
refused with :class:`~monitor.incidents.inputs.InvalidInput` naming the field, in French
and English, and the API answers 422 — nothing reaches the database. Values are never
repeated in the message. The operations then apply their own rules (required texts,
lengths, known services, dates in order…), and :func:`forms.refuse_active_markup` its.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from dashboard.admin.forms import refuse_active_markup
from monitor.incidents.inputs import InvalidInput
from monitor.incidents.queries import IMPACTS, NOTICE_LEVELS, PHASES
from monitor.words import Words, _, n_

#: Unix times outside [2000, 2100) are refused: a number that small is a mistake (seconds
#: counted from 1970), and one that large is milliseconds
EARLIEST = 946_684_800.0
LATEST = 4_102_444_800.0


@dataclass(frozen=True, slots=True)
class Expect:
    """What a field holds, said to the person whose value did not fit."""

    words: Words


def _plausible_time(value: str | float | None) -> str | float | None:
    if isinstance(value, float) and not EARLIEST <= value < LATEST:
        raise InvalidInput(None, _("A Unix time counts seconds since 1970: this one falls "
                                   "before 2000 or after 2100. Give a date such as "
                                   "“2026-04-05 22:00” instead."))
    return value


_TEXT = Expect(_("text"))
Text = Annotated[str | None, _TEXT]
"""Optional text (``null`` leaves it empty)."""
RequiredText = Annotated[str, _TEXT]
"""Text that must be given (the operation also refuses it empty)."""
_WORD = Expect(_("one of the allowed words (see docs/admin.md)"))


def _words(*choices: str | None) -> Any:
    """The words a choice allows, for the API's description (``/api/v1/openapi.json``):
    the operation checks the word itself, with a message that lists them."""
    return Field(json_schema_extra={"enum": list(choices)})


Impact = Annotated[str, _WORD, _words(*IMPACTS)]
"""A choice: the operation checks the word itself."""
OptionalImpact = Annotated[str | None, _WORD, _words(*IMPACTS, None)]
Phase = Annotated[str, _WORD, _words(*PHASES)]
#: an incident opened by hand cannot start resolved (see Operations.open_incident)
OpeningPhase = Annotated[str, _WORD, _words(*PHASES[:-1])]
Level = Annotated[str, _WORD, _words(*NOTICE_LEVELS)]
Flag = Annotated[bool, Expect(_("true or false"))]
ServiceIds = Annotated[list[str], Expect(_("a list of service ids (e.g. [\"web\"])"))]
When = Annotated[str | float | None, AfterValidator(_plausible_time),
                 Expect(_("an ISO 8601 date (e.g. “2026-04-05 22:00”) or a Unix time"))]
Span = Annotated[str | float | None,
                 Expect(_("a duration (e.g. “30m”, “2h”, “2d”) or a number of seconds"))]
Days = Annotated[str | list[str] | None,
                 Expect(_("a day (e.g. “sunday”) or a list of days"))]
DayOfMonth = Annotated[str | int | None,
                       Expect(_("a day of the month (e.g. 15) or text (e.g. “first sunday”)"))]


class Body(BaseModel):
    """A JSON body: strict types (no ``"false"`` for false, no ``1`` for ``"1"``), no
    unknown key, no NaN."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)

    #: text meant for the status page, refused when it holds active HTML
    PAGE_TEXT: ClassVar[tuple[str, ...]] = ("title_fr", "title_en", "message_fr",
                                            "message_en", "text_fr", "text_en")

    @classmethod
    def read(cls, data: Any) -> dict[str, Any]:
        """The operation's keyword arguments: the keys the body gave, checked.

        :raises InvalidInput: not an object, an unknown key, a wrong type, active HTML.
        """
        if not isinstance(data, dict):
            raise InvalidInput(None, _("The request body must be a JSON object."))
        try:
            body = cls.model_validate(data)
        except ValidationError as exc:
            raise cls._refusal(exc) from None
        args = body.model_dump(exclude_unset=True)
        refuse_active_markup(args, [name for name in cls.PAGE_TEXT if name in args])
        return args

    @classmethod
    def _refusal(cls, exc: ValidationError) -> InvalidInput:
        errors = exc.errors(include_input=False, include_url=False)
        unknown = sorted(str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden")
        if unknown:
            allowed = ", ".join(cls.model_fields)
            return InvalidInput(unknown[0], n_(
                "Unknown field: {fields} (allowed: {allowed}).",
                "Unknown fields: {fields} (allowed: {allowed}).", len(unknown),
                fields=", ".join(unknown), allowed=allowed))
        error = next((e for e in errors if e["type"] == "missing"), errors[0])
        field = str(error["loc"][0]) if error["loc"] else None
        if error["type"] == "missing":
            return InvalidInput(field, _("This field is required."))
        given = (error.get("ctx") or {}).get("error")
        if isinstance(given, InvalidInput):
            return InvalidInput(field, given.words)
        expect = next((m for m in cls.model_fields[field].metadata if isinstance(m, Expect)),
                      _TEXT) if field in cls.model_fields else _TEXT
        return InvalidInput(field, _("“{field}” must be {expected}.", field=field,
                                     expected=expect.words))


# Notices --------------------------------------------------------------------------------


class NoticeChange(Body):
    """``PATCH /notices/<id>``: the fields to change."""

    title_fr: Text = None
    title_en: Text = None
    text_fr: Text = None
    text_en: Text = None
    level: Level = "info"
    starts_at: When = None
    ends_at: When = None


class NoticeCreate(NoticeChange):
    """``POST /notices``."""

    title_fr: RequiredText


# Maintenance ----------------------------------------------------------------------------


class MaintenanceChange(Body):
    """``PATCH /maintenance/<id>``: the fields to change."""

    title_fr: Text = None
    title_en: Text = None
    message_fr: Text = None
    message_en: Text = None
    services: ServiceIds = []
    group: Text = None
    all_services: Flag = False
    start: When = None
    end: When = None
    duration: Span = None
    weekly: Days = None
    monthly: DayOfMonth = None
    daily: Flag = False
    cron: Text = None
    rrule: Text = None
    at: Text = None
    timezone: Text = None
    announce_before: Span = None


class MaintenanceCreate(MaintenanceChange):
    """``POST /maintenance``."""

    title_fr: RequiredText


# Incidents ------------------------------------------------------------------------------


class IncidentCreate(Body):
    """``POST /incidents``."""

    services: ServiceIds
    title_fr: RequiredText
    message_fr: RequiredText
    title_en: Text = None
    message_en: Text = None
    impact: Impact = "major_outage"
    phase: OpeningPhase = "investigating"


class IncidentUpdate(Body):
    """``POST /incidents/<id>/updates``."""

    phase: Phase
    message_fr: RequiredText
    message_en: Text = None
    impact: OptionalImpact = None
    public: Flag = True


class IncidentImpact(Body):
    """``POST /incidents/<id>/impact``."""

    impact: Impact
    message_fr: Text = None
    message_en: Text = None


class IncidentResolve(Body):
    """``POST /incidents/<id>/resolve``."""

    message_fr: Text = None
    message_en: Text = None


class Postmortem(Body):
    """``PUT /incidents/<id>/postmortem``."""

    text_fr: RequiredText
    text_en: Text = None


# Webhooks -------------------------------------------------------------------------------

EventTypes = Annotated[list[str] | None,
                       Expect(_("a list of event types (e.g. [\"incident.opened\"])"))]


class WebhookCreate(Body):
    """``POST /webhooks``."""

    name: RequiredText
    url: RequiredText
    events: EventTypes = None
    services: ServiceIds = []
    description: Text = None


class WebhookRotate(Body):
    """``POST /webhooks/<id>/rotate``."""

    overlap: Span = None


class WebhookDisable(Body):
    """``POST /webhooks/<id>/disable``."""

    reason: Text = None
