"""The French catalogue declares French's two plural forms (it declared three and left the
third empty, so English reached French pages for 2 and more), and every plural entry
has both."""

from __future__ import annotations

import gettext

from babel.messages.pofile import read_po

from monitor import words

CATALOGS = words.LOCALES


def test_the_french_catalogue_has_frances_two_plural_forms():
    with open(CATALOGS / "fr" / "LC_MESSAGES" / "vigie.po", "rb") as handle:
        catalog = read_po(handle, locale="fr")
    assert catalog.num_plurals == 2 and catalog.plural_expr == "(n > 1)"
    plurals = [m for m in catalog if m.id and isinstance(m.id, tuple)]
    assert len(plurals) >= 3
    for message in plurals:
        assert len(message.string) == 2 and all(message.string), message.id
    with open(CATALOGS / "fr" / "LC_MESSAGES" / "vigie.mo", "rb") as handle:
        mo = gettext.GNUTranslations(handle)
    for message in plurals:
        # French: 0 and 1 take the singular, 2 and more the plural
        for n, form in ((0, 0), (1, 0), (2, 1), (5, 1), (1_000_000, 1)):
            assert mo.ngettext(message.id[0], message.id[1], n) == message.string[form]
