"""Tests of the configuration file: a table of invalid files with the exact error each gives,
and the valid forms (defaults, overrides, ``${ENV}``, ``*_file`` secrets)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import SecretStr

from monitor.config_loader import ConfigError, load_config
from monitor.plugins import ProbeRegistry, build_plugin_manager, hookimpl
from monitor.probe import Probe, ProbeConfig, ProbeResult

CASES = Path(__file__).parent / "config_cases"


class SampleProbeConfig(ProbeConfig):
    """Kind-specific keys of the test probe: one required, one typed, one secret."""

    url: str
    expect: int = 200
    password: SecretStr | None = None


class SampleProbe(Probe):
    """A probe kind that exists only for these tests."""

    kind = "testprobe"
    Config = SampleProbeConfig

    async def check(self, config, ctx):
        return ProbeResult.up()


class SampleProbePlugin:
    @hookimpl
    def vigie_register_probes(self):
        return [SampleProbe]


@pytest.fixture(scope="module")
def registry() -> ProbeRegistry:
    pm = build_plugin_manager(load_entry_points=False,
                              extra_plugins=[("testprobe", SampleProbePlugin())])
    return ProbeRegistry.from_plugin_manager(pm)


@pytest.fixture(autouse=True)
def unset_test_variables(monkeypatch):
    for name in ("VIGIE_TEST_UNSET_PASSWORD", "VIGIE_TEST_UNSET_INTERVAL",
                 "VIGIE_TEST_UNSET_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)


# file in config_cases/ -> every line of the error, "{f}" standing for the file's path
INVALID = [
    ("unknown_top_level_key.yaml",
     "{f}:3: sevices: unknown key 'sevices' (did you mean 'services'?)"),
    ("unknown_check_key.yaml",
     "{f}:8: services[0].checks[0].intervall: unknown key 'intervall' (did you mean 'interval'?)"),
    ("unknown_option_key.yaml",
     "{f}:8: services[0].checks[0].expected: unknown key 'expected' (did you mean 'expect'?)"),
    ("wrong_type.yaml",
     "{f}:2: scheduler.concurrency: expected a whole number, got 'many'"),
    ("wrong_option_type.yaml",
     "{f}:8: services[0].checks[0].expect: expected a whole number, got [200, 301]"),
    ("missing_required_key.yaml",
     "{f}:2: services[0].name: required key is missing"),
    ("missing_option_key.yaml",
     "{f}:5: services[0].checks[0].url: required key is missing"),
    ("bad_duration.yaml",
     "{f}:2: defaults.interval: invalid duration '5 minutes' (use e.g. 30s, 5m, 1h)"),
    ("zero_duration.yaml",
     "{f}:2: defaults.timeout: duration must be positive, got '0s'"),
    ("negative_duration.yaml",
     "{f}:8: services[0].checks[0].retry_interval: duration must be positive, got -30"),
    ("confirm_zero.yaml",
     "{f}:2: defaults.confirm: must be at least 1, got 0"),
    ("unknown_probe_kind.yaml",
     "{f}:6: services[0].checks[0].kind: unknown probe kind 'htp' (known: testprobe)"),
    ("misspelt_probe_kind.yaml",
     "{f}:5: services[0].checks[0].kind: unknown probe kind 'testprobes' "
     "(did you mean 'testprobe'?)"),
    ("unknown_group.yaml",
     "{f}:6: services[0].group: unknown group 'hostting' (did you mean 'hosting'?)"),
    ("duplicate_group_id.yaml",
     "{f}:4: groups[2].id: group id 'hosting' is already used by groups[0] (line 2); "
     "ids must be unique"),
    ("duplicate_service_id.yaml",
     "{f}:6: services[1].id: service id 'web' is already used by services[0] (line 2); "
     "ids must be unique"),
    ("duplicate_check_id.yaml",
     "{f}:6: services[0].checks[1].id: check id 'home' is already used by "
     "services[0].checks[0] (line 5); ids must be unique"),
    ("duplicate_yaml_key.yaml",
     "{f}:8: services[0].checks[0].url: duplicate key 'url' (first given on line 7; "
     "only one value is allowed)"),
    ("invalid_yaml.yaml",
     "{f}:7: invalid YAML: found unexpected end of stream "
     "(a quoted value is not closed: add the missing quote)"),
    ("not_a_mapping.yaml",
     "{f}:1: the file must be a mapping of sections"),
    ("missing_env_variable.yaml",
     "{f}:8: services[0].checks[0].password: environment variable "
     "VIGIE_TEST_UNSET_PASSWORD is not set"),
    ("invalid_id.yaml",
     "{f}:2: services[0].id: invalid id 'Web Hosting': use lower-case letters, digits, "
     "'-' and '_', starting with a letter or digit"),
    ("bad_listen.yaml",
     "{f}:2: server.listen: expected host:port, e.g. 127.0.0.1:8080, got 'localhost'"),
    ("unknown_timezone.yaml",
     "{f}:2: site.timezone: unknown time zone 'Europe/Pariss' (e.g. Europe/Paris)"),
    ("missing_password_file.yaml",
     "{f}:8: services[0].checks[0].password_file: cannot read "
     "/nonexistent/vigie-test/db-password: No such file or directory"),
    ("password_and_password_file.yaml",
     "{f}:9: services[0].checks[0].password_file: give either 'password' or "
     "'password_file', not both"),
    ("empty_checks.yaml",
     "{f}:4: services[0].checks: a service needs at least one check"),
    ("secret_wrong_type.yaml",
     "{f}:8: services[0].checks[0].password: expected a text (value hidden: it may be a secret)"),
    # several problems of different stages come out together, in line order
    ("several_errors.yaml",
     "{f}:2: defaults.interval: invalid duration 'often' (use e.g. 30s, 5m, 1h)\n"
     "{f}:6: services[0].group: unknown group 'nowhere' (no group is defined under 'groups')\n"
     "{f}:9: services[0].checks[0].kind: unknown probe kind 'nope' (known: testprobe)\n"
     "{f}:13: services[0].checks[1].timeout: invalid duration '1 hour' (use e.g. 30s, 5m, 1h)"),
    # a check's common keys and its kind's own keys are checked in the same run
    ("misspelt_key_and_bad_duration.yaml",
     "{f}:8: services[0].checks[0].expected: unknown key 'expected' (did you mean 'expect'?)\n"
     "{f}:9: services[0].checks[0].interval: invalid duration '5 minutes' "
     "(use e.g. 30s, 5m, 1h)"),
    # maintenance windows' references, each at its key, whatever else is wrong
    ("maintenance_references.yaml",
     "{f}:2: defaults.interval: invalid duration 'often' (use e.g. 30s, 5m, 1h)\n"
     "{f}:16: maintenance[0].services[1]: unknown service 'wbe' (did you mean 'web'?)\n"
     "{f}:19: maintenance[1].id: maintenance id 'upgrade' is already used by "
     "maintenance[0] (line 14); ids must be unique\n"
     "{f}:21: maintenance[1].group: unknown group 'hostin' (did you mean 'hosting'?)"),
    # an unset variable or a duplicate key is reported once, not again as a bad value
    ("unset_variable_no_echo.yaml",
     "{f}:2: defaults.interval: environment variable VIGIE_TEST_UNSET_INTERVAL is not set\n"
     "{f}:11: services[0].checks[0].url: duplicate key 'url' (first given on line 10; "
     "only one value is allowed)\n"
     "{f}:12: services[0].checks[0].expect: expected a whole number, got '2OO'"),
]


@pytest.mark.parametrize("name, expected", INVALID,
                         ids=[n.removesuffix(".yaml") for n, _ in INVALID])
def test_invalid_file_gives_exact_error(registry, name, expected):
    path = CASES / name
    with pytest.raises(ConfigError) as caught:
        load_config(path, registry)
    assert str(caught.value) == expected.format(f=path)


def test_every_case_file_is_in_the_table():
    assert sorted(p.name for p in CASES.glob("*.yaml")) == sorted(n for n, _ in INVALID)


def test_secret_value_of_wrong_type_is_not_repeated(registry):
    with pytest.raises(ConfigError) as caught:
        load_config(CASES / "secret_wrong_type.yaml", registry)
    assert "918273645" not in str(caught.value)


def test_unreadable_file(registry, tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(missing, registry)
    assert str(caught.value) == f"{missing}: cannot read file: No such file or directory"


# Valid files -----------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vigie.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_defaults_are_applied(registry, tmp_path):
    config = load_config(write(tmp_path, """\
        services:
          - id: web
            name: Hébergement web
            checks:
              - {id: home, kind: testprobe, url: "http://127.0.0.1/"}
        """), registry)
    (check,) = config.checks
    assert (check.interval, check.timeout, check.confirm, check.retry_interval) == (
        300.0, 10.0, 2, 30.0)
    assert check.options == SampleProbeConfig(url="http://127.0.0.1/")
    assert check.options.expect == 200 and check.enabled
    assert check.name.fr == "home" and check.key == "web/home"
    assert config.file.site.timezone == "Europe/Paris"
    assert config.file.server.listen == "127.0.0.1:8080"


def test_defaults_section_and_per_check_overrides(registry, tmp_path):
    config = load_config(write(tmp_path, """\
        defaults:
          interval: 2m
          confirm: 3
        groups:
          - {id: hosting, name: {fr: Hébergement, en: Hosting}}
        services:
          - id: web
            name: Hébergement web
            group: hosting
            checks:
              - id: home
                kind: testprobe
                url: http://127.0.0.1/
              - id: panel
                kind: testprobe
                url: http://127.0.0.1/panel
                interval: 1h30m
                timeout: 2.5
                confirm: 1
                retry_interval: 10s
                expect: 302
                enabled: false
        """), registry)
    home, panel = config.checks
    assert (home.interval, home.timeout, home.confirm, home.retry_interval) == (
        120.0, 10.0, 3, 30.0)
    assert (panel.interval, panel.timeout, panel.confirm, panel.retry_interval) == (
        5400.0, 2.5, 1, 10.0)
    assert panel.options.expect == 302 and not panel.enabled
    assert config.services[0].group == "hosting"


def test_environment_variables_are_interpolated(registry, tmp_path, monkeypatch):
    monkeypatch.setenv("VIGIE_TEST_HOST", "127.0.0.1:8081")
    monkeypatch.setenv("VIGIE_TEST_DB_PASSWORD", "from-the-environment")
    monkeypatch.delenv("VIGIE_TEST_NOT_SET", raising=False)
    config = load_config(write(tmp_path, """\
        server:
          listen: ${VIGIE_TEST_HOST}
        services:
          - id: db
            name: Bases
            checks:
              - id: main
                kind: testprobe
                url: http://${VIGIE_TEST_HOST}/${VIGIE_TEST_NOT_SET:-status}
                password: ${VIGIE_TEST_DB_PASSWORD}
                interval: ${VIGIE_TEST_NOT_SET:-45s}
        """), registry)
    (check,) = config.checks
    assert config.file.server.port == 8081
    assert check.options.url == "http://127.0.0.1:8081/status"
    assert check.options.password.get_secret_value() == "from-the-environment"
    assert check.interval == 45.0


def test_secret_files_are_read_and_never_printed(registry, tmp_path):
    secret = tmp_path / "db-password"
    secret.write_text("s3cr3t-from-file\n", encoding="utf-8")
    config = load_config(write(tmp_path, f"""\
        services:
          - id: db
            name: Bases
            checks:
              - id: main
                kind: testprobe
                url: http://127.0.0.1/
                password_file: {secret}
        """), registry)
    (check,) = config.checks
    assert check.options.password.get_secret_value() == "s3cr3t-from-file"
    for text in (repr(check.options), str(check.options), repr(check), repr(config),
                 check.options.model_dump_json()):
        assert "s3cr3t" not in text
