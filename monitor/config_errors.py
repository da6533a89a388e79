"""Configuration errors a person can act on, that never repeat a secret.

:func:`issues_from_validation` turns pydantic's errors into :class:`ConfigIssue` lines (what
was expected, where, and the value given unless it may be a secret);
:func:`without_given_values` is the last pass over every problem of a file: no value taken
from an environment variable is ever repeated, in any sentence, whoever wrote it.
"""

from __future__ import annotations

import difflib
import re
import typing
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from monitor.config import IDENT
from monitor.config_source import ConfigIssue, ConfigSource, Interpolated, Loc, quote
from monitor.schema import holds_secret, redact


def _model_at(model: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model class that holds the last key of ``loc`` (for 'did you mean')."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        current = _unwrap(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    for arg in getattr(annotation, "__args__", ()) or ():
        inner = _unwrap(arg)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner
    return annotation


#: what a value of each pydantic type error should have been
_EXPECTED = {
    "int_type": "a whole number", "int_parsing": "a whole number",
    "int_from_float": "a whole number", "float_type": "a number", "float_parsing": "a number",
    "bool_type": "true or false", "bool_parsing": "true or false",
    "string_type": "a text", "list_type": "a list", "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)", "model_attributes_type": "a mapping (key: value)",
}
#: key names whose value is never repeated in an error message: secrets by name, and
#: addresses (a URL may carry a password, a token in its path or query)
_SECRET_KEY = re.compile(r"pass|secret|token|key|credential|auth|url|uri|dsn|webhook|endpoint",
                         re.IGNORECASE)
#: under these keys no value is ever repeated (``headers.Authorization``, ``headers.X-Api``…)
_SECRET_HOLDERS = frozenset({"headers", "env", "environment"})
#: a StrictModel error about a ``<secret>_file`` key, raised at the level of its mapping
_SECRET_FILE_ERROR = re.compile(
    r"^(?:(?P<key>\w+_file): (?P<rest>.*)|give either '\w+' or '(?P<both>\w+_file)', not both)$")


def issues_from_validation(
    exc: ValidationError, source: ConfigSource, model: type[BaseModel], prefix: Loc = ()
) -> list[ConfigIssue]:
    """The problems of a pydantic error on ``model``, validated from the data at ``prefix``."""
    issues = []
    for err in exc.errors(include_url=False):
        loc: Loc = (*prefix, *[p for p in err["loc"] if not _is_union_tag(p)])
        given = _given_under(source, loc)
        hidden = bool(given) or _hides_value(loc[len(prefix):], err.get("input"), model)
        loc, message = _message(err, loc, model, prefix, hidden, given)
        # a validator's own sentence may still quote a URL with its password
        issues.append(ConfigIssue(source.line_of(loc), loc, redact(message)))
    return issues


def _given_under(source: ConfigSource, loc: Loc) -> list[Interpolated]:
    """The values from environment variables at ``loc`` or inside it."""
    if not source.interpolated:
        return []
    return [given for at, given in source.interpolated.items() if at[:len(loc)] == loc]


def _describe(given: list[Interpolated]) -> str:
    if len(given) == 1:
        return given[0].describe()
    names = dict.fromkeys(n for g in given for n in g.names)
    return "values given by " + " and ".join(f"${{{n}}}" for n in names)


def _message(err: Any, loc: Loc, model: type[BaseModel], prefix: Loc,
             hidden: bool = False, given: list[Interpolated] | None = None
             ) -> tuple[Loc, str]:
    """The key path and the sentence for one pydantic error (``hidden``: without the
    value, see :func:`_hides_value`; ``given``: the values from environment variables
    in it, whose variables are named instead)."""
    kind, ctx = err["type"], err.get("ctx") or {}
    value = err.get("input")
    given_by = _describe(given) if given else None
    if kind == "extra_forbidden":
        holder = _model_at(model, loc[len(prefix):])
        message = f"unknown key {quote(loc[-1])}"
        if holder is not None:
            allowed = holder.allowed_keys() if hasattr(holder, "allowed_keys") else []
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            message += f" (did you mean {close[0]!r}?)" if close else (
                f" (allowed here: {', '.join(allowed)})" if allowed else "")
        return loc, message
    if kind == "missing":
        return loc, "required key is missing"
    shown = given_by or ("" if hidden else quote(value))
    if kind == "string_pattern_mismatch" and ctx.get("pattern") == IDENT:
        return loc, (f"invalid id{' ' + shown if shown else ''}: use lower-case letters, "
                     "digits, '-' and '_', starting with a letter or digit")
    if kind == "too_short" and loc and loc[-1] == "checks":
        return loc, "a service needs at least one check"
    got = (f", got {given_by}" if given_by else
           " (value hidden: it may be a secret)" if hidden else f", got {quote(value)}")
    if kind in _EXPECTED:
        return loc, f"expected {_EXPECTED[kind]}{got}"
    if kind in ("greater_than_equal", "greater_than"):
        bound = ctx.get("ge", ctx.get("gt"))
        word = "at least" if kind == "greater_than_equal" else "more than"
        return loc, f"must be {word} {bound}{got}"
    if kind in ("less_than_equal", "less_than"):
        bound = ctx.get("le", ctx.get("lt"))
        word = "at most" if kind == "less_than_equal" else "less than"
        return loc, f"must be {word} {bound}{got}"
    if kind == "too_short":
        return loc, f"needs at least {ctx.get('min_length')} item(s)"
    if kind == "string_too_short":
        return loc, "must not be empty"
    if kind == "string_too_long":
        return loc, f"is too long (at most {ctx.get('max_length')} characters)"
    if kind == "string_pattern_mismatch":
        return loc, (f"invalid value{' ' + shown if shown else ''}: expected the pattern "
                     f"{ctx.get('pattern')}")
    message = _replace_given(str(err["msg"]).removeprefix("Value error, "), given or ())
    # a validator's own sentence may quote the value (or, for a mapping, a secret in it)
    for text in sorted(_secret_texts(value, hidden), key=len, reverse=True):
        message = message.replace(repr(text), "'***'")
        if len(text) >= 8:  # shorter ones could be ordinary words of the sentence
            message = message.replace(text, "***")
    if isinstance(value, dict) and (match := _SECRET_FILE_ERROR.match(message)):
        key = match.group("key") or match.group("both")
        if key in value:  # said at the mapping's level: move it to the key itself
            return (*loc, key), match.group("rest") or message
    if message.startswith("Input should be "):
        message = "expected " + message.removeprefix("Input should be ") + got
    return loc, message


def _hides_value(loc: Loc, value: Any, model: type[BaseModel]) -> bool:
    """Whether an error at ``loc`` (a path in ``model``) must not repeat its value.

    Hidden: a field typed as a secret (``SecretStr``, a database URL…, at any depth), a
    key named like a secret or an address (``password``, ``api_key``, ``url``…), anything
    under ``headers``, and any value holding a URL (it may carry a password or a token).
    """
    names = [part for part in loc if isinstance(part, str)]
    if names and _SECRET_KEY.search(names[-1]):
        return True
    if _SECRET_HOLDERS.intersection(n.lower() for n in names):
        return True
    if any(holds_secret(field) for field in _fields_on_path(model, loc)):
        return True
    return bool(_secret_texts(value, False))


def _fields_on_path(model: type[BaseModel], loc: Loc) -> list[FieldInfo]:
    """The fields ``loc`` goes through, from ``model`` down (several at a level when a
    union offers several models); list indexes, mapping keys and union tags are skipped."""
    fields: list[FieldInfo] = []
    holders = [model]
    for part in loc:
        if isinstance(part, int):
            continue
        here = [f for holder in holders for name, f in holder.model_fields.items()
                if part in (name, f.alias)]
        if not here:
            continue  # a mapping key or a union member's tag: same models one level down
        fields += here
        holders = [m for f in here for m in _models_in(f.annotation)]
    return fields


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _secret_texts(value: Any, hidden: bool, depth: int = 0) -> list[str]:
    """The strings of a raw value an error must not repeat: every one when the value is
    ``hidden``, else those holding a URL; in a mapping, those under a secret-looking key
    (``password``, ``url``, ``headers``…), but never a ``*_file`` path.

    A mapping that is the error's own value (a model's error, e.g. about the whole file)
    keeps its other strings: its ids and names are what the message is about.
    """
    if isinstance(value, str):
        return [value] if value and (hidden or "://" in value) else []
    if depth > 5:
        return []
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            name = str(key)
            secret = ((hidden and depth > 0) or bool(_SECRET_KEY.search(name))
                      or name.lower() in _SECRET_HOLDERS)
            if not name.endswith("_file"):
                found += _secret_texts(item, secret, depth + 1)
        return found
    if isinstance(value, (list, tuple, set, frozenset)):
        return [text for item in value for text in _secret_texts(item, hidden, depth + 1)]
    return []


def _is_union_tag(part: Any) -> bool:
    # pydantic inserts union member names (e.g. 'str', 'function-before[...]') into locs
    return isinstance(part, str) and ("[" in part or part in {"str", "int", "float", "bool"})


def without_given_values(issues: list[ConfigIssue], source: ConfigSource) -> list[ConfigIssue]:
    """``issues`` with every value taken from an environment variable replaced by the
    variable's name, wherever a sentence quotes it (a validator's own words, an unknown
    group or probe kind, a duplicate id…)."""
    if not source.interpolated:
        return issues
    given = list(source.interpolated.values())
    out = []
    for issue in issues:
        message = _replace_given(issue.message, given)
        out.append(issue if message == issue.message else
                   ConfigIssue(issue.line, issue.loc, message))
    return out


def _replace_given(message: str, given: typing.Iterable[Interpolated]) -> str:
    """``message`` with each value of ``given`` (and each variable's value in it) replaced
    by ``the value given by ${NAME}``.

    A quoted value (``'…'``, also cut as :func:`quote` cuts it) is replaced whatever its
    length; a bare one from 8 characters on, as a shorter text could be an ordinary word
    of the sentence.
    """
    replacements: dict[str, str] = {}
    for item in given:
        said = item.describe()
        for text in (item.value, *item.parts):
            if text:
                replacements.setdefault(repr(text), said)
                replacements.setdefault(quote(text), said)
                if len(text) >= 8:
                    replacements.setdefault(text, said)
    # longest first: a value holding another is replaced whole
    for text in sorted(replacements, key=len, reverse=True):
        if text in message:
            message = message.replace(text, replacements[text])
    return message
