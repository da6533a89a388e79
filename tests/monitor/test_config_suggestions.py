"""A misspelt key gets its "did you mean" wherever it is: every model reachable in the
configuration (the core's, every installed plugin's section, every probe kind's keys),
through nested models, lists, mappings and unions, discriminated or not, is visited and
given one misspelt key."""

from __future__ import annotations

import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from monitor.config import FileConfig
from monitor.config_errors import issues_from_validation
from monitor.config_source import ConfigSource
from monitor.plugins import ProbeRegistry, build_plugin_manager, config_sections

Step = tuple  # ("key", name) | ("index",) | ("entry",) | ("tag", key, value)


def _plain(annotation: Any, disc: Any) -> tuple[Any, Any]:
    while typing.get_origin(annotation) is Annotated:
        for meta in annotation.__metadata__:
            disc = getattr(meta, "discriminator", None) or disc
        annotation = typing.get_args(annotation)[0]
    return annotation, disc


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def spots(annotation: Any, steps: tuple = (), disc: Any = None, depth: int = 0
          ) -> Iterator[tuple[tuple, type[BaseModel]]]:
    """Every model reachable from ``annotation``, with the steps leading to it."""
    annotation, disc = _plain(annotation, disc)
    if depth > 8:
        return
    if _is_model(annotation):
        yield steps, annotation
        for name, field in annotation.model_fields.items():
            yield from spots(field.annotation, (*steps, ("key", field.alias or name)),
                             field.discriminator, depth + 1)
        return
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (Union, UnionType):
        for member in args:
            member, _ = _plain(member, None)
            if isinstance(disc, str) and _is_model(member):
                tag = typing.get_args(member.model_fields[disc].annotation)[0]
                yield from spots(member, (*steps, ("tag", disc, tag)), None, depth)
            else:
                yield from spots(member, steps, None, depth)
    elif origin in (list, tuple, set, frozenset) and args:
        yield from spots(args[0], (*steps, ("index",)), None, depth + 1)
    elif origin in (dict, Mapping) and args:
        yield from spots(args[-1], (*steps, ("entry",)), None, depth + 1)


def build(steps: tuple, leaf: dict) -> Any:
    """The data that reaches ``leaf`` through ``steps``."""
    value: Any = leaf
    for step in reversed(steps):
        if step[0] == "key":
            value = {step[1]: value}
        elif step[0] == "index":
            value = [value]
        elif step[0] == "entry":
            value = {"some-id": value}
        else:  # the key choosing a union's member
            value = {**value, step[1]: step[2]}
    return value


def misspelling(model: type[BaseModel]) -> tuple[str, str]:
    """One of ``model``'s keys and a misspelling of it that no other key is closer to."""
    keys = model.allowed_keys() if hasattr(model, "allowed_keys") else list(model.model_fields)
    key = max(keys, key=len)
    return key, key + key[-1]


def roots() -> list[tuple[str, type[BaseModel]]]:
    pm = build_plugin_manager()
    found = [("file", FileConfig)]
    found += [(f"section {name}", model) for name, model in config_sections(pm).items()]
    found += [(f"kind {kind.kind}", kind.probe_class.Config)
              for kind in ProbeRegistry.from_plugin_manager(pm)]
    return found


def _name(steps: tuple) -> str:
    words = {"index": "[0]", "entry": "*"}
    return ".".join(words.get(s[0]) or (f"{s[1]}={s[2]}" if s[0] == "tag" else s[1])
                    for s in steps)


# a check (extra keys allowed) hands its other keys to its kind's model: "kind ..." cases
CASES = [(f"{name}: {_name(steps)}", root, steps, model)
         for name, root in roots() for steps, model in spots(root)
         if model.model_config.get("extra") != "allow"]


@pytest.mark.parametrize("root, steps, model", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_a_misspelt_key_gets_did_you_mean_everywhere(tmp_path, root, steps, model):
    key, wrong = misspelling(model)
    data = build(steps, {wrong: 1})
    text = yaml.safe_dump(data, allow_unicode=True)
    source = ConfigSource(Path(tmp_path / "vigie.yaml"), text)
    with pytest.raises(ValidationError) as caught:
        root.model_validate(source.data)
    issues = [i for i in issues_from_validation(caught.value, source, root)
              if i.loc and i.loc[-1] == wrong]
    assert [i.message for i in issues] == [f"unknown key {wrong!r} (did you mean {key!r}?)"]
    line = text.splitlines()[issues[0].line - 1]
    assert line.lstrip(" -").startswith(f"{wrong}:"), (issues[0], text)
