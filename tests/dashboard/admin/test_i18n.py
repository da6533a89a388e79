"""Every string of the admin area is in the catalogs, translated into French."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from monitor import words

ROOT = Path(__import__("dashboard").__file__).parent


def admin_strings() -> set[str]:
    method_map = [("admin/**.py", "python"), ("templates/admin/**.html", "jinja2")]
    return {message if isinstance(message, str) else message[0]
            for _f, _l, message, _c, _x in extract_from_dir(
                str(ROOT), method_map, keywords={"_": None, "gettext": None,
                                                 "ngettext": (1, 2), "lazy_gettext": None})}


def catalog(lang: str) -> dict[str, object]:
    with open(words.LOCALES / lang / "LC_MESSAGES" / "vigie.po", "rb") as handle:
        return {(m.id if isinstance(m.id, str) else m.id[0]): m.string
                for m in read_po(handle, locale=lang) if m.id and not m.fuzzy}


def test_every_admin_string_has_a_french_translation():
    strings = admin_strings()
    assert "Wrong user name or password." in strings and "Post an update" in strings
    french = catalog("fr")
    missing = sorted(s for s in strings if not french.get(s)
                     or (isinstance(french[s], tuple) and not all(french[s])))
    assert not missing
    assert not sorted(strings - set(catalog("en")))
