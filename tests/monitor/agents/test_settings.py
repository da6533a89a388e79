"""The ``agents:`` section: sizes with their unit, bounds refused at the key with the
file and line, defaults when absent."""

from __future__ import annotations

import pytest

from monitor.agents.settings import AgentSettings, settings_of
from monitor.config_loader import ConfigError, load_config
from monitor.plugins import ProbeRegistry, build_plugin_manager

SERVICES = """\
services:
  - id: mail
    name: Courriel
    checks: [{id: smtp, kind: tcp, host: 127.0.0.1, port: 9}]
"""


def _load(tmp_path, agents: str):
    path = tmp_path / "vigie.yaml"
    path.write_text(agents + SERVICES, encoding="utf-8")
    return load_config(path, ProbeRegistry.from_plugin_manager(build_plugin_manager()))


@pytest.mark.parametrize(("written", "size"), [
    ("1MiB", 1024 * 1024), ("512KiB", 512 * 1024), ("2MB", 2_000_000), ("65536", 65536),
    (" 1.5 MiB", 1_572_864)])
def test_a_size_is_written_with_its_unit(tmp_path, written, size):
    config = _load(tmp_path, f"agents:\n  max_batch_bytes: '{written}'\n")
    assert settings_of(config).max_batch_bytes == size


def test_absent_is_the_defaults(tmp_path):
    assert settings_of(_load(tmp_path, "")) == AgentSettings()
    assert AgentSettings().enabled is None  # served as soon as a remote location exists


@pytest.mark.parametrize(("agents", "message"), [
    ("agents:\n  max_batch_bytes: lots\n",
     "vigie.yaml:2: agents.max_batch_bytes: invalid size 'lots' (use e.g. 1MiB, 512KiB or "
     "a number of bytes)"),
    ("agents:\n  max_batch_bytes: 64MiB\n", "vigie.yaml:2: agents.max_batch_bytes:"),
    ("agents:\n  pushes_per_minute: 0\n", "vigie.yaml:2: agents.pushes_per_minute:"),
    ("agents:\n  max_batch: 10\n", "vigie.yaml:2: agents.max_batch:"),
])
def test_bad_values_are_refused_at_their_key(tmp_path, agents, message):
    with pytest.raises(ConfigError) as refused:
        _load(tmp_path, agents)
    assert message in str(refused.value)
