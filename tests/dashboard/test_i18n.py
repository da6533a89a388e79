"""Catalogs (complete, compiled, up to date) and the formatting of dates, durations and
percentages for each language."""

from __future__ import annotations

import gettext
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from dashboard import i18n
from monitor import words

ROOT = Path(__import__("dashboard").__file__).parent
CATALOGS = words.LOCALES
PARIS = ZoneInfo("Europe/Paris")


def load_po(lang: str):
    with open(CATALOGS / lang / "LC_MESSAGES" / "vigie.po", "rb") as handle:
        return read_po(handle, locale=lang)


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_compiled_catalogs_match_the_po_files(lang):
    po = {m.id: m.string for m in load_po(lang) if m.id and not m.fuzzy
          and (all(m.string) if isinstance(m.string, tuple) else m.string)}
    path = CATALOGS / lang / "LC_MESSAGES" / "vigie.mo"
    with open(path, "rb") as handle:
        mo = gettext.GNUTranslations(handle)
    for msgid, msgstr in po.items():
        if isinstance(msgid, tuple):
            assert mo.ngettext(msgid[0], msgid[1], 1) == msgstr[0], msgid
            assert mo.ngettext(msgid[0], msgid[1], 5) == msgstr[1], msgid
        else:
            assert mo.gettext(msgid) == msgstr, f"{lang}: {msgid!r} (recompile the .mo)"
    # nothing in the .mo that the .po does not have
    assert set(k for k in mo._catalog if k and not isinstance(k, tuple)) <= {
        m if isinstance(m, str) else m[0] for m in po} | {""}


def _public_strings() -> set[str]:
    """Every string marked for translation in the public part (the admin area keeps its
    own strings in the same catalog)."""
    method_map = [("**/admin/**", "ignore"), ("**.py", "python"),
                  ("**/templates/**.html", "jinja2"), ("**/templates/**.xml", "jinja2")]
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, keywords={"_": None, "gettext": None, "ngettext": (1, 2),
                                             "lazy_gettext": None}):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_public_string_has_a_french_translation():
    strings = _public_strings()
    assert "Skip to content" in strings and "%(num)d incident" in strings
    french = {(m.id if isinstance(m.id, str) else m.id[0]): m.string for m in load_po("fr") if m.id}
    missing = sorted(s for s in strings if not french.get(s))
    assert not missing, f"run pybabel extract/update (docs/dashboard.md): {missing}"
    english = {(m.id if isinstance(m.id, str) else m.id[0]) for m in load_po("en") if m.id}
    assert not sorted(strings - english)


def test_dates_and_durations_follow_the_language():
    at = 1773320700  # 2026-03-12 13:05 UTC
    assert i18n.fmt_datetime(at, "fr", PARIS) == "12 mars 2026, 14:05"
    assert i18n.fmt_datetime(at, "en", PARIS).replace("\u202f", " ") == "Mar 12, 2026, 2:05 PM"
    assert i18n.fmt_datetime(at, "fr", ZoneInfo("America/Montreal")) == "12 mars 2026, 09:05"
    assert i18n.fmt_day(date(2026, 3, 12), "fr", "MMMEd") == "jeu. 12 mars"
    assert i18n.fmt_duration(8100, "fr").replace("\u202f", " ").replace("\xa0", " ") == "2 h et 15 min"
    assert i18n.fmt_duration(90000, "en") == "1 day, 1 hr"
    assert i18n.fmt_duration(20, "fr").replace("\xa0", " ") == "< 1 min"


def test_percentages_never_round_up_to_perfect():
    assert i18n.fmt_percent(0.99873, "fr").replace("\xa0", " ") == "99,87 %"
    assert i18n.fmt_percent(0.99999, "en") == "99.99%"
    assert i18n.fmt_percent(1.0, "en") == "100%"
    assert i18n.fmt_percent(None, "fr") == "—"


@pytest.mark.parametrize(("value", "fr", "en"), [
    (1.0, "100\xa0%", "100%"),
    (0.0, "0\xa0%", "0%"),           # exact: no decimals, like 100 %
    (0.5, "50,00\xa0%", "50.00%"),
    (0.9995, "99,95\xa0%", "99.95%"),
    (0.00001, "0,01\xa0%", "0.01%"),  # not nothing: never written as 0
    (0.999999, "99,99\xa0%", "99.99%"),
])
def test_one_rule_for_every_percentage(value, fr, en):
    """The two exact ends without decimals, every value between with two, never rounded
    to either end; French with a comma and a non-breaking space before %."""
    assert i18n.fmt_percent(value, "fr") == fr
    assert i18n.fmt_percent(value, "en") == en
