"""Languages: French first, English available, the visitor's choice remembered.

The language of a request is, in order: ``?lang=`` (links from the feed and badges), the
``lang`` cookie set by the language switch, the browser's ``Accept-Language``, the site's
default language. Gettext catalogs are Vigie's own (:mod:`monitor.words`, read by Flask-Babel);
dates, times, durations and percentages are formatted with Babel for the language, in the
site's time zone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime, format_skeleton, format_time
from babel.lists import format_list
from babel.numbers import format_decimal, format_percent
from babel.units import format_unit
from flask import Blueprint, Flask, current_app, g, redirect, request
from flask_babel import Babel, get_translations, lazy_gettext
from flask_babel.speaklater import LazyString
from jinja2 import pass_context
from markupsafe import Markup
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from monitor import terms, words
from monitor.state import ServiceStatus

LANGUAGES = ("fr", "en")
COOKIE = "lang"
#: one year: the choice is remembered
COOKIE_AGE = 365 * 86400

bp = Blueprint("i18n", __name__)

def gettext(message: str, /, **variables) -> str:
    """Flask-Babel's ``gettext`` with French elision ("Temps de réponse d'Hébergement
    web"): what the dashboard's Python code calls."""
    text = get_translations().ugettext(message)
    return words.elide(text, variables, select_language()) % variables if variables else text


def ngettext(singular: str, plural: str, num: int, /, **variables) -> str:
    """Flask-Babel's ``ngettext`` with French elision."""
    variables.setdefault("num", num)
    text = get_translations().ungettext(singular, plural, num)
    return words.elide(text, variables, select_language()) % variables


@pass_context
def _gettext(context, message: str, /, **variables):
    """Flask-Babel's ``gettext`` for templates, with French elision (monitor.words.elide)."""
    text = get_translations().ugettext(message)
    return _formatted(context, text, variables)


@pass_context
def _ngettext(context, singular: str, plural: str, num: int, /, **variables):
    """Flask-Babel's ``ngettext`` for templates, with French elision."""
    variables.setdefault("num", num)
    text = get_translations().ungettext(singular, plural, num)
    return _formatted(context, text, variables)


def _formatted(context, text: str, variables: dict):
    text = words.elide(text, variables, select_language())
    if context.eval_ctx.autoescape:
        text = Markup(text)
    return text % variables


#: member-facing words for each service status
STATUS_LABELS = {
    ServiceStatus.OPERATIONAL: lazy_gettext("Operational"),
    ServiceStatus.DEGRADED: lazy_gettext("Slowed down"),
    ServiceStatus.PARTIAL_OUTAGE: lazy_gettext("Partial outage"),
    ServiceStatus.MAJOR_OUTAGE: lazy_gettext("Outage"),
    ServiceStatus.MAINTENANCE: lazy_gettext("Maintenance"),
    ServiceStatus.UNKNOWN: lazy_gettext("Status unknown"),
}
#: the overall status in a few words (:func:`dashboard.views.overall`), for the JSON API's
#: description and the status badge; the page's banner says more (dashboard.banner)
BANNERS = {
    "operational": lazy_gettext("All services are working normally"),
    "disturbed": lazy_gettext("Some services are disturbed"),
    "major": lazy_gettext("Major outage"),
    "maintenance": lazy_gettext("Maintenance in progress"),
    "unknown": lazy_gettext("Status not known yet"),
}
#: incident phases, as a label: the words of the alerts, the forum and the tickets
#: (monitor.terms.PHASES)
PHASES = {label: LazyString(lambda said=said: terms.sentence_case(said.say(select_language())))
          for label, said in terms.PHASES.items()}
#: check statuses (monitor.probe.Status labels)
CHECK_LABELS = {
    "up": lazy_gettext("Working"),
    "degraded": lazy_gettext("Slow"),
    "down": lazy_gettext("Not working"),
    "unknown": lazy_gettext("Could not be checked"),
    "maintenance": lazy_gettext("Maintenance"),
}
#: a short text symbol per status, so that colour is never the only sign
SYMBOLS = {
    "operational": "✓", "degraded": "!", "partial_outage": "!", "major_outage": "✕",
    "maintenance": "⚙", "unknown": "?", "up": "✓", "down": "✕",
}


def choose_language(asked: str | None, cookie: str | None, accept_language: str | None,
                    default: str) -> str:
    """The language from ``?lang=``, the cookie, ``Accept-Language``, else ``default``."""
    if asked in LANGUAGES:
        return asked  # type: ignore[return-value]  # checked just above
    if cookie in LANGUAGES:
        return cookie  # type: ignore[return-value]  # checked just above
    return _best_accepted(accept_language or "") or default


@lru_cache(maxsize=256)
def _best_accepted(header: str) -> str | None:
    # browsers send a handful of distinct headers: parsing each once is enough
    return parse_accept_header(header, LanguageAccept).best_match(LANGUAGES) if header else None


def select_language() -> str:
    """The language of the current request (see the module docstring)."""
    cached = g.get("vigie_lang")
    if cached:
        return cached
    lang = choose_language(request.args.get("lang"), request.cookies.get(COOKIE),
                           request.headers.get("Accept-Language"),
                           current_app.config.get("DEFAULT_LANGUAGE", "fr"))
    g.vigie_lang = lang
    return lang


