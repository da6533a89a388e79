"""The one boundary for outside text: control, bidi and unencodable characters removed,
length capped, never an exception."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from monitor.safetext import (
    clean_line,
    clean_text,
    has_bidi_controls,
    is_clean_line,
)


def _encodable_and_xml_safe(text: str) -> bool:
    text.encode("utf-8")  # raises on a lone surrogate
    return all(ch in "\t\n" or (ord(ch) >= 0x20 and not 0x7F <= ord(ch) <= 0x9F
                                and ch not in "\ufffe\uffff")
               for ch in text)


def test_a_banner_with_nul_bytes_becomes_one_clean_line():
    assert clean_line("\x00\x00 Call me\r\n220 ok") == "Call me 220 ok"


def test_bytes_are_decoded_with_replacement():
    assert clean_line(b"\x00\xffabc") == "\ufffdabc"


def test_bidi_overrides_are_removed():
    disguised = "invoice\u202egpj.exe"
    assert has_bidi_controls(disguised)
    assert not has_bidi_controls(clean_line(disguised))


def test_long_text_is_cut_with_a_marker():
    assert clean_line("x" * 1000, 10) == "x" * 9 + "…"
    assert len(clean_text("y" * 50_000, 100)) == 100


def test_multi_line_text_keeps_lines_and_indentation():
    text = "Titre\r\n\r\n\r\n\r\n    code\x00 here  \nfin"
    assert clean_text(text) == "Titre\n\n    code  here\nfin"


def test_is_clean_line():
    assert is_clean_line("Nextcloud répond 500")
    assert not is_clean_line("a\x08b")


@given(st.text())
def test_any_text_comes_out_encodable_and_xml_safe(text):
    assert _encodable_and_xml_safe(clean_line(text))
    assert _encodable_and_xml_safe(clean_text(text))
    assert "\n" not in clean_line(text)


@given(st.binary(max_size=2000))
def test_any_bytes_come_out_encodable_and_xml_safe(data):
    assert _encodable_and_xml_safe(clean_line(data, 50))
    assert len(clean_line(data, 50)) <= 50


@given(st.text())
def test_cleaning_twice_changes_nothing(text):
    once = clean_line(text)
    assert clean_line(once) == once
    once = clean_text(text)
    assert clean_text(once) == once
