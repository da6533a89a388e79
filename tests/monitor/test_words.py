"""One set of catalogues for every text of Vigie (monitor.words): complete in French and
English, plural forms included, placeholders kept, compiled and up to date."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from monitor import words
from monitor.words import _, n_, say, say_n

ROOT = Path(words.__file__).resolve().parents[1]
#: the code's packages and the dashboard's templates, as babel.cfg says
METHOD_MAP = [
    ("tests/**", "ignore"), ("bench/**", "ignore"), (".venv/**", "ignore"),
    ("monitor/**.py", "python"), ("plugins/**.py", "python"), ("dashboard/**.py", "python"),
    ("docs_bridge/**.py", "python"), ("tickets_bridge/**.py", "python"),
    ("dashboard/templates/**.html", "jinja2"), ("dashboard/templates/**.xml", "jinja2"),
]
_BRACE = re.compile(r"\{(\w+)[^{}]*\}")
_PERCENT = re.compile(r"%\((\w+)\)[sdf]")


def catalogue(lang: str) -> dict:
    with open(words.LOCALES / lang / "LC_MESSAGES" / f"{words.DOMAIN}.po", "rb") as handle:
        return {m.id: m for m in read_po(handle, locale=lang) if m.id}


def code_messages() -> dict:
    """Every message the code and the templates mark, with where it is."""
    found: dict = {}
    for path, line, message, _comments, _context in extract_from_dir(
            str(ROOT), METHOD_MAP, keywords=words.KEYWORDS):
        if isinstance(message, tuple):
            message = tuple(m for m in message if m is not None)
            if len(message) == 1:
                message = message[0]
        found.setdefault(message, f"{path}:{line}")
    return found


def placeholders(text: str) -> set[str]:
    return set(_BRACE.findall(text)) | set(_PERCENT.findall(text))


@pytest.fixture(scope="module")
def messages():
    return code_messages()


def test_the_extractor_sees_the_dashboard_and_the_core(messages):
    assert "Skip to content" in messages  # a template
    assert len(messages) > 300


@pytest.mark.parametrize("lang", words.LANGUAGES)
def test_every_message_is_translated_in_every_language(messages, lang):
    """No message reaches a reader untranslated: each is in the catalogue with a
    non-empty text, every plural form filled (French has two)."""
    found = catalogue(lang)
    missing, empty = [], []
    for message, where in messages.items():
        key = message if isinstance(message, str) else message
        entry = found.get(key)
        if entry is None:
            missing.append(f"{where}: {message!r}")
            continue
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if not all(strings) or entry.fuzzy:
            empty.append(f"{where}: {message!r}")
    assert not missing, f"{lang}: not in the catalogue (see docs/dashboard.md, Languages): {missing}"
    assert not empty, f"{lang}: empty or fuzzy translation: {empty}"


#: catalogue messages no code or template marks, kept on purpose: a message built at run
#: time from a variable (``say(lang, name)``) would go here, with why. Empty today.
BUILT_AT_RUN_TIME: frozenset = frozenset()


@pytest.mark.parametrize("lang", words.LANGUAGES)
def test_the_catalogue_holds_no_message_the_code_dropped(messages, lang):
    """A text removed from the code leaves the catalogues too (the dashboard's old phase
    labels lingered there): every entry is one ``pybabel extract -F babel.cfg`` finds,
    or is listed in :data:`BUILT_AT_RUN_TIME`."""
    stale = sorted(str(msgid) for msgid in catalogue(lang)
                   if msgid not in messages and msgid not in BUILT_AT_RUN_TIME)
    assert not stale, f"{lang}: in the catalogue but no longer in the code: {stale}"


def test_the_stale_message_check_can_fail(messages):
    found = {**catalogue("fr"), "An old label": None}
    assert [m for m in found if m not in messages] == ["An old label"]


@pytest.mark.parametrize("lang", words.LANGUAGES)
def test_translations_keep_the_placeholders(lang):
    for msgid, entry in catalogue(lang).items():
        source = msgid if isinstance(msgid, str) else msgid[-1]
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        for text in strings:
            if text:
                # a singular form may leave the count out ("une heure"), never add one
                assert placeholders(text) <= placeholders(source) | {"n", "num"}, (lang, msgid)


@pytest.mark.parametrize("lang", words.LANGUAGES)
def test_the_compiled_catalogue_is_up_to_date(lang):
    with open(words.LOCALES / lang / "LC_MESSAGES" / f"{words.DOMAIN}.mo", "rb") as handle:
        mo = gettext.GNUTranslations(handle)
    for msgid, entry in catalogue(lang).items():
        if entry.fuzzy:
            continue
        if isinstance(msgid, tuple):
            assert mo.ngettext(msgid[0], msgid[1], 1) == entry.string[0], msgid
            assert mo.ngettext(msgid[0], msgid[1], 5) == entry.string[-1], msgid
        elif entry.string:
            assert mo.gettext(msgid) == entry.string, f"{lang}: recompile {msgid!r}"


def test_words_are_said_in_each_language_with_their_parameters():
    # a message of the dashboard's catalogue, through the core's mechanism
    assert say("fr", "Skip to content") != "Skip to content"
    assert say("en", "Skip to content") == "Skip to content"
    inner = _("Skip to content")
    outer = _("Note: {x}", x=inner)  # Words inside Words are said in the same language
    assert outer.fr.endswith(inner.fr) and outer.en.endswith(inner.en)
    assert say("xx", "Skip to content") == "Skip to content"  # unknown language: English


def test_plural_forms_follow_the_language():
    msgid, plural = "%(num)d incident", "%(num)d incidents"
    one_fr, many_fr = say_n("fr", msgid, plural, 1), say_n("fr", msgid, plural, 2)
    assert one_fr != many_fr
    # French takes the singular for 0, English the plural
    assert say_n("fr", msgid, plural, 0) == one_fr
    assert say_n("en", msgid, plural, 0) == say_n("en", msgid, plural, 2)
    assert n_(msgid, plural, 3).en == plural
