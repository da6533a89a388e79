"""Errors inside plugin sections shaped like the real ones: a discriminated union (one of
several desk types chosen by ``type``), alone, in a list and under a mapping of models.

Each problem gets the same ``file:line: key: message`` line as anywhere else, at the line
of the key itself, with a "did you mean" for a misspelt key or type, never pydantic's own
English sentence about tags."""

from __future__ import annotations

import textwrap
from typing import Annotated, Literal

import pytest
from pydantic import Field

from monitor.config_loader import ConfigError, load_config
from monitor.plugins import ProbeRegistry, build_plugin_manager
from monitor.schema import StrictModel


class AlphaDesk(StrictModel):
    """A desk of type ``alpha``."""

    type: Literal["alpha"]
    url: str
    group: str = "Users"


class BetaDesk(StrictModel):
    """A desk of type ``beta``."""

    type: Literal["beta"]
    address: str


Desk = Annotated[AlphaDesk | BetaDesk, Field(discriminator="type")]


class Watch(StrictModel):
    """Per-service settings, under a mapping keyed by service id."""

    tags: list[str] = []
    keywords: str = ""


class DeskSection(StrictModel):
    """The test plugin's section."""

    desk: Desk
    more: list[Desk] = []
    services: dict[str, Watch] = {}


SECTIONS = {"desks": DeskSection}


@pytest.fixture(scope="module")
def registry() -> ProbeRegistry:
    return ProbeRegistry.from_plugin_manager(build_plugin_manager(load_entry_points=False))


def problems(registry, tmp_path, text: str) -> list[str]:
    path = tmp_path / "vigie.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, registry, SECTIONS)
    prefix = f"{path}:"
    lines = str(caught.value).splitlines()
    assert all(line.startswith(prefix) for line in lines), lines
    return [line.removeprefix(prefix) for line in lines]


def test_misspelt_type_is_named_at_its_line_with_a_suggestion(registry, tmp_path):
    assert problems(registry, tmp_path, """\
        desks:
          desk:
            type: alhpa
            url: https://desk.example.coop
        """) == ["3: desks.desk.type: unknown type 'alhpa' (did you mean 'alpha'?)"]


def test_unknown_type_lists_the_known_ones(registry, tmp_path):
    assert problems(registry, tmp_path, """\
        desks:
          desk:
            type: zzz
        """) == ["3: desks.desk.type: unknown type 'zzz' (known: alpha, beta)"]


def test_missing_type_says_which_key_and_the_choices(registry, tmp_path):
    assert problems(registry, tmp_path, """\
        desks:
          desk:
            url: https://desk.example.coop
        """) == ["2: desks.desk.type: required key is missing (one of: alpha, beta)"]


def test_a_member_s_keys_are_checked_with_its_own_model(registry, tmp_path):
    assert problems(registry, tmp_path, """\
        desks:
          desk:
            type: alpha
            url: https://desk.example.coop
            grup: Support
          more:
            - type: beta
            - type: beta
              adress: desk@example.coop
        """) == [
        "5: desks.desk.grup: unknown key 'grup' (did you mean 'group'?)",
        "7: desks.more[0].address: required key is missing",
        # (its address is not said missing again: the misspelling explains it)
        "9: desks.more[1].adress: unknown key 'adress' (did you mean 'address'?)",
    ]


def test_models_under_a_mapping_suggest_their_keys(registry, tmp_path):
    assert problems(registry, tmp_path, """\
        desks:
          desk: {type: beta, address: desk@example.coop}
          services:
            web:
              tagz: [hosting]
        """) == ["5: desks.services.web.tagz: unknown key 'tagz' (did you mean 'tags'?)"]


def test_a_desk_that_is_not_a_mapping(registry, tmp_path):
    assert problems(registry, tmp_path, """\
        desks:
          desk: alpha
        """) == ["2: desks.desk: expected a mapping (key: value), got 'alpha'"]
