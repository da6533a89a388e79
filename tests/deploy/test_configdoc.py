"""The configuration reference is generated from the schema and must not drift."""

from __future__ import annotations

import re
import subprocess
import sys
import types
from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field, SecretStr

from monitor import configdoc
from monitor.config import FileConfig
from monitor.plugins import ProbeRegistry, build_plugin_manager, hookimpl
from monitor.schema import Duration, StrictModel

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "config-reference.md"
#: the core sections whose every key must carry a description (the ones the core owns;
#: sections added later by other features are documented by their authors)
DESCRIBED_CORE = ("site", "defaults", "scheduler", "store", "server", "plugins", "groups",
                  "services")


@pytest.fixture(scope="module")
def plugin_manager():
    return build_plugin_manager()


@pytest.fixture(scope="module")
def reference(plugin_manager) -> str:
    """The reference as the code renders it now."""
    return configdoc.render(pm=plugin_manager)


def test_committed_reference_is_up_to_date(reference):
    committed = REFERENCE.read_text(encoding="utf-8")
    assert committed == reference, (
        "docs/config-reference.md is stale: run "
        "`.venv/bin/python -m monitor.configdoc > docs/config-reference.md`")


def test_the_command_prints_the_reference(reference):
    out = subprocess.run([sys.executable, "-m", "monitor.configdoc"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout == reference


def test_every_section_key_and_kind_is_listed(reference, plugin_manager):
    pm, text = plugin_manager, reference
    for name in FileConfig.model_fields:
        # a section heading, or a row of the top-level keys table
        assert re.search(rf"^(### `{name}(\[\])?`|\| `{name}` \|)", text, re.M), name
    for section in ("`site`", "`services[]`", "`services[].checks[]`", "`deadman`"):
        assert f"### {section}\n" in text
    for kind in ProbeRegistry.from_plugin_manager(pm):
        assert f"### `kind: {kind.kind}`\n" in text
        for key in kind.probe_class.Config.model_fields:
            assert f"| `{key}`" in text
    assert "| `url` (or `url_file`) | secret | **required** |" in text


def test_core_keys_have_descriptions():
    missing = []
    for section in configdoc.core_sections():
        root = section.title.strip("`").split(".")[0].split("[")[0]
        if section.title == "Top-level keys" or root in DESCRIBED_CORE:
            missing += [f"{section.title} {k.key}" for k in section.keys if not k.description]
    assert missing == []


class Sample(StrictModel):
    """A model to render.

    Second paragraph, left out.
    """

    #: how often,
    #: on two lines
    every: Duration = 300.0
    mode: Literal["a", "b"] = "a"
    token: SecretStr
    #: ignored: Field(description=...) wins
    limit: int = Field(default=5, ge=1, le=10, description="from Field | wins")
    names: list[str] = []
    maybe: Duration | None = None


def test_rendering_of_types_defaults_and_descriptions():
    sections = list(configdoc.model_sections(Sample, "sample"))
    assert len(sections) == 1
    section = sections[0]
    assert section.intro == "A model to render."
    rows = {k.key: (k.type, k.default, k.description) for k in section.keys}
    assert rows == {
        "`every`": ("duration", "`5m`", "how often, on two lines"),
        "`mode`": ("one of `a`, `b`", "`a`", ""),
        "`token` (or `token_file`)": ("secret", "**required**", ""),
        "`limit`": ("integer (1–10)", "`5`", "from Field \\| wins"),
        "`names`": ("list of text", "`[]`", ""),
        "`maybe`": ("duration", "—", ""),
    }
    table = configdoc.render_section(section)
    assert table.splitlines()[0] == "## `sample`"
    assert "| `every` | duration | `5m` | how often, on two lines |" in table
    assert "| `mode` | one of `a`, `b` | `a` | — |" in table


class Inner(StrictModel):
    """Nested settings."""

    #: a flag
    flag: bool = False


class Outer(StrictModel):
    """Outer settings."""

    #: the nested block
    inner: Inner = Inner()
    items: list[Inner] = []


def test_nested_models_get_their_own_tables():
    titles = [s.title for s in configdoc.model_sections(Outer, "outer")]
    assert titles == ["`outer`", "`outer.inner`", "`outer.items[]`"]
    first = list(configdoc.model_sections(Outer, "outer"))[0]
    assert first.keys[0].description == "the nested block. See `outer.inner`."
    assert first.keys[0].default == "see below"


def test_only_own_plugins_unless_all():
    outside = types.ModuleType("outside_sections")

    class OutsideSettings(StrictModel):
        """Settings of an outside plugin."""

        #: a key
        colour: str = "blue"

    outside.vigie_register_config_sections = hookimpl(lambda: {"outside": OutsideSettings})
    pm = build_plugin_manager(extra_plugins=[("outside", outside)])
    assert "### `outside`" not in configdoc.render(pm=pm)
    everything = configdoc.render(all_plugins=True, pm=pm)
    assert "### `outside`\n\nFrom the `outside` plugin. Settings of an outside plugin.\n" \
        in everything
    assert "| `colour` | text | `blue` | a key |" in everything


class Alpha(StrictModel):
    """Alpha source."""

    type: Literal["alpha"]
    #: where
    url: str


class Beta(StrictModel):
    """Beta source."""

    type: Literal["beta"]
    path: str = ""


class Holder(StrictModel):
    """Sources and per-service settings."""

    sources: list[Alpha | Beta] = []
    per_service: dict[str, Inner] = {}


def test_unions_by_type_and_mappings_of_models():
    sections = list(configdoc.model_sections(Holder, "holder"))
    assert [s.title for s in sections] == [
        "`holder`", "`holder.sources[]` with `type: alpha`", "`holder.sources[]` with `type: beta`",
        "`holder.per_service.<key>`"]
    rows = {k.key: (k.type, k.description) for k in sections[0].keys}
    assert rows["`sources`"] == ("list of mapping chosen by `type`: `alpha`, `beta`",
                                 "See `holder.sources[]` (one table per `type`).")
    assert rows["`per_service`"][1] == "See `holder.per_service.<key>`."
    beta = {k.key: k.default for k in sections[2].keys}
    assert beta["`path`"] == '`""`'
