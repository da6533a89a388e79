"""Building blocks of the configuration schema shared by the core and the plugins.

:class:`StrictModel` refuses unknown keys and reads ``<secret>_file`` keys for secret
fields; :data:`Duration` accepts ``30s``, ``5m``, ``1h30m``, ``2d`` or a number of seconds.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, SecretStr, model_validator

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


def _is_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    return SecretStr in getattr(annotation, "__args__", ())


class StrictModel(BaseModel):
    """Base of every configuration model: unknown keys refused, values frozen.

    A field typed :class:`pydantic.SecretStr` may instead be given as ``<field>_file``:
    the path of a file whose content (without the final newline) is the secret.
    """

    # hide_input_in_errors: a validation message must never echo a secret back
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for name, field in cls.model_fields.items():
            file_key = f"{name}_file"
            if file_key not in data or not _is_secret(field.annotation):
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

    @classmethod
    def allowed_keys(cls) -> list[str]:
        """Keys accepted at this level (``<secret>_file`` variants included)."""
        keys = []
        for name, field in cls.model_fields.items():
            keys.append(field.alias or name)
            if _is_secret(field.annotation):
                keys.append(f"{name}_file")
        return sorted(keys)
