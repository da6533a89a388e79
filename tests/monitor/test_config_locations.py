"""The ``locations`` section and a check's ``locations``, ``quorum`` and ``agent_secrets``:
each invalid file with the exact error it gives (file, line, key), the defaults, and a
file without ``locations`` resolved as it always was."""

from __future__ import annotations

import textwrap

import pytest

from monitor.config_loader import ConfigError, load_config
from monitor.locations.book import located, runs_here
from tests.monitor.test_config import registry  # noqa: F401 (fixture)

SECTION = """\
locations:
  self: {name: paris, label: {fr: "Paris (serveur)", en: "Paris (server)"}}
  remote:
    - {name: lyon, label: Lyon}
    - {name: maison-alice, label: "Chez Alice"}
"""


def write(tmp_path, checks: str, section: str = SECTION):
    path = tmp_path / "vigie.yaml"
    path.write_text(section + textwrap.dedent("""\
        services:
          - id: web
            name: Web
            checks:
        """) + textwrap.indent(textwrap.dedent(checks), "      "), encoding="utf-8")
    return path


# (the checks of service "web", written from line 10; the locations section) -> the error
INVALID = [
    ("- {id: home, kind: testprobe, url: 'http://127.0.0.1/', locations: [paris, lyom]}\n",
     SECTION,
     "{f}:10: services[0].checks[0].locations[1]: unknown location 'lyom' "
     "(did you mean 'lyon'?)"),
    ("- {id: home, kind: testprobe, url: 'http://127.0.0.1/', locations: [nice]}\n",
     SECTION,
     "{f}:10: services[0].checks[0].locations[0]: unknown location 'nice' "
     "(known: lyon, maison-alice, paris)"),
    ("- {id: home, kind: testprobe, url: 'http://127.0.0.1/', locations: [lyon, paris, lyon]}\n",
     SECTION,
     "{f}:10: services[0].checks[0].locations[2]: location 'lyon' is listed twice (first at "
     "services[0].checks[0].locations[0])"),
    ("- {id: home, kind: testprobe, url: 'http://127.0.0.1/', locations: []}\n", SECTION,
     "{f}:10: services[0].checks[0].locations: list at least one location, or leave the key "
     "out (the check then runs on the server alone)"),
    ("- {id: home, kind: testprobe, url: 'http://127.0.0.1/', locations: [paris, lyon],\n"
     "   quorum: 3}\n", SECTION,
     "{f}:11: services[0].checks[0].quorum: quorum must be between 1 and 2 (the check runs "
     "from 2 locations), got 3"),
    ("- {id: home, kind: testprobe, url: 'http://127.0.0.1/', locations: [paris, lyon],\n"
     "   quorum: 0}\n", SECTION,
     "{f}:11: services[0].checks[0].quorum: quorum must be between 1 and 2 (the check runs "
     "from 2 locations), got 0"),
    ("- {id: home, kind: testprobe, url: 'http://127.0.0.1/', quorum: 2}\n", SECTION,
     "{f}:10: services[0].checks[0].quorum: quorum must be 1 (the check runs from one "
     "location), got 2"),
    ("- {id: home, kind: testprobe, url: 'http://127.0.0.1/', quorum: two}\n", SECTION,
     "{f}:10: services[0].checks[0].quorum: expected a whole number, got 'two'"),
    ("- {id: home, kind: testprobe, url: 'http://127.0.0.1/'}\n",
     SECTION + "    - {name: lyon}\n",
     "{f}:6: locations.remote[2].name: location 'lyon' is already used by "
     "locations.remote[0] (line 4); location names must be unique"),
    ("- {id: home, kind: testprobe, url: 'http://127.0.0.1/'}\n",
     SECTION + "    - {name: paris}\n",
     "{f}:6: locations.remote[2].name: location 'paris' is already used by locations.self "
     "(line 2); location names must be unique"),
    ("- {id: home, kind: testprobe, url: 'http://127.0.0.1/'}\n",
     SECTION + "    - {name: Nice Côte}\n",
     "{f}:6: locations.remote[2].name: invalid id 'Nice Côte': use lower-case letters, "
     "digits, '-' and '_', starting with a letter or digit"),
    ("- {id: home, kind: testprobe, url: 'http://127.0.0.1/'}\n",
     SECTION + "  silent_after: soon\n",
     "{f}:6: locations.silent_after: invalid duration 'soon' (use e.g. 30s, 5m, 1h)"),
]


@pytest.mark.parametrize("checks, section, expected", INVALID,
                         ids=[e.split(": ", 2)[1] + f"-{i}" for i, (_, _, e) in
                              enumerate(INVALID)])
def test_invalid_locations_give_exact_error(registry, tmp_path, checks,
                                            section, expected):
    path = write(tmp_path, checks, section)
    with pytest.raises(ConfigError) as caught:
        load_config(path, registry)
    assert str(caught.value) == expected.format(f=path)


def test_location_problems_are_said_whatever_else_is_wrong(registry, tmp_path):
    path = write(tmp_path, """\
        - {id: home, kind: testprobe, url: 'http://127.0.0.1/', interval: often,
           locations: [lyom]}
        """)
    with pytest.raises(ConfigError) as caught:
        load_config(path, registry)
    assert str(caught.value).splitlines() == [
        f"{path}:10: services[0].checks[0].interval: invalid duration 'often' "
        "(use e.g. 30s, 5m, 1h)",
        f"{path}:11: services[0].checks[0].locations[0]: unknown location 'lyom' "
        "(did you mean 'lyon'?)"]


