"""The ``server.limits`` and ``server.paths`` keys: defaults, and clear refusals."""

from __future__ import annotations

import textwrap

import pytest

from monitor.config import ListenerLimits, ServerSettings
from monitor.config_loader import ConfigError, load_config
from monitor.plugins import ProbeRegistry, build_plugin_manager
from monitor.runtime import descriptor_reserve


@pytest.fixture(scope="module")
def registry():
    return ProbeRegistry.from_plugin_manager(build_plugin_manager())


def load(tmp_path, registry, text: str):
    path = tmp_path / "vigie.yaml"
    path.write_text(textwrap.dedent(text))
    return load_config(path, registry)


def test_defaults_bound_every_client(tmp_path, registry):
    server = load(tmp_path, registry, "services: []\n").file.server
    limits = server.limits
    assert (limits.head_timeout, limits.body_timeout, limits.keepalive_timeout) == (10, 30, 15)
    assert (limits.max_connections, limits.max_connections_per_address) == (1024, 64)
    assert (limits.max_body, limits.body_memory) == (64 * 1024, 32 * 1024 * 1024)
    # the admin area takes its forms and API bodies, on threads of its own
    assert server.paths["/admin"].max_body == 1024 * 1024 and server.paths["/admin"].threads == 4


def test_the_descriptor_reserve_follows_the_checks_running_at_once(tmp_path, registry):
    config = load(tmp_path, registry, "scheduler: {concurrency: 500}\nservices: []\n")
    assert descriptor_reserve(config) == 564
    config = load(tmp_path, registry, "server: {limits: {descriptor_reserve: 0}}\n")
    assert descriptor_reserve(config) == 0


def test_durations_and_prefixes_are_written_as_elsewhere(tmp_path, registry):
    server = load(tmp_path, registry, """\
        server:
          limits: {head_timeout: 2s, keepalive_timeout: 1m, max_body: 1000}
          paths:
            /admin/: {max_body: 2000}
            /push: {threads: 2}
    """).file.server
    assert server.limits.head_timeout == 2 and server.limits.keepalive_timeout == 60
    assert set(server.paths) == {"/admin", "/push"}  # normalised, the default replaced
    assert server.paths["/push"].max_body is None


@pytest.mark.parametrize(("text", "error"), [
    ("server: {paths: {admin: {max_body: 10}}}\n",
     "vigie.yaml:1: server.paths: a path prefix starts with / (e.g. /admin), got 'admin'"),
    ("server:\n  limits: {max_body: 2048, body_memory: 1024}\n  paths: {}\n",
     "vigie.yaml:1: server: limits.body_memory (1024 bytes) is smaller than limits.max_body "
     "(2048 bytes): such a body could never be read; raise limits.body_memory"),
    ("server: {limits: {body_memory: 100000}}\n",
     "vigie.yaml:1: server: limits.body_memory (100000 bytes) is smaller than "
     "paths./admin.max_body (1048576 bytes): such a body could never be read; raise "
     "limits.body_memory"),
    ("server: {limits: {head_timout: 5s}}\n",
     "vigie.yaml:1: server.limits.head_timout: unknown key 'head_timout' (did you mean "
     "'head_timeout'?)"),
    ("server: {limits: {max_connections: 0}}\n",
     "vigie.yaml:1: server.limits.max_connections: must be at least 1, got 0"),
    ("server: {paths: {/admin: {threads: 0}}}\n",
     "vigie.yaml:1: server.paths./admin.threads: must be at least 1, got 0"),
])
def test_bad_limits_are_refused_with_file_line_and_key(tmp_path, registry, text, error):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, registry, text)
    assert str(caught.value).replace(str(tmp_path) + "/", "") == error


def test_the_models_can_be_built_in_code():
    assert ServerSettings().limits == ListenerLimits()


def test_the_engine_is_vigie_unless_waitress_is_asked(tmp_path, registry):
    assert load(tmp_path, registry, "services: []\n").file.server.engine == "vigie"
    server = load(tmp_path, registry, "server: {engine: waitress}\n").file.server
    assert server.listener_options()["engine"] == "waitress"
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, registry, "server: {engine: gunicorn}\n")
    assert "server.engine" in str(caught.value) and "waitress" in str(caught.value)
