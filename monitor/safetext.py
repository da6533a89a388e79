"""Text from outside Vigie, made safe once, where it comes in.

Targets (a banner, a status page, a DNS answer), plugins, volunteers (forms, the API, the
CLI) and members send text that Vigie stores, shows, feeds and mails. Such text may hold
anything: NUL bytes (PostgreSQL refuses them in ``text`` columns), other control
characters (invalid in XML 1.0, so one of them breaks the Atom feed for every reader),
bidirectional overrides (U+202E turns "gro.elpmaxe" into a disguised address), lone
surrogates (not encodable as UTF-8), or simply megabytes.

Every boundary calls one of two functions, and nothing after it has to care:

- :func:`clean_line` for one-line text (a title, a reason, a name, a version): every
  control or format character becomes a space, runs of white space collapse, the result
  is cut to ``limit`` characters;
- :func:`clean_text` for multi-line text (a message, a description): the same, but line
  breaks and tabs are kept (``\\r\\n`` and ``\\r`` become ``\\n``).

Both are total: they accept any ``str`` (or ``bytes``, decoded as UTF-8 with
replacement) and never raise. Their cost is linear in the input, and the input is cut to
a bounded prefix first, so a huge answer costs no more than a long one.
"""

from __future__ import annotations

import re

#: a one-line text is cut to this many characters unless the caller says otherwise
LINE_LIMIT = 500
#: a multi-line text is cut to this many characters unless the caller says otherwise
TEXT_LIMIT = 20_000
#: the marker put at the end of a cut text
ELLIPSIS = "…"

# Characters never kept:
# - C0 controls but tab and line feed, DEL, C1 controls (U+0080–U+009F);
# - bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) and
#   the marks LRM, RLM, ALM (U+200E, U+200F, U+061C): they reorder what a reader sees;
# - line and paragraph separators (U+2028, U+2029): line breaks no renderer expects;
# - lone surrogates (U+D800–U+DFFF): not encodable, refused by every database driver;
# - the non-characters U+FFFE and U+FFFF (invalid in XML) and the BOM used inside text.
# Zero-width joiners (U+200C, U+200D) are kept: emoji and some scripts need them.
_UNSAFE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e" \
          "\u2066-\u2069\ud800-\udfff\ufeff\ufffe\uffff"
_UNSAFE_LINE = re.compile(f"[\t\n{_UNSAFE}]")
_UNSAFE_TEXT = re.compile(f"[{_UNSAFE}]")
_TRAILING = re.compile(r"[ \t]+$", re.MULTILINE)
_BLANK_RUNS = re.compile(r"\n{3,}")
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _as_str(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    return "" if value is None else str(value)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(ELLIPSIS))].rstrip() + ELLIPSIS


def clean_line(value: object, limit: int = LINE_LIMIT) -> str:
    """``value`` as one line of safe text, at most ``limit`` characters.

    >>> clean_line("\\x00\\x00 220 mail.example\\r\\n")
    '220 mail.example'
    >>> clean_line("abc\\u202egpj.exe")
    'abc gpj.exe'
    """
    text = _as_str(value)
    # a bounded prefix first: the work below is then bounded too, whatever came in
    text = text[: limit * 4 + 64]
    text = _UNSAFE_LINE.sub(" ", text)
    text = " ".join(text.split())
    return _cut(text, limit)


def clean_text(value: object, limit: int = TEXT_LIMIT) -> str:
    """``value`` as safe multi-line text, at most ``limit`` characters (line breaks and
    tabs kept, so is indentation, which Markdown reads; trailing spaces and runs of blank
    lines trimmed).

    >>> clean_text("a\\r\\nb\\x00c\\n\\n\\n\\nd")
    'a\\nb c\\n\\nd'
    """
    text = _as_str(value)
    text = text[: limit * 4 + 64]
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _UNSAFE_TEXT.sub(" ", text)
    text = _BLANK_RUNS.sub("\n\n", _TRAILING.sub("", text))
    return _cut(text.strip(), limit)


def has_bidi_controls(value: str) -> bool:
    """Whether ``value`` holds bidirectional controls (what :func:`clean_line` removes to
    stop a text from being displayed in another order than it reads)."""
    return _BIDI.search(value) is not None


def is_clean_line(value: str, limit: int = LINE_LIMIT) -> bool:
    """Whether :func:`clean_line` would leave ``value`` unchanged."""
    return clean_line(value, limit) == value
