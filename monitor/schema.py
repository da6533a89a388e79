"""Building blocks of the configuration schema shared by the core and the plugins.

:class:`StrictModel` refuses unknown keys and reads ``<secret>_file`` keys for secret
fields; :data:`Duration` accepts ``30s``, ``5m``, ``1h30m``, ``2d`` or a number of seconds.
:data:`SecretUrlStr` is a URL that may hold a password (kept as a :class:`SecretUrl`, whose
``repr`` hides it), and :func:`redact` hides credentials in text about to be logged.
"""

from __future__ import annotations

import functools
import re
import typing
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    SecretStr,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic.fields import FieldInfo

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> float:
    """Parse ``30s``, ``5m``, ``1h30m``, ``250ms``, ``2d``, ``1w`` or a number of seconds.

    :raises ValueError: with a message that shows the accepted forms.
    """
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r} (use e.g. 30s, 5m, 1h)")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        pos, seconds = 0, 0.0
        for match in _DURATION_PART.finditer(text):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
            pos = match.end()
        if not text or pos != len(text):
            raise ValueError(f"invalid duration {value!r} (use e.g. 30s, 5m, 1h)")
    else:
        raise ValueError(f"invalid duration {value!r} (use e.g. 30s, 5m, 1h)")
    if seconds <= 0:
        raise ValueError(f"duration must be positive, got {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """Format seconds the way the configuration writes them (``90`` → ``1m30s``)."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    out, rest = [], int(round(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(out) or "0s"


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""A positive duration in seconds, written ``30s``, ``5m``… in the configuration."""


@functools.cache
def _http_url_adapter() -> TypeAdapter[AnyHttpUrl]:
    """pydantic's reader of http(s) URLs, built with the first address to check."""
    return TypeAdapter(AnyHttpUrl)


def http_url_problem(value: str) -> str | None:
    """What keeps ``value`` from being an ``http``/``https`` URL with a host, as pydantic's
    :class:`~pydantic.AnyHttpUrl` reads it: ``"scheme"`` (another scheme, or no URL at
    all), ``"host"`` (no host name) or ``"invalid"`` (a bad port, IPv6 address…); None
    when it is one.

    Each configuration key words its own error from this, in the file:line:key style of
    config errors, and never quotes the value where it may hold a secret. The text is
    kept as written (not pydantic's normalised form), so a check asks for the URL the
    operator wrote.
    """
    try:
        _http_url_adapter().validate_python(value)
    except ValidationError as exc:
        error = exc.errors()[0]
        if error["type"] != "url_parsing":
            return "scheme"
        reason = str((error.get("ctx") or {}).get("error", ""))
        if reason == "empty host":
            return "host"
        return "scheme" if reason == "relative URL without a base" else "invalid"
    # the parser repairs ``http:/host``, ``http:host`` and ``http:///host`` as a browser
    # does; the HTTP clients that will use the text do not: the host must follow ``//``
    rest = value.partition(":")[2]
    if not rest.startswith("//") or rest[2:3] in ("/", "\\"):
        return "host"
    return None


def http_url(value: str) -> str:
    """Validate an http(s) base URL (a bridge's service) and drop its trailing slash.

    The error never repeats the value: a webhook's address may hold a secret path or token.
    """
    problem = http_url_problem(value)
    if problem == "host":
        raise ValueError("the address has no host name: expected an http:// or https:// "
                         "address (e.g. https://forum.example.coop)")
    if problem is not None:
        raise ValueError("expected an http:// or https:// address (e.g. "
                         "https://forum.example.coop)")
    return value.rstrip("/")


#: ``scheme://user:password@`` (or ``scheme://token@``) at the start of a URL; the user
#: part runs to the last ``@`` before the path, as a password may hold an unescaped ``@``
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<info>[^\s/?#'\"<>]*)@")
#: ``password=…``, ``?token=…`` (query strings, libpq DSNs, keyword arguments) and
#: ``'password': …`` (a quoted key: a dict's repr, JSON); a bare ``name: value`` is left
#: alone, as messages say ``…/db-password: No such file`` or ``KeyError: 'x'``
_SECRET_PARAM = re.compile(
    r"(?P<name>(?<![\w.-])(?i:[\w.-]*(?:pass|pwd|secret|token|key|auth|credential|signature)"
    r"[\w.-]*)\s*=\s*"
    r"|(?<=['\"])(?i:[\w.-]*(?:pass|pwd|secret|token|key|auth|credential|signature)"
    r"[\w.-]*)['\"]\s*:\s*)"
    r"(?P<value>'[^']*'|\"[^\"]*\"|[^\s&;#'\",)}]+)")
#: an ``Authorization`` header's credentials
_BEARER = re.compile(r"\b(?P<scheme>Bearer|Basic|Token)\s+(?P<value>[A-Za-z0-9._~+/=-]{8,})")


def redact(text: str) -> str:
    """``text`` with the credentials it may quote hidden, for logs and messages.

    Hidden: a URL's password (``https://user:***@host``) or bare token (``***@host``),
    parameters whose name looks secret (``?password=***``, ``token=***``) and the
    credentials of an ``Authorization`` value (``Bearer ***``). A secret in any other form
    cannot be recognised: never log or repeat a value known to be secret at all.
    """

    def userinfo(match: re.Match[str]) -> str:
        user, sep, _ = match.group("info").partition(":")
        return f"{match.group('scheme')}{user + ':' if sep else ''}***@"

    text = _URL_USERINFO.sub(userinfo, text)
    text = _SECRET_PARAM.sub(lambda m: f"{m.group('name')}***", text)
    return _BEARER.sub(lambda m: f"{m.group('scheme')} ***", text)


class SecretUrl(str):
    """A URL that may hold a password: a plain string for the code that connects with it,
    but its ``repr`` (what models, debuggers and tracebacks show) and :attr:`safe` hide the
    credentials (see :func:`redact`)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.safe!r})"

    @property
    def safe(self) -> str:
        """The URL with its password and secret parameters hidden."""
        return redact(str(self))


_TO_SECRET_URL = AfterValidator(SecretUrl)
SecretUrlStr = Annotated[str, _TO_SECRET_URL]
"""A URL that may hold a password (a database URL): kept as a :class:`SecretUrl`, never
repeated in configuration errors, and ``<field>_file`` may give it, like a SecretStr."""


#: one set object per distinct set of given keys (see StrictModel._share_fields_set)
_FIELDS_SETS: dict[frozenset[str], set[str]] = {}


def _is_secret(annotation: Any, metadata: Any = ()) -> bool:
    # a secret field, optional or not (``<field>_file`` may give it)
    if annotation is SecretStr or annotation == SecretUrlStr or _TO_SECRET_URL in metadata:
        return True
    args = getattr(annotation, "__args__", ())
    return SecretStr in args or SecretUrlStr in args


def holds_secret(field: FieldInfo) -> bool:
    """Whether the field's value is or contains a secret (:class:`pydantic.SecretStr` or
    :data:`SecretUrlStr`, at any depth: ``list[SecretStr]``, ``dict[str, SecretStr]``…)."""

    def inside(annotation: Any) -> bool:
        if annotation is SecretStr or annotation is _TO_SECRET_URL:
            return True
        return any(inside(arg) for arg in typing.get_args(annotation))

    return inside(field.annotation) or _TO_SECRET_URL in field.metadata


class StrictModel(BaseModel):
    """Base of every configuration model: unknown keys refused, values frozen.

    A field typed :class:`pydantic.SecretStr` may instead be given as ``<field>_file``:
    the path of a file whose content (without the final newline) is the secret.
    """

    # hide_input_in_errors: a validation message must never echo a secret back;
    # defer_build: a model's validator is built when it first validates, so the models
    # of probe kinds and plugin sections a configuration does not use cost no more than
    # their class (every installed plugin is loaded at start)
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True,
                              defer_build=True)

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for name, field in cls.model_fields.items():
            file_key = f"{name}_file"
            if file_key not in data or not _is_secret(field.annotation, field.metadata):
                continue
            if name in data:
                raise ValueError(f"give either '{name}' or '{file_key}', not both")
            data = dict(data)
            path = Path(str(data.pop(file_key)))
            try:
                data[name] = path.read_text(encoding="utf-8").rstrip("\n")
            except OSError as exc:
                raise ValueError(f"{file_key}: cannot read {path}: {exc.strerror}") from None
        return data

    @model_validator(mode="after")
    def _share_fields_set(self) -> Any:
        # Every model instance carries the set of the keys the file gave (216 bytes); a
        # frozen model never changes it and pydantic copies it before any update, so
        # equal sets are shared: with 100,000 checks that is two sets per check saved.
        given = self.__pydantic_fields_set__
        if not self.model_config.get("frozen"):
            return self  # a mutable subclass adds to its own set on assignment
        shared = _FIELDS_SETS.setdefault(frozenset(given), given)
        if shared is not given:
            object.__setattr__(self, "__pydantic_fields_set__", shared)
        return self

    @classmethod
    def allowed_keys(cls) -> list[str]:
        """Keys accepted at this level (``<secret>_file`` variants included)."""
        keys = []
        for name, field in cls.model_fields.items():
            keys.append(field.alias or name)
            if _is_secret(field.annotation, field.metadata):
                keys.append(f"{name}_file")
        return sorted(keys)
