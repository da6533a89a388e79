"""Small builders for the OpenAPI description: JSON Schema pieces, schemas derived from the
code's own types, the answers every route may give, and the parameters of a Flask route.

Schemas of answers are strict (``additionalProperties: false``, every key the code always
writes required), so that a key added, dropped or retyped in the code without its
description fails the schemathesis run (tests/dashboard/test_api_live.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter
from werkzeug.routing import IntegerConverter, Rule
from werkzeug.routing.converters import NumberConverter

Schema = dict[str, Any]

#: where components live, in ``$ref``
REF = "#/components/schemas/{model}"
#: ISO 8601 in UTC, as :func:`dashboard.i18n.iso` writes it (the pattern is checked, a
#: format only annotates)
DATE_TIME: Schema = {"type": "string", "format": "date-time",
                     "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"}
DATE: Schema = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d\d-\d\d$"}
UNIX_TIME: Schema = {"type": "number", "description": "Unix time (seconds)"}


@dataclass(frozen=True, slots=True)
class Operation:
    """What the code cannot tell about a route: its answers, query and body.

    The path, its parameters (typed by the route's converters) and the summary (the view's
    docstring) are read from the Flask route itself.
    """

    tag: str
    #: status → response object (the listener's answers are added to every operation)
    responses: dict[str, Any]
    query: list[dict[str, Any]] = field(default_factory=list)
    #: the request body object
    body: dict[str, Any] | None = None
    #: needs an API token (``Authorization: Bearer``)
    bearer: bool = False


def ref(name: str) -> Schema:
    """A reference to the component schema ``name``."""
    return {"$ref": REF.format(model=name)}


def nullable(schema: Schema) -> Schema:
    """``schema`` or ``null``."""
    return {"anyOf": [schema, {"type": "null"}]}


def choice(words: Iterable[str | None]) -> Schema:
    """One of ``words`` (``None`` in them: ``null`` too)."""
    words = list(words)
    types = ["string", "null"] if None in words else "string"
    return {"type": types, "enum": words}


def array(items: Schema) -> Schema:
    """A list of ``items``."""
    return {"type": "array", "items": items}


def obj(properties: dict[str, Schema], *, optional: Iterable[str] = (),
        description: str | None = None) -> Schema:
    """An object with exactly these keys, all required but the ``optional`` ones."""
    optional = set(optional)
    schema: Schema = {"type": "object", "properties": properties,
                      "required": [name for name in properties if name not in optional],
                      "additionalProperties": False}
    if description:
        schema["description"] = description
    return schema


def derived(*types: type, enums: dict[str, dict[str, Iterable[str | None]]] | None = None
            ) -> dict[str, Schema]:
    """Component schemas of the dataclasses (or pydantic models) ``types`` and of what they
    contain, as the code serialises them (``dataclasses.asdict``, ``model_dump``), made
    strict; ``enums`` adds the allowed words of string fields (``{schema: {field: words}}``).
    """
    out: dict[str, Schema] = {}
    for kind in types:
        schema = TypeAdapter(kind).json_schema(mode="serialization", ref_template=REF)
        for name, found in {**schema.pop("$defs", {}), kind.__name__: schema}.items():
            if out.setdefault(name, found) != found:
                raise ValueError(f"two different schemas named {name}")
    for name, schema in out.items():
        _strict(schema)
        for key, words in (enums or {}).get(name, {}).items():
            schema["properties"][key]["enum"] = list(words)
    return out


def _strict(node: Any) -> None:
    """Drop pydantic's generated titles; forbid keys nobody described."""
    if isinstance(node, dict):
        if isinstance(node.get("title"), str):
            del node["title"]
        if node.get("type") == "object" and "properties" in node:
            node.setdefault("additionalProperties", False)
        for value in node.values():
            _strict(value)
    elif isinstance(node, list):
        for value in node:
            _strict(value)


def json_body(schema: Schema, description: str, headers: dict[str, Any] | None = None
              ) -> dict[str, Any]:
    """A response with a JSON body."""
    response: dict[str, Any] = {"description": description,
                                "content": {"application/json": {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def header(schema: Schema, description: str, *, required: bool = True) -> dict[str, Any]:
    """A response header."""
    return {"description": description, "required": required, "schema": schema}


#: what Vigie's listener may answer on any route before the application sees the request
#: (slow or oversized requests, too many connections, no worker free), as
#: ``#/components/responses/<name>``. Their bodies belong to the listener, or to the layer
#: that refused: any content.
LISTENER_RESPONSES: dict[str, tuple[str, str]] = {
    "408": ("TimedOut", "The request was not received in time (the listener's read "
                        "timeout)."),
    "413": ("TooLarge", "The request is too large (the admin API: over 1 MB, "
                        "`too_large`)."),
    "429": ("TooMany", "Too many requests or connections from this address; "
                       "`Retry-After` may say when to come back."),
    "503": ("Unavailable", "Vigie is busy, or cannot read its database; try again later."),
}


def listener_responses() -> dict[str, Any]:
    """The listener's answers, as response components."""
    return {name: {"description": description}
            for name, description in LISTENER_RESPONSES.values()}


def with_listener(responses: dict[str, Any]) -> dict[str, Any]:
    """``responses`` and the listener's answers (any route may get them)."""
    return {**responses, **{status: {"$ref": f"#/components/responses/{name}"}
                            for status, (name, _) in LISTENER_RESPONSES.items()
                            if status not in responses}}


_PLACEHOLDER = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")


def openapi_path(rule: Rule) -> str:
    """The OpenAPI template of a Flask rule (``/incidents/<int:incident_id>`` →
    ``/incidents/{incident_id}``)."""
    return _PLACEHOLDER.sub(r"{\1}", rule.rule)


def path_parameters(rule: Rule) -> list[dict[str, Any]]:
    """The path parameters of a Flask rule, typed as its converters read them."""
    out = []
    # werkzeug keeps each placeholder's converter on the rule, with no public accessor
    converters = rule._converters
    for name in _PLACEHOLDER.findall(rule.rule):
        converter = converters[name]
        if isinstance(converter, NumberConverter):
            schema: Schema = {"type": "integer" if isinstance(converter, IntegerConverter)
                              else "number"}
            low = converter.min if converter.min is not None else (
                None if converter.signed else 0)
            if low is not None:
                schema["minimum"] = low
            if converter.max is not None:
                schema["maximum"] = converter.max
        else:
            schema = {"type": "string", "pattern": f"^{converter.regex}$"}
        out.append({"name": name, "in": "path", "required": True, "schema": schema})
    return out
