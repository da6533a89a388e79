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
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import UnionType
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from monitor.config import IDENT
from monitor.config_issues import ConfigIssue, Interpolated, Loc, quote
from monitor.config_source import ConfigSource
from monitor.schema import holds_secret, redact


@dataclass(frozen=True, slots=True)
class _Spot:
    """Where a pydantic error points, read along the model it was validated with."""

    #: the key path in the file (the union members' tags pydantic inserts left out)
    loc: Loc
    #: the model (or mapping type) holding the last key (for "did you mean"), if the path
    #: reached one
    holder: type[Any] | None
    #: the key choosing a member when the path ends at a discriminated union
    discriminator: str | None = None
    #: that union's members, by their tag
    tags: dict[str, type[BaseModel]] = field(default_factory=dict)


def _locate(model: type[BaseModel], parts: Loc, prefix: Loc = ()) -> _Spot:
    """Read pydantic's ``parts`` (a location in ``model``) as a key path in the file.

    pydantic puts a union member's name in the location (``desk.alpha.url``,
    ``weekly.list[str]``): the walk knows the types on the way, so such a part is
    recognised as the union's and left out (``desk.url``), and the model holding the last
    key is known whatever the nesting: models, lists, mappings, unions.
    """
    loc: list[str | int] = list(prefix)
    current, disc = _plain(model, None)
    holder: type[Any] | None = None
    for part in parts:
        members = _union_members(current)
        if members:
            chosen = _member(members, disc, part)
            if chosen is not None or _is_union_tag(part):
                current, disc = _plain(chosen, None) if chosen is not None else (None, None)
                continue
        loc.append(part)
        holder = current if _is_model(current) or _names_keys(current) else None
        if holder is not None:
            fields = getattr(holder, "model_fields", {})
            found = next((f for n, f in fields.items() if part in (n, f.alias)), None)
            current, disc = _plain(found.annotation, found.discriminator) if found else (
                None, None)
        else:
            args = typing.get_args(current)
            origin = typing.get_origin(current)
            inner = (args[-1] if origin in (dict, Mapping) else args[0]) if args else None
            current, disc = _plain(inner, None)
    members = _union_members(current)
    tags = _tags(members, disc) if members and disc else {}
    return _Spot(tuple(loc), holder, disc if tags else None, tags)


def _plain(annotation: Any, disc: Any) -> tuple[Any, str | None]:
    """``annotation`` without ``Annotated`` and ``None`` (an optional value), with the
    discriminator its metadata declares (only a key name: a callable one is opaque)."""
    while typing.get_origin(annotation) is Annotated:
        for meta in annotation.__metadata__:
            found = getattr(meta, "discriminator", None)
            disc = found if found is not None else disc
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (Union, UnionType):
        rest = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(rest) == 1:
            return _plain(rest[0], disc)
    return annotation, disc if isinstance(disc, str) else None


