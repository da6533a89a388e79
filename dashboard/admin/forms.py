"""From submitted fields to the arguments of the volunteers' operations.

The rules about values (required titles, lengths, dates in order, known services…) are
the operations' own (:mod:`monitor.incidents.service`, which raises
:class:`~monitor.incidents.inputs.InvalidInput`); this module only reads the HTML forms
into keyword arguments (the API's JSON bodies are read by :mod:`dashboard.admin.bodies`),
and adds one rule of its own, shared by both: text meant for the status page may not carry
active HTML (``<script>``, ``<iframe>``, event handlers, ``javascript:`` links, also
written with character references or white space inside). Such text is refused with a
message rather than silently cleaned, so the volunteer knows what was published. (Other
HTML is harmless: the page renders Markdown and cleans the HTML with an allow-list.)
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from typing import Any

from monitor.incidents.inputs import InvalidInput
from monitor.safetext import clean_text
from monitor.words import _

#: HTML that would run code or load things if it ever reached a page unescaped, wherever
#: the text lands (a page, a forum post, a mail, inside another element). A pattern, not
#: an HTML parser: a parser (nh3's, as the page uses to clean) reads a fragment in one
#: context, and there ``<body onload=…>`` is dropped and ``<img/src=x/onerror=…>`` is an
#: image whose ``src`` is ``x/onerror=…``, both harmless, while elsewhere they run; nh3
#: only cleans and cannot tell what it removed. Browsers
#: take a slash or a quote as well as white space before an attribute
#: (``<img/src=x/onerror=…>``, ``<img src="x"onerror=…>``); ``[^<>]*`` stops at the next
#: bracket, so a text full of ``<`` costs linear time, not quadratic.
ACTIVE_MARKUP = re.compile(
    r"<\s*/?\s*(script|iframe|frame|object|embed|style|link|meta|base|form|svg|math)\b"
    r"|<[^<>]*[\s/\"'`]on[a-z]+\s*="
    r"|javascript\s*:|vbscript\s*:|data\s*:\s*text/html",
    re.IGNORECASE)
#: a script address once character references are decoded and the white space and
#: control characters browsers skip in a URL are gone (``jav&#x09;ascript:``,
#: ``&#106;avascript:``, ``javascript&colon;``)
HIDDEN_SCRIPT_URL = re.compile(r"(?:java|vb)script:|data:text/html", re.IGNORECASE)
_SKIPPED_IN_URLS = re.compile(r"[\s\x00-\x1f\x7f]+")


def holds_active_markup(text: str) -> bool:
    """Whether ``text`` holds active HTML: as written, as stored (the text boundary turns
    a control character into the space an event handler needs), or hidden behind
    character references and white space."""
    if ACTIVE_MARKUP.search(text) or ACTIVE_MARKUP.search(clean_text(text, len(text) + 1)):
        return True
    return HIDDEN_SCRIPT_URL.search(_SKIPPED_IN_URLS.sub("", html.unescape(text))) is not None

NOTICE_FIELDS = ("title_fr", "title_en", "text_fr", "text_en", "level", "starts_at", "ends_at")
MAINTENANCE_TEXT = ("title_fr", "title_en", "message_fr", "message_en")
#: recurrence choices of the maintenance form → keyword of create_maintenance
RECURRENCES = ("none", "daily", "weekly", "monthly", "cron", "rrule")


def refuse_active_markup(values: Mapping[str, Any], fields: Iterable[str]) -> None:
    """Raise :class:`InvalidInput` when one of ``fields`` holds active HTML."""
    for name in fields:
        value = values.get(name)
        texts = value if isinstance(value, (list, tuple)) else [value]
        for text in texts:
            if isinstance(text, str) and holds_active_markup(text):
                raise InvalidInput(name, _(
                    "This text holds active HTML (<script>, <iframe>, “onclick=”, "
                    "“javascript:”…), which the status page refuses. Write Markdown: "
                    "**bold**, *italic*, [link](https://…)."))


def _get(form: Mapping[str, Any], name: str) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def _service_list(form: Any) -> list[str]:
    """Services from checkboxes (``services`` repeated) or a comma-separated field."""
    values = form.getlist("services") if hasattr(form, "getlist") else form.get("services") or []
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for value in values:
        out += [v.strip() for v in str(value).split(",") if v.strip()]
    return out


# HTML forms ---------------------------------------------------------------------------


def notice_args(form: Any) -> dict[str, Any]:
    """``post_notice``/``edit_notice`` keywords from the notice form."""
    refuse_active_markup(form, NOTICE_FIELDS)
    args = {name: _get(form, name) for name in NOTICE_FIELDS}
    args["level"] = args["level"] or "info"
    return args


def maintenance_args(form: Any, *, editing: bool = False) -> dict[str, Any]:
    """``create_maintenance``/``edit_maintenance`` keywords from the maintenance form.

    Scope: ``scope`` = ``services`` (with ``services`` checked), ``group`` (with
    ``group``) or ``all``. Timing: ``recurrence`` = ``none`` (``start`` and ``end`` or
    ``duration``) or ``daily``/``weekly``/``monthly``/``cron``/``rrule`` with
    ``recurrence_value``, ``at`` and ``duration``. When editing, ``recurrence`` = ``keep``
    leaves the recurrence as it is.
    """
    refuse_active_markup(form, MAINTENANCE_TEXT)
    args: dict[str, Any] = {name: _get(form, name) for name in MAINTENANCE_TEXT}
    scope = _get(form, "scope") or "services"
    args.update(services=[], group=None, all_services=False)
    if scope == "all":
        args["all_services"] = True
    elif scope == "group":
        args["group"] = _get(form, "group")
        if args["group"] is None:
            raise InvalidInput("group", _("Choose a group."))
    else:
        args["services"] = _service_list(form)
        if not args["services"]:
            raise InvalidInput("services", _("Choose at least one service."))
    args["announce_before"] = _get(form, "announce_before")
    if _get(form, "timezone"):  # else the site's (new window) or the window's own (edit)
        args["timezone"] = _get(form, "timezone")
    recurrence = _get(form, "recurrence") or "none"
    if editing and recurrence == "keep":
        args.update(start=_get(form, "start"), duration=_get(form, "duration"))
        return args
    if recurrence not in RECURRENCES:
        raise InvalidInput("recurrence", _("Unknown recurrence: {recurrence}.",
                                           recurrence=recurrence))
    args.update(start=_get(form, "start"), duration=_get(form, "duration"))
    if recurrence == "none":
        args["end"] = _get(form, "end")
        if editing:
            args.update(weekly=None, monthly=None, daily=False, cron=None, rrule=None, at=None)
        return args
    value = _get(form, "recurrence_value")
    if recurrence != "daily" and value is None:
        raise InvalidInput("recurrence_value",
                           _("Give the recurrence (day, cron rule or RRULE)."))
    args.update(weekly=None, monthly=None, daily=recurrence == "daily", cron=None, rrule=None,
                at=None if recurrence == "cron" else _get(form, "at"))
    if recurrence != "daily":
        args[recurrence] = value
    return args


def incident_args(form: Any) -> dict[str, Any]:
    """``open_incident`` keywords from the new-incident form."""
    fields = ("title_fr", "title_en", "message_fr", "message_en")
    refuse_active_markup(form, fields)
    args: dict[str, Any] = {name: _get(form, name) for name in fields}
    args["services"] = _service_list(form)
    args["impact"] = _get(form, "impact") or "major_outage"
    args["phase"] = _get(form, "phase") or "investigating"
    return args


def update_args(form: Any) -> dict[str, Any]:
    """``post_update`` keywords from an incident's update form."""
    refuse_active_markup(form, ("message_fr", "message_en"))
    return {"phase": _get(form, "phase") or "", "message_fr": _get(form, "message_fr"),
            "message_en": _get(form, "message_en"), "impact": _get(form, "impact"),
            "public": _get(form, "private") is None}


def postmortem_args(form: Any) -> dict[str, Any]:
    """``set_postmortem`` keywords from the post-mortem form."""
    refuse_active_markup(form, ("text_fr", "text_en"))
    return {"text_fr": _get(form, "text_fr"), "text_en": _get(form, "text_en")}
