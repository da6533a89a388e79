"""Render the configuration reference (``docs/config-reference.md``) from the schema.

``python -m monitor.configdoc > docs/config-reference.md`` regenerates it; a test fails
when the committed file differs, so the reference never drifts from the code.

Every key of every section is listed with its type, default and description: the core
sections from :class:`monitor.config.FileConfig`, the top-level sections plugins register
(``vigie_register_config_sections``) and the keys of each probe kind. A description is a
field's ``Field(description=...)`` or, failing that, the ``#:`` comment above the field
in its class (the convention the code already uses). Only Vigie's own plugins are listed
unless ``--all`` is given, so the committed page does not depend on what else happens to
be installed.
"""

from __future__ import annotations

import argparse
import enum
import inspect
import re
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from monitor.config import FileConfig, LocalizedText
from monitor.plugins import ProbeRegistry, build_plugin_manager, plugin_callers
from monitor.schema import format_duration, parse_duration
from monitor.words import Bilingual

#: the distribution whose plugins are documented by default
OWN_DISTRIBUTION = "vigie"

HEADER = """# Configuration reference

Generated from the configuration schema by `python -m monitor.configdoc >
docs/config-reference.md`; do not edit by hand (a test fails when this page is out of
date). The guide with examples is [configuration.md](configuration.md); an annotated
configuration for a whole cooperative is
[deploy/examples/cooperative.yaml](../deploy/examples/cooperative.yaml).

Conventions: a *duration* is written `250ms`, `30s`, `5m`, `1h30m`, `2d`, `1w` or a number
of seconds; a *text* members read is a string (French) or `{fr: …, en: …}`; a *secret*
may be given inline (usually as `${ENV_VAR}`) or as `<key>_file: /path/to/file`. Unknown
keys are refused everywhere.
"""


@dataclass(frozen=True, slots=True)
class KeyDoc:
    """One documented key."""

    key: str
    type: str
    default: str
    description: str


@dataclass(frozen=True, slots=True)
class SectionDoc:
    """A table of keys under a heading (``site``, ``services[].checks[]``, ``kind: http``)."""

    title: str
    intro: str
    keys: tuple[KeyDoc, ...]
    level: int = 2


# Descriptions ---------------------------------------------------------------------------

_FIELD_LINE = re.compile(r"^\s+([A-Za-z_]\w*)\s*:")
_COMMENT_LINE = re.compile(r"^\s+#:\s?(.*)$")


def source_comments(model: type) -> dict[str, str]:
    """``#:`` comments written above each field in ``model``'s class body."""
    try:
        lines = inspect.getsource(model).splitlines()
    except (OSError, TypeError):
        return {}
    found: dict[str, str] = {}
    block: list[str] = []
    for line in lines[1:]:
        comment = _COMMENT_LINE.match(line)
        if comment:
            block.append(comment.group(1).strip())
            continue
        field = _FIELD_LINE.match(line)
        if field and block:
            found.setdefault(field.group(1), " ".join(block))
        block = []
    return found


def field_descriptions(model: type[BaseModel]) -> dict[str, str]:
    """The description of each field: ``Field(description=...)``, else a ``#:`` comment
    in the class that defines it (base classes included)."""
    comments: dict[str, str] = {}
    for klass in reversed(model.__mro__):
        if isinstance(klass, type) and issubclass(klass, BaseModel) and klass is not BaseModel:
            comments.update(source_comments(klass))
    out = {}
    for name, field in model.model_fields.items():
        text = field.description or comments.get(name, "")
        out[name] = _markdown(text)
    return out


def _markdown(text: str) -> str:
    """reST literals to Markdown, one line, safe inside a table cell."""
    text = text.replace("``", "`")
    return " ".join(text.split()).replace("|", "\\|")


def _sentence(text: str) -> str:
    """``text`` ending with a full stop (docstring first lines often have none)."""
    text = text.strip()
    return text if not text or text[-1] in ".!?:)" else text + "."