def _union_members(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (Union, UnionType):
        return typing.get_args(annotation)
    return ()


def _tags(members: tuple[Any, ...], disc: str) -> dict[str, type[BaseModel]]:
    """Each member model of a union discriminated by the key ``disc``, by its tag."""
    tags: dict[str, type[BaseModel]] = {}
    for member in members:
        member, _ = _plain(member, None)
        field_info = member.model_fields.get(disc) if _is_model(member) else None
        if field_info is not None and typing.get_origin(field_info.annotation) is Literal:
            for tag in typing.get_args(field_info.annotation):
                tags.setdefault(str(tag), member)
    return tags


def _member(members: tuple[Any, ...], disc: str | None, part: Any) -> Any:
    """The member of a union that pydantic names ``part`` in a location, if any."""
    if not isinstance(part, str):
        return None
    if disc is not None and part in (tags := _tags(members, disc)):
        return tags[part]
    for member in members:
        plain, _ = _plain(member, None)
        if part in (getattr(plain, "__name__", None), str(plain)):
            return member
    return None


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _names_keys(annotation: Any) -> bool:
    # a type read from a mapping that is no model (monitor.config.LocalizedText) says
    # which keys it accepts, for the "did you mean"
    return isinstance(annotation, type) and callable(getattr(annotation, "allowed_keys", None))


def _keys_of(holder: type[Any]) -> list[str]:
    """The keys a model accepts (``<secret>_file`` variants included when it says so)."""
    if hasattr(holder, "allowed_keys"):
        return list(holder.allowed_keys())
    return sorted(f.alias or n for n, f in holder.model_fields.items())


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
    """The problems of a pydantic error on ``model``, validated from the data at ``prefix``.

    A required key missing because it is misspelt is said once, by the misspelt key's
    "did you mean".
    """
    issues: list[tuple[str, ConfigIssue]] = []
    misspelt: set[Loc] = set()  # the keys the misspelt ones were meant to be
    for err in exc.errors(include_url=False):
        spot = _locate(model, err["loc"], prefix)
        loc, value = spot.loc, err.get("input")
        tag_error = err["type"] in _TAG_ERRORS and spot.discriminator is not None
        if tag_error:  # about the key choosing the member: said at that key
            loc = (*loc, spot.discriminator)
            value = value.get(spot.discriminator) if isinstance(value, dict) else None
        given = _given_under(source, loc)
        hidden = bool(given) or _hides_value(loc[len(prefix):], value, model)
        if tag_error:
            message = _tag_message(err["type"], spot, value, hidden, given)
        else:
            loc, message = _message(err, loc, spot.holder, hidden, given)
        if err["type"] == "extra_forbidden" and spot.holder is not None:
            if meant := _closest(str(loc[-1]), _keys_of(spot.holder)):
                misspelt.add((*loc[:-1], meant))
        # a validator's own sentence may still quote a URL with its password
        issues.append((err["type"], ConfigIssue(source.line_of(loc), loc, redact(message))))
    return [issue for kind, issue in issues if not (kind == "missing" and issue.loc in misspelt)]


def _closest(key: str, allowed: list[str]) -> str | None:
    """The allowed key ``key`` is most likely a misspelling of."""
    close = difflib.get_close_matches(key, allowed, n=1)
    return close[0] if close else None


#: pydantic's errors about the key that chooses a discriminated union's member
_TAG_ERRORS = frozenset({"union_tag_invalid", "union_tag_not_found"})


def _tag_message(kind: str, spot: _Spot, value: Any, hidden: bool,
                 given: list[Interpolated]) -> str:
    """``unknown type 'alhpa' (did you mean 'alpha'?)``, or which key is missing."""
    known = list(spot.tags)
    if kind == "union_tag_not_found":
        return f"required key is missing (one of: {', '.join(known)})"
    shown = _describe(given) if given else ("a hidden value" if hidden else quote(value))
    meant = _closest(value, known) if isinstance(value, str) and not hidden else None
    hint = f"did you mean {meant!r}?" if meant else f"known: {', '.join(known)}"
    return f"unknown {spot.discriminator} {shown} ({hint})"


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


def _message(err: Any, loc: Loc, holder: type[Any] | None,
             hidden: bool = False, given: list[Interpolated] | None = None
             ) -> tuple[Loc, str]:
    """The key path and the sentence for one pydantic error (``holder``: the model holding
    the last key; ``hidden``: without the value, see :func:`_hides_value`; ``given``: the
    values from environment variables in it, whose variables are named instead)."""
    kind, ctx = err["type"], err.get("ctx") or {}
    value = err.get("input")
    given_by = _describe(given) if given else None
    if kind == "extra_forbidden":
        message = f"unknown key {quote(loc[-1])}"
        if holder is not None:
            allowed = _keys_of(holder)
            meant = _closest(str(loc[-1]), allowed)
            message += f" (did you mean {meant!r}?)" if meant else (
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
    # a union member's name pydantic puts in a location that no member's name matches
    # (a member wrapped in a validator: 'function-before[...]')
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