def init_app(app: Flask) -> None:
    """Set up Flask-Babel, the template filters and the language switch."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", app.config.get("DEFAULT_LANGUAGE", "fr"))
    # one set of catalogues for every text of Vigie (monitor.words)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(words.LOCALES))
    app.config.setdefault("BABEL_DOMAIN", words.DOMAIN)
    Babel(app, locale_selector=select_language)
    # the templates' messages elide French "de"/"que"/"le"/"la" before a name starting
    # with a vowel sound ("Disponibilité d'Hébergement web"), as the core's do
    app.jinja_env.globals.update(gettext=_gettext, ngettext=_ngettext)
    zone = ZoneInfo(app.config.get("TIMEZONE", "Europe/Paris"))
    app.jinja_env.filters.update(
        tr=lambda text: text.text(select_language()) if text else "",
        datetime=lambda t, fmt="medium": fmt_datetime(t, select_language(), zone, fmt),
        day=lambda d, fmt="long": fmt_day(d, select_language(), fmt),
        time=lambda t: fmt_datetime(t, select_language(), zone, "Hm"),
        duration=lambda s: fmt_duration(s, select_language()),
        percent=lambda v: fmt_percent(v, select_language()),
        isodate=iso,
        # to say a date once: compare moments by their local day, or to the minute shown
        localday=lambda t: datetime.fromtimestamp(t, zone).date(),
        minute=lambda t: int(t // 60),
    )
    app.jinja_env.globals.update(
        STATUS_LABELS=STATUS_LABELS,
        PHASES=PHASES, CHECK_LABELS=CHECK_LABELS, SYMBOLS=SYMBOLS, LANGUAGES=LANGUAGES,
        STATUS=ServiceStatus,
        current_language=select_language)
    app.register_blueprint(bp)


@bp.route("/lang/<code>")
def switch(code: str):
    """Remember the visitor's language and go back to the page they were on."""
    target = request.args.get("next", "/")
    parts = urlsplit(target)
    # only a path on this site: never an open redirect
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        target = "/"
    response = redirect(target, code=303)
    if code in LANGUAGES:
        response.set_cookie(COOKIE, code, max_age=COOKIE_AGE, samesite="Lax",
                            secure=request.is_secure, httponly=True)
    return response


# Formatting ----------------------------------------------------------------------------------


def iso(timestamp: float | None) -> str:
    """ISO 8601 in UTC (``2026-03-12T13:05:00Z``), for machines and ``<time datetime>``."""
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fmt_datetime(timestamp: float | None, lang: str, zone: ZoneInfo, fmt: str = "medium") -> str:
    """A moment in the site's time zone: ``12 mars 2026, 14:05`` / ``Mar 12, 2026, 2:05 PM``.

    ``fmt``: ``medium`` (date and time, no seconds), ``day`` (``12 mars, 14:05``: the
    year left out), ``Hm`` (time only), or a Babel format (``short``, ``long``…).
    """
    if timestamp is None:
        return ""
    moment = datetime.fromtimestamp(timestamp, zone)
    if fmt in ("medium", "day", "MMMdHm"):
        # seconds mean nothing to a member; the language's own order of date and time
        locale = Locale.parse(lang)
        day = format_skeleton("yMMMd" if fmt == "medium" else "MMMd", moment, tzinfo=zone,
                              locale=lang)
        clock = format_time(moment, "short", tzinfo=zone, locale=lang)
        return locale.datetime_formats["medium"].format(clock, day)
    if fmt == "Hm":
        return format_time(moment, "short", tzinfo=zone, locale=lang)
    return format_datetime(moment, fmt, tzinfo=zone, locale=lang)


@lru_cache(maxsize=2048)
def fmt_day(day: date, lang: str, fmt: str = "long") -> str:
    """A calendar day: ``12 mars 2026`` (``long``) or ``jeu. 12 mars`` (``MMMEd``)."""
    if fmt in ("short", "medium", "long", "full"):
        return format_date(day, fmt, locale=lang)
    return format_skeleton(fmt, datetime.combine(day, datetime.min.time()), locale=lang)


_UNITS = (("duration-day", 86400), ("duration-hour", 3600), ("duration-minute", 60))


def fmt_duration(seconds: float | None, lang: str) -> str:
    """A duration in the two largest units: ``2 h et 15 min`` / ``2 hr, 15 min``
    (``< 1 min`` below one minute)."""
    if seconds is None:
        return ""
    rest = int(max(0, seconds))
    if rest < 60:
        return "< " + format_unit(1, "duration-minute", length="short", locale=lang)
    parts = []
    for unit, size in _UNITS:
        if rest >= size:
            parts.append(format_unit(rest // size, unit, length="short", locale=lang))
            rest %= size
    return format_list(parts[:2], style="unit-short", locale=lang)


@lru_cache(maxsize=8)
def _percent_pattern(lang: str) -> str:
    # the language's own percent pattern ("#,##0 %" in French) with two decimals
    return Locale.parse(lang).percent_formats[None].pattern.replace("0", "0.00", 1)


#: the smallest and largest values written with decimals (0,01 % and 99,99 %)
_LOWEST, _HIGHEST = 0.0001, 0.9999


@lru_cache(maxsize=4096)
def fmt_percent(value: float | None, lang: str) -> str:
    """A share (0 to 1) as a percentage: the one format of every figure Vigie shows.

    The rule: the two exact ends without decimals (``100 %``, ``0 %``), every value
    between with two decimals (``99,87 %``), never rounded to either end (``99,99 %``,
    ``0,01 %``), in the language's own way (French: comma, a non-breaking space before
    ``%``; English: ``99.87%``); a dash when unknown.
    """
    if value is None:
        return "—"
    if value >= 1 or value <= 0:
        return format_percent(1 if value >= 1 else 0, locale=lang)
    value = min(max(value, _LOWEST), _HIGHEST)
    return format_percent(value, _percent_pattern(lang), locale=lang)


def fmt_number(value: float, lang: str, digits: int = 0) -> str:
    """A number with the language's separators."""
    return format_decimal(round(value, digits), locale=lang)