def first_paragraph(obj: Any) -> str:
    """The first paragraph of ``obj``'s docstring, on one line."""
    doc = inspect.getdoc(obj) or ""
    return _markdown(doc.split("\n\n")[0]) if doc else ""


# Types and defaults ---------------------------------------------------------------------


def _is_duration(metadata: list[Any]) -> bool:
    # parse_duration itself, or a wrapper such as an "optional duration" (``off``)
    return any(getattr(m, "func", None) is parse_duration
               or "duration" in getattr(getattr(m, "func", None), "__name__", "")
               for m in metadata)


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """The configuration models inside ``annotation`` (``X``, ``X | None``, ``list[X]``,
    ``dict[str, X]``, a union of models such as ``A | B`` chosen by a ``type`` key)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found += [m for m in models_in(arg) if m not in found]
    return found


def _container(annotation: Any) -> str:
    """How nested models sit under their key: ``[]`` (a list), ``.<key>`` (a mapping)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _container(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        kinds = {_container(a) for a in typing.get_args(annotation) if a is not type(None)}
        return kinds.pop() if len(kinds) == 1 else ""
    if origin in (list, tuple, set, frozenset):
        return "[]"
    if origin is dict:
        return ".<key>"
    return ""


def _variant(model: type[BaseModel]) -> str | None:
    """The ``type`` value that selects ``model`` in a union, if it has one."""
    field = model.model_fields.get("type")
    args = typing.get_args(field.annotation) if field is not None else ()
    return str(args[0]) if field is not None and typing.get_origin(field.annotation) is \
        typing.Literal and len(args) == 1 else None


def describe_type(annotation: Any, metadata: list[Any] | tuple[Any, ...] = ()) -> str:
    """A reader's name for a field type: ``duration``, ``list of text``, ``one of `a`, `b```…"""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return describe_type(args[0], [*metadata, *args[1:]])
    if _is_duration(list(metadata)):
        return "duration"
    if origin in (typing.Union, types.UnionType):
        kept = [a for a in args if a is not type(None)]
        return " or ".join(describe_type(a) for a in kept)
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin in (list, tuple, set, frozenset):
        items = [a for a in args if a is not Ellipsis]
        if origin is tuple and len(items) > 1 and Ellipsis not in args:
            return "[" + ", ".join(describe_type(a) for a in items) + "]"
        return "list of " + (describe_type(items[0]) if items else "values")
    if origin is dict:
        return f"mapping of {describe_type(args[0])} to {describe_type(args[1])}" if args \
            else "mapping"
    return _simple_type(annotation)


def _simple_type(annotation: Any) -> str:
    if isinstance(annotation, type) and issubclass(annotation, LocalizedText):
        return "text (fr/en)"
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return "mapping"
        if issubclass(annotation, SecretStr):
            return "secret"
        if issubclass(annotation, bool):
            return "true/false"
        if issubclass(annotation, enum.Enum):
            return "one of " + ", ".join(f"`{m.value}`" for m in annotation)
        if issubclass(annotation, Path):
            return "path"
        names = {str: "text", int: "integer", float: "number"}
        if annotation in names:
            return names[annotation]
    if annotation is Any:
        return "any value"
    return str(annotation).replace("typing.", "")


def _bounds(field: FieldInfo) -> str:
    low = high = None
    for item in field.metadata:
        low = getattr(item, "ge", None) if getattr(item, "ge", None) is not None else low
        high = getattr(item, "le", None) if getattr(item, "le", None) is not None else high
    if low is not None and high is not None:
        return f" ({low}–{high})"
    if low is not None:
        return f" (≥ {low})"
    if high is not None:
        return f" (≤ {high})"
    return ""


def describe_default(field: FieldInfo) -> str:
    """The default as it would be written in the file, ``required`` when there is none."""
    if field.default_factory is not None:
        if field.default_factory in (list, dict, set, tuple):
            return "`[]`" if field.default_factory in (list, set, tuple) else "`{}`"
        return "computed at start"
    value = field.default
    if value is PydanticUndefined:
        return "**required**"
    if value is None:
        return "—"
    if value == "":
        return '`""`'
    if isinstance(value, BaseModel):
        return "see below"
    return f"`{_yaml_value(value, _is_duration(field.metadata) or _is_duration_union(field))}`"


def _is_duration_union(field: FieldInfo) -> bool:
    for arg in typing.get_args(field.annotation):
        if (typing.get_origin(arg) is typing.Annotated
                and _is_duration(list(typing.get_args(arg)[1:]))):
            return True
    return False


def _yaml_value(value: Any, duration: bool = False) -> str:
    if duration and isinstance(value, (int, float)):
        return format_duration(float(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Bilingual):
        pairs = (("fr", value.fr), ("en", value.en))
        return "{" + ", ".join(f"{k}: {v}" for k, v in pairs if v) + "}"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, BaseModel):  # a model inside a default mapping: its keys set
        return _yaml_value(value.model_dump(exclude_defaults=True))
    return str(value)


# Sections -------------------------------------------------------------------------------


def model_sections(model: type[BaseModel], path: str, intro: str | None = None,
                   level: int = 2, title: str | None = None) -> Iterator[SectionDoc]:
    """The table of ``model``'s keys under ``path``, then one table per nested model.

    :param title: the heading (default: ``path`` as code).
    """
    descriptions = field_descriptions(model)
    keys, nested = [], []
    for name, field in model.model_fields.items():
        type_text = describe_type(field.annotation, field.metadata)
        key = f"`{name}`" + (f" (or `{name}_file`)" if "secret" in type_text.split() else "")
        inner = models_in(field.annotation)
        description = descriptions[name]
        if inner:
            sub = (f"{path}.{name}" if path else name) + _container(field.annotation)
            variants = [_variant(m) for m in inner]
            if len(inner) > 1 and all(variants):
                choice = "mapping chosen by `type`: " + ", ".join(f"`{v}`" for v in variants)
                type_text = f"list of {choice}" if sub.endswith("[]") else choice
            for model_, variant in zip(inner, variants):
                heading = f"`{sub}`" + (f" with `type: {variant}`"
                                        if len(inner) > 1 and variant else "")
                nested.append((sub, heading, model_))
            description = (_sentence(description) + " " if description else "") + \
                f"See `{sub}`" + (" (one table per `type`)." if len(inner) > 1 else ".")
        type_text += _bounds(field)
        keys.append(KeyDoc(key, type_text, describe_default(field), description.strip()))
    if title is None:
        title = f"`{path}`" if path else ""
    yield SectionDoc(title, intro if intro is not None else first_paragraph(model),
                     tuple(keys), level)
    for sub, heading, inner_model in nested:
        yield from model_sections(inner_model, sub, level=min(level + 1, 4), title=heading)


def core_sections() -> list[SectionDoc]:
    """One section per top-level key of the core file, services and checks included."""
    out: list[SectionDoc] = []
    descriptions = field_descriptions(FileConfig)
    scalars = []
    for name, field in FileConfig.model_fields.items():
        inner = models_in(field.annotation)
        if not inner:
            scalars.append(KeyDoc(f"`{name}`", describe_type(field.annotation, field.metadata),
                                  describe_default(field), descriptions[name]))
            continue
        path = name + _container(field.annotation)
        intro = descriptions[name] or first_paragraph(inner[0])
        out.extend(model_sections(inner[0], path, intro=intro))
    from monitor.config_loader import core_sections as owned

    for name, model in owned().items():  # the core's sections kept beside the plugins'
        out.extend(model_sections(model, name, intro=first_paragraph(model)))
    out.insert(0, SectionDoc("Top-level keys", first_paragraph(FileConfig), tuple(scalars)))
    return [_with_kinds_note(section) for section in out]


def _with_kinds_note(section: SectionDoc) -> SectionDoc:
    """Point the common check keys to the keys of each kind."""
    if section.title != "`services[].checks[]`":
        return section
    intro = (f"{section.intro} Besides these common keys, a check takes the keys of its "
             "kind, listed under [Check kinds](#check-kinds).")
    return SectionDoc(section.title, intro.strip(), section.keys, section.level)


def own_plugins(pm: Any) -> set[str]:
    """Names of the plugins that come from Vigie's own distribution."""
    return {pm.get_name(plugin) for plugin, dist in pm.list_plugin_distinfo()
            if dist.project_name == OWN_DISTRIBUTION}


def plugin_sections(pm: Any, include: set[str] | None) -> list[SectionDoc]:
    """The top-level sections registered by plugins, by section name."""
    found: list[tuple[str, str, type[BaseModel]]] = []
    for plugin, caller in plugin_callers(pm, "vigie_register_config_sections"):
        if include is not None and plugin not in include:
            continue
        for sections in caller():
            for name, model in sections.items():
                found.append((name, plugin, model))
    out: list[SectionDoc] = []
    for name, plugin, model in sorted(found, key=lambda f: f[0]):
        intro = f"From the `{plugin}` plugin. {_sentence(first_paragraph(model))}"
        out.extend(model_sections(model, name, intro=intro.strip()))
    return out


def kind_sections(pm: Any, include: set[str] | None) -> list[SectionDoc]:
    """The keys of each probe kind."""
    out: list[SectionDoc] = []
    for kind in ProbeRegistry.from_plugin_manager(pm):
        if include is not None and kind.plugin not in include:
            continue
        probe = kind.probe_class
        intro = f"{_sentence(_markdown(probe.description))} Plugin `{kind.plugin}`."
        doc = Path(__file__).resolve().parents[1] / "docs" / "probes" / f"{kind.kind}.md"
        if doc.is_file():
            intro += f" Guide: [docs/probes/{kind.kind}.md](probes/{kind.kind}.md)."
        sections = list(model_sections(probe.Config, "", intro=intro.strip(), level=3))
        head = sections[0]
        out.append(SectionDoc(f"`kind: {kind.kind}`", head.intro, head.keys, 3))
        for section in sections[1:]:
            out.append(SectionDoc(f"`kind: {kind.kind}` → {section.title}", section.intro,
                                  section.keys, 4))
    return out


def render_section(section: SectionDoc) -> str:
    """One heading and its table."""
    lines = [f"{'#' * section.level} {section.title}", ""]
    if section.intro:
        lines += [section.intro, ""]
    if section.keys:
        lines += ["| key | type | default | description |", "| --- | --- | --- | --- |"]
        lines += [f"| {k.key} | {k.type} | {k.default} | {k.description or '—'} |"
                  for k in section.keys]
    else:
        lines.append("No keys of its own.")
    return "\n".join(lines) + "\n"


def render(all_plugins: bool = False, pm: Any = None) -> str:
    """The whole Markdown page.

    :param all_plugins: document every installed plugin, not only Vigie's own.
    :param pm: the plugin manager to read (default: a fresh one with every plugin).
    """
    pm = pm if pm is not None else build_plugin_manager()
    include = None if all_plugins else own_plugins(pm)
    parts = [HEADER, "## Core sections\n"]
    parts += [render_section(SectionDoc(s.title, s.intro, s.keys, s.level + 1))
              for s in core_sections()]
    plugin = plugin_sections(pm, include)
    parts.append("## Plugin sections\n\nTop-level sections owned by plugins. A section left "
                 "out turns its feature off, or keeps its defaults when every key has one.\n")
    parts += [render_section(SectionDoc(s.title, s.intro, s.keys, s.level + 1)) for s in plugin] \
        or ["No plugin registers a section.\n"]
    parts.append("## Check kinds\n\nThe keys each `kind:` accepts beside the common keys of "
                 "`services[].checks[]`. `vigie probes` lists the kinds installed.\n")
    parts += [render_section(s) for s in kind_sections(pm, include)]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> None:
    """``python -m monitor.configdoc [--all]``: print the reference."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true",
                        help="document every installed plugin, not only Vigie's own")
    args = parser.parse_args(argv)
    print(render(all_plugins=args.all), end="")


if __name__ == "__main__":
    main()
