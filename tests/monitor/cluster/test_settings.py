"""The ``cluster:`` section: its defaults, its checks at load (node name, lease against
heartbeats) and the refusal of cluster mode on SQLite, in one line at its key."""

from __future__ import annotations

import socket
import textwrap

import pytest

from monitor.cluster.settings import (
    NEEDS_POSTGRESQL,
    ClusterSettings,
    default_node_name,
    settings_of,
)
from monitor.config_loader import ConfigError, load_config
from monitor.plugins import ProbeKind, ProbeRegistry
from monitor.probe import Probe, ProbeResult

PG = "postgresql://vigie@db.example.coop/vigie"


class NoopProbe(Probe):
    """A probe kind for building configurations; never run here."""

    kind = "noop"

    async def check(self, config, ctx):
        return ProbeResult.up()


def load(tmp_path, text: str):
    registry = ProbeRegistry({"noop": ProbeKind("noop", NoopProbe, NoopProbe(), "test")})
    path = tmp_path / "vigie.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_config(path, registry)


def problems(tmp_path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return str(caught.value).splitlines()


def test_the_defaults():
    settings = ClusterSettings()
    assert (settings.enabled, settings.heartbeat, settings.dead_after, settings.lease) == (
        False, 5.0, 3, 15.0)
    assert settings.detection == 15.0
    assert settings.node == default_node_name()


def test_an_absent_section_is_its_defaults(tmp_path):
    config = load(tmp_path, "services: []\n")
    assert settings_of(config) == ClusterSettings(node=settings_of(config).node)
    assert settings_of(config).enabled is False


def test_the_section_is_read(tmp_path):
    config = load(tmp_path, f"""\
        store: {{url: "{PG}"}}
        cluster: {{enabled: true, node: web-2.example.coop, heartbeat: 2s, dead_after: 4,
                   lease: 10s}}
        """)
    settings = settings_of(config)
    assert (settings.enabled, settings.node, settings.heartbeat, settings.dead_after,
            settings.lease, settings.detection) == (True, "web-2.example.coop", 2.0, 4, 10.0,
                                                    8.0)


@pytest.mark.parametrize("host, expected", [
    ("vigie-1", "vigie-1"),
    ("web 1.example.org", "web-1.example.org"),
    ("-_.x", "x"),
    ("a" * 80, "a" * 63),
    ("", "vigie"),
    ("---", "vigie"),
    ("nœud", "n-ud"),
])
def test_the_host_name_is_made_a_node_name(host, expected):
    assert default_node_name(host) == expected


def test_the_default_is_this_machine_s_host_name():
    assert default_node_name() == default_node_name(socket.gethostname())


@pytest.mark.parametrize("name", ["two words", "-leading", "a" * 64, "é", ""])
def test_a_bad_node_name_is_refused_at_its_key(tmp_path, name):
    found = problems(tmp_path, f"""\
        store: {{url: "{PG}"}}
        cluster:
          enabled: true
          node: "{name}"
        """)
    assert len(found) == 1
    assert found[0].startswith(f"{tmp_path / 'vigie.yaml'}:4: cluster.node: invalid node name")
    assert "letters, digits, '-', '_' and '.'" in found[0]


@pytest.mark.parametrize("lease", ["10s", "4s"])
def test_a_lease_of_two_heartbeats_or_less_is_refused(tmp_path, lease):
    found = problems(tmp_path, f"""\
        store: {{url: "{PG}"}}
        cluster:
          heartbeat: 5s
          lease: {lease}
        """)
    assert found == [f"{tmp_path / 'vigie.yaml'}:4: cluster.lease: the lease ({lease[:-1]}s) "
                     "must be longer than two heartbeats (2 × 5s): a leader renews it at "
                     "each heartbeat, and one late heartbeat must not cost the lease"]


def test_a_lease_just_over_two_heartbeats_is_accepted(tmp_path):
    config = load(tmp_path, "cluster: {heartbeat: 5s, lease: 10.5s}\n")
    assert settings_of(config).lease == 10.5


@pytest.mark.parametrize("key, value", [("heartbeat", "0s"), ("heartbeat", "1h"),
                                        ("dead_after", "1"), ("lease", "2h")])
def test_out_of_range_values_are_refused(tmp_path, key, value):
    found = problems(tmp_path, f"cluster:\n  {key}: {value}\n")
    assert len(found) == 1 and f":2: cluster.{key}: " in found[0]


@pytest.mark.parametrize("store", ["", "store: {url: 'sqlite:////var/lib/vigie/v.sqlite'}\n"])
def test_cluster_mode_on_sqlite_is_refused_in_one_line_at_its_key(tmp_path, store):
    found = problems(tmp_path, store + "cluster:\n  node: a\n  enabled: true\n")
    line = 4 if store else 3
    assert found == [f"{tmp_path / 'vigie.yaml'}:{line}: cluster.enabled: {NEEDS_POSTGRESQL}"]


def test_the_refusal_comes_with_the_file_s_other_problems(tmp_path):
    found = problems(tmp_path, """\
        defaults: {interval: often}
        cluster: {enabled: true}
        """)
    assert [line.split(": ")[1] for line in found] == ["defaults.interval", "cluster.enabled"]


def test_cluster_mode_on_postgresql_and_sqlite_without_it_are_accepted(tmp_path):
    assert settings_of(load(tmp_path, f"store: {{url: '{PG}'}}\ncluster: {{enabled: true}}\n")
                       ).enabled
    assert not settings_of(load(tmp_path, "cluster: {enabled: false, node: x}\n")).enabled


def test_an_invalid_store_is_said_by_its_own_error_only(tmp_path):
    found = problems(tmp_path, "store: {url: 'mysql://db/vigie'}\ncluster: {enabled: true}\n")
    assert len(found) == 1 and ": store.url: " in found[0]


def test_a_store_url_from_the_environment_counts(tmp_path, monkeypatch):
    monkeypatch.setenv("VIGIE_TEST_DB", PG)
    config = load(tmp_path, "store: {url: '${VIGIE_TEST_DB}'}\ncluster: {enabled: true}\n")
    assert settings_of(config).enabled
    monkeypatch.setenv("VIGIE_TEST_DB", "sqlite:///x.sqlite")
    found = problems(tmp_path, "store: {url: '${VIGIE_TEST_DB}'}\ncluster: {enabled: true}\n")
    assert found == [f"{tmp_path / 'vigie.yaml'}:2: cluster.enabled: {NEEDS_POSTGRESQL}"]
