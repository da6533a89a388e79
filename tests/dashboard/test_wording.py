"""The status page's French: "de" before a name starting with a vowel sound is elided, in
the templates' messages and in those the Python code writes."""

from __future__ import annotations

import html as htmllib


def page(client, path: str) -> str:
    return htmllib.unescape(client.get(path).get_data(as_text=True))


def test_de_before_a_name_with_a_vowel_sound_is_elided(client):
    # the issue: "Disponibilité de Hébergement web"
    text = page(client, "/services/web?lang=fr")
    assert "Disponibilité d'Hébergement web" in text  # a template's message
    assert "Temps de réponse d'Hébergement web" in text  # the Python code's (the chart)
    assert "de Hébergement web" not in text


def test_de_before_a_consonant_is_kept_and_english_is_untouched(client):
    assert "Disponibilité de Nextcloud" in page(client, "/services/nextcloud?lang=fr")
    assert "Availability of Web hosting" in page(client, "/services/web?lang=en")
