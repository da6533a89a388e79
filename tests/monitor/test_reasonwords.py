"""Members' words per reason code: every code a probe can emit has plain words, and no
public rendering names an address, a port, an HTTP code, a host or a counter."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from monitor import reasonwords
from monitor.probe import Reason, Status
from monitor.words import LANGUAGES, Bilingual

ROOT = Path(__file__).resolve().parents[2]
#: where reasons are built: the core and the built-in plugins
SOURCES = [*sorted((ROOT / "monitor").rglob("*.py")), *sorted((ROOT / "plugins").rglob("*.py"))]
#: the functions whose first argument is a reason code
BUILDERS = {"reason", "fail", "_fail", "Reason"}
#: the postgresql probe's table of connection errors: ("postgresql.auth", _(…))
_TABLE = re.compile(r"""\(\s*"((?:postgresql|mysql)\.[a-z_]+)",""")
#: the database probes build ``{kind}.<problem>``
DB_KINDS = ("mysql", "postgresql")
#: what a member's sentence must never hold
FORBIDDEN = {
    "an IP address": re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b|\b[0-9a-f]*:[0-9a-f:]+:\b"),
    "a port": re.compile(r":\d+"),
    "an HTTP code": re.compile(r"\b[1-5]\d\d\b"),
    "a digit (counter)": re.compile(r"\d"),
    "a host name": re.compile(r"\b[\w-]+\.(?:test|coop|org|com|net|fr|local|interne)\b|"
                              r"localhost|exemple|example"),
    "quoted outside text": re.compile(r"[«»“”]"),
}


def _first_code(node: ast.Call) -> str | None:
    """The code a builder call gives: a literal, or the literal start of an f-string
    (``f"sympa.{layer}.{problem}"`` → ``sympa``)."""
    if not node.args:
        return None
    first = node.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    if isinstance(first, ast.JoinedStr):
        parts = []
        for value in first.values:
            if isinstance(value, ast.Constant):
                parts.append(value.value)
            elif isinstance(value.value, ast.Name) and value.value.id == "kind" and not parts:
                parts.append("{kind}")
            else:
                break
        return "".join(parts).rstrip(".")
    return None


def emitted_codes() -> dict[str, str]:
    """Every reason code (or code family, for a code built at run time) the source gives
    to a reason builder, with where."""
    found: dict[str, str] = {}
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        where = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            code = _first_code(node) if name in BUILDERS else None
            if not code or not re.fullmatch(r"[a-z_{}]+(\.[a-z_]+)*", code):
                continue
            if name == "_fail" and path.name == "sympa.py":
                # sympa's layers: _fail("web", "status", …) gives sympa.web.status
                second = node.args[1] if len(node.args) > 1 else None
                problem = second.value if isinstance(second, ast.Constant) else ""
                code = f"sympa.{code}.{problem}".rstrip(".")
            for kind in (DB_KINDS if code.startswith("{kind}") else (None,)):
                found.setdefault(code.replace("{kind}", kind) if kind else code, where)
        for match in _TABLE.finditer(text):
            found.setdefault(match.group(1), where)
    return found


def test_the_scan_finds_the_reasons_of_every_probe():
    codes = emitted_codes()
    assert len(codes) > 80
    for expected in ("connection.refused", "http.status", "timeout", "tls.expiring",
                     "php_fpm.listen_queue", "mysql.replication_lag", "sympa.web.status",
                     "nextcloud.webdav_auth", "heartbeat.late", "dns.nxdomain",
                     "postgresql.auth", "mail.greeting", "vigie.resources", "probe.error"):
        assert expected in codes, expected


def test_every_code_a_probe_emits_has_members_words():
    """A new reason code without members' words fails here: add them to the probe's
    ``public_words`` (or the core's ``CORE_WORDS`` for a shared family)."""
    missing = [f"{where}: {code}" for code, where in emitted_codes().items()
               if reasonwords.worded(code) is None]
    assert not missing, f"reason codes without members' words: {missing}"


def _check(text: str, what: str) -> None:
    assert text.strip(), f"{what}: empty"
    for name, pattern in FORBIDDEN.items():
        assert not pattern.search(text), f"{what}: {text!r} holds {name}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_members_sentence_is_plain(lang):
    for code, words in reasonwords.table().items():
        _check(words.say(lang), f"{code} ({lang})")
    for status, words in reasonwords.PUBLIC_SENTENCES.items():
        _check(words.say(lang), f"status {status} ({lang})")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_public_rendering_of_every_code_drops_the_probes_detail(lang):
    detail = "Connexion refusée par web01.exemple.coop:8709 (502, 14 requêtes)"
    for code in emitted_codes():
        for status in Status:
            shown = Reason(code, Bilingual(detail, detail)).for_public(status)
            _check(shown.text(lang), f"{code} {status.label} ({lang})")
            assert shown.code == code


def test_french_and_english_words_differ():
    same = [code for code, words in reasonwords.table().items() if words.fr == words.en]
    assert not same, f"untranslated members' words: {same}"
