"""The optional proof of work: the page asks for it only when configured, loads its
script as a file (the Content-Security-Policy unchanged), and the server accepts a
request only with a nonce solving the challenge signed for that form."""

from __future__ import annotations

import hashlib
import itertools
import re

import pytest

from dashboard.assistance.pow import leading_zero_bits
from tests.dashboard.assistance.helpers import form_to
from tests.dashboard.assistance.test_send import MEMBER, post, rows, text_of

BITS = 8


def solve(challenge: str, bits: int) -> str:
    """What the page's script finds (sha256(challenge + nonce) with ``bits`` zero bits)."""
    for nonce in itertools.count():
        digest = hashlib.sha256(f"{challenge}{nonce}".encode()).digest()
        if leading_zero_bits(digest) >= bits:
            return str(nonce)
    raise AssertionError("unreachable")


@pytest.mark.parametrize(("digest", "bits"), [
    (b"\x80" + b"\x00" * 31, 0), (b"\x01" + b"\xff" * 31, 7), (b"\x00\x00\x10" + b"\x00" * 29, 19),
    (b"\x00" * 32, 256)])
def test_leading_zero_bits(digest, bits):
    assert leading_zero_bits(digest) == bits


def test_without_proof_of_work_the_page_has_no_script(site):
    page = site.client().get("/assistance/web/demande")
    assert "<script" not in page.text and 'name="challenge"' not in page.text
    assert "<noscript>" not in page.text


def test_the_request_needs_a_nonce_solving_its_challenge(site_with):
    site = site_with(f"  limits: {{proof_of_work: {BITS}}}\n")
    client = site.client()
    page = client.get("/assistance/web/demande")
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert "script-src 'self';" in page.headers["Content-Security-Policy"]
    script = re.search(r'<script src="([^"]+)" defer></script>', page.text).group(1)
    assert script == "/assistance/static/assistance.js"
    assert client.get(script).status_code == 200
    assert "a besoin de JavaScript, qui est désactivé" in text_of(page.text)  # <noscript>
    form = form_to(page.text, "/assistance/envoyer")
    fields = {**form["fields"], "title": "Titre", "description": "Texte", **MEMBER}
    assert re.search(f'data-pow-bits="{BITS}"', page.text)

    answer = post(client, fields)  # no nonce: the script did not run
    assert answer.status_code == 400
    assert "La vérification anti-abus de la page n'était pas terminée" in text_of(answer.text)
    wrong = next(str(n) for n in itertools.count() if leading_zero_bits(hashlib.sha256(
        f"{fields['challenge']}{n}".encode()).digest()) < BITS)
    assert post(client, {**fields, "pow": wrong}).status_code == 400
    # a challenge of another form does not do either
    other = form_to(client.get("/assistance/web/demande").text, "/envoyer")["fields"]
    assert post(client, {**fields, "challenge": other["challenge"],
                         "pow": solve(other["challenge"], BITS)}).status_code == 400
    assert rows(site) == []

    answer = post(client, {**fields, "pow": solve(fields["challenge"], BITS)})
    assert answer.status_code == 303
    assert len(rows(site)) == 1