def test_locations_quorum_and_secrets_resolved(registry, tmp_path):
    path = write(tmp_path, """\
        - {id: a, kind: testprobe, url: 'http://127.0.0.1/'}
        - {id: b, kind: testprobe, url: 'http://127.0.0.1/', locations: [paris, lyon]}
        - {id: c, kind: testprobe, url: 'http://127.0.0.1/', agent_secrets: true,
           locations: [paris, lyon, maison-alice]}
        - {id: d, kind: testprobe, url: 'http://127.0.0.1/', locations: [lyon, maison-alice],
           quorum: 1}
        - {id: e, kind: testprobe, url: 'http://127.0.0.1/', locations: [paris]}
        """)
    config = load_config(path, registry)
    a, b, c, d, e = config.checks
    assert (a.locations, a.quorum, a.agent_secrets) == (("paris",), 1, False)
    assert (b.locations, b.quorum) == (("paris", "lyon"), 2)
    assert (c.locations, c.quorum, c.agent_secrets) == (("paris", "lyon", "maison-alice"), 2,
                                                         True)
    assert (d.locations, d.quorum) == (("lyon", "maison-alice"), 1)
    assert [located(x, "paris") for x in (a, b, c, d, e)] == [False, True, True, True, False]
    assert [runs_here(x, "paris") for x in (a, b, c, d, e)] == [True, True, True, False, True]
    settings = config.file.locations
    assert settings.names() == ["paris", "lyon", "maison-alice"]
    assert settings.label("maison-alice").say("en") == "Chez Alice"
    assert settings.silent_after == 600.0


def test_a_file_without_locations_runs_every_check_on_the_server_alone(
        registry, tmp_path):
    path = write(tmp_path, """\
        - {id: a, kind: testprobe, url: 'http://127.0.0.1/'}
        - {id: b, kind: testprobe, url: 'http://127.0.0.1/', enabled: false}
        """, section="")
    config = load_config(path, registry)
    settings = config.file.locations
    assert settings.names() == ["local"] and settings.label("local").say("fr") == \
        "Serveur Vigie"
    for check in config.checks:
        assert (check.locations, check.quorum, check.agent_secrets) == (("local",), 1, False)
        assert not located(check, "local") and runs_here(check, "local")
    # one tuple shared by every check (memory with 100,000 checks)
    assert config.checks[0].locations is config.checks[1].locations


def test_a_push_check_at_a_remote_location_is_refused_at_the_location(tmp_path):
    """The ``heartbeat`` kind's results are the beats jobs send to the server itself
    (``Probe.runs_on_agents`` False): no agent can run it, so listing a remote location
    is refused at that location's key; the server's own location is fine."""
    from monitor.plugins import ProbeRegistry, build_plugin_manager

    registry = ProbeRegistry.from_plugin_manager(build_plugin_manager())
    token = "a-secret-token-of-32-characters"
    path = write(tmp_path, f"""\
        - {{id: backup, kind: heartbeat, token: '{token}', expected_every: 1h,
           locations: [paris, lyon]}}
        - {{id: cron, kind: heartbeat, token: '{token}x', expected_every: 1h, locations: [paris]}}
        """)
    with pytest.raises(ConfigError) as caught:
        load_config(path, registry)
    assert str(caught.value) == (
        f"{path}:11: services[0].checks[0].locations[1]: a 'heartbeat' check cannot run at "
        "the remote location 'lyon': its results reach the server itself, no agent can run "
        "it; list only the server's own location, or leave the key out")
    assert registry.get("http").probe_class.runs_on_agents


def test_assignments_of_a_configuration(registry, tmp_path):
    """What the agents' server asks of the locations comes from the file: each remote
    location's enabled checks in file order, the checks sharing their secrets; the same
    object while the configuration is the same (the catalogs stay cached)."""
    from monitor.agents.assignments import assignments_of

    path = write(tmp_path, """\
        - {id: a, kind: testprobe, url: 'http://127.0.0.1/'}
        - {id: b, kind: testprobe, url: 'http://127.0.0.1/', locations: [paris, lyon]}
        - {id: c, kind: testprobe, url: 'http://127.0.0.1/', agent_secrets: true,
           locations: [paris, lyon, maison-alice]}
        - {id: d, kind: testprobe, url: 'http://127.0.0.1/', locations: [maison-alice, lyon],
           quorum: 1}
        - {id: e, kind: testprobe, url: 'http://127.0.0.1/', locations: [lyon],
           enabled: false}
        """)
    config = load_config(path, registry)
    found = assignments_of(config)
    assert set(found.remote_locations()) == {"lyon", "maison-alice"}
    assert [c.key for c in found.checks_for("lyon")] == ["web/b", "web/c", "web/d"]
    assert [c.key for c in found.checks_for("maison-alice")] == ["web/c", "web/d"]
    assert list(found.checks_for("paris")) == [] and list(found.checks_for("nice")) == []
    assert [found.shares_secrets(k) for k in ("web/a", "web/b", "web/c")] == [
        False, False, True]
    assert assignments_of(config) is found
    assert found.checks_for("lyon") is found.checks_for("lyon")
    assert assignments_of(load_config(path, registry)) is not found
