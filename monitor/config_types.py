"""The value types of the configuration file shared by its sections (and by plugins'
sections): an identifier (:data:`IDENT`) and a member-facing text (:class:`LocalizedText`,
a :class:`~monitor.words.Bilingual` checked on reading)."""

from __future__ import annotations

from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema

from monitor.words import Bilingual

#: the pattern of an identifier (a service, a check, a group, a maintenance window…)
IDENT = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class LocalizedText(Bilingual):
    """A member-facing text of the configuration: a :class:`~monitor.words.Bilingual`
    (French required, English optional) that pydantic checks on reading.

    In the file it is either a plain string (French) or ``{fr: ..., en: ...}``, each text
    1 to 200 characters; in code, ``LocalizedText(fr=..., en=...)`` or any
    :class:`~monitor.words.Bilingual`. It equals the Bilingual with the same texts.
    """

    __slots__ = ()

    #: the keys of the ``{fr, en}`` form (named in the "did you mean" of a config error)
    KEYS = ("en", "fr")
    #: the longest text in either language
    MAX_LENGTH = 200

    @classmethod
    def allowed_keys(cls) -> list[str]:
        """The keys of the mapping form (as :meth:`StrictModel.allowed_keys`)."""
        return list(cls.KEYS)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any,
                                     handler: GetCoreSchemaHandler) -> CoreSchema:
        text = core_schema.str_schema(min_length=1, max_length=cls.MAX_LENGTH)
        mapping = core_schema.typed_dict_schema(
            {"fr": core_schema.typed_dict_field(text),
             "en": core_schema.typed_dict_field(core_schema.nullable_schema(text),
                                                required=False)},
            extra_behavior="forbid")
        return core_schema.no_info_before_validator_function(
            cls._as_mapping,
            core_schema.no_info_after_validator_function(cls._from_mapping, mapping),
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda value: {"fr": value.fr, "en": value.en}))

    @staticmethod
    def _as_mapping(data: Any) -> Any:
        if isinstance(data, str):
            return {"fr": data}
        if isinstance(data, Bilingual):
            return {"fr": data.fr, "en": data.en}
        return data

    @classmethod
    def _from_mapping(cls, data: dict[str, str | None]) -> LocalizedText:
        return cls(str(data["fr"]), data.get("en"))
