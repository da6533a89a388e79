"""The ``probes`` section: keys given to every check of a probe kind (how to probe, said once).

``probes: {http: {fast_client: false}}`` is the documented way to turn the http probe's
fast path off for a whole file; here with a test kind, and once with the real http kind.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from monitor.config_loader import ConfigError, load_config
from monitor.plugins import ProbeRegistry, build_plugin_manager, hookimpl
from monitor.probe import Probe, ProbeConfig, ProbeResult


class KindConfig(ProbeConfig):
    """A kind with a required key and two optional ones."""

    url: str
    expect: int = 200
    lean: bool = True


class KindProbe(Probe):
    kind = "testkind"
    Config = KindConfig

    async def check(self, config, ctx):
        return ProbeResult.up()


class KindPlugin:
    @hookimpl
    def vigie_register_probes(self):
        return [KindProbe]


@pytest.fixture(scope="module")
def registry() -> ProbeRegistry:
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[("testkind", KindPlugin())])
    return ProbeRegistry.from_plugin_manager(pm)


def write(tmp_path: Path, probes: str) -> Path:
    path = tmp_path / "vigie.yaml"
    path.write_text(textwrap.dedent(probes) + textwrap.dedent("""\
        services:
          - id: web
            name: Web
            checks:
              - {id: a, kind: testkind, url: "http://127.0.0.1/a"}
              - {id: b, kind: testkind, url: "http://127.0.0.1/b", lean: true, expect: 204}
        """), encoding="utf-8")
    return path


def errors(path: Path, registry: ProbeRegistry) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, registry)
    return str(caught.value).replace(str(path), "{f}").splitlines()


def test_kind_keys_apply_to_every_check_that_does_not_set_its_own(registry, tmp_path):
    config = load_config(write(tmp_path, """\
        probes:
          testkind: {lean: false, expect: 302}
        """), registry)
    a, b = (check.options for check in config.checks)
    assert (a.lean, a.expect) == (False, 302)
    assert (b.lean, b.expect) == (True, 204)  # the check's own keys win


def test_without_the_section_the_kind_defaults_stay(registry, tmp_path):
    a, _ = (check.options for check in load_config(write(tmp_path, ""), registry).checks)
    assert (a.lean, a.expect) == (True, 200)


@pytest.mark.parametrize("probes, expected", [
    ("probes:\n  testknd: {lean: false}\n",
     ["{f}:2: probes.testknd: unknown probe kind 'testknd' (did you mean 'testkind'?)"]),
    ("probes:\n  testkind: {laen: false}\n",
     ["{f}:2: probes.testkind.laen: unknown key 'laen' (did you mean 'lean'?)"]),
    ("probes:\n  testkind:\n    expect: many\n",
     ["{f}:3: probes.testkind.expect: expected a whole number, got 'many'"]),
    ("probes:\n  testkind:\n    interval: 5m\n",
     ["{f}:3: probes.testkind.interval: 'interval' is a key of every check: set it under "
      "'defaults' (or on the check), not under 'probes'"]),
])
def test_a_bad_entry_is_reported_once_at_its_key(registry, tmp_path, probes, expected):
    found = errors(write(tmp_path, probes), registry)
    assert found == expected


def test_fast_client_false_turns_the_http_fast_path_off_for_every_check(tmp_path):
    registry = ProbeRegistry.from_plugin_manager(build_plugin_manager())
    path = tmp_path / "vigie.yaml"
    checks = "\n".join(f"      - {{id: c{i}, kind: http, url: 'http://127.0.0.1/{i}'}}"
                       for i in range(3))
    body = f"services:\n  - id: web\n    name: Web\n    checks:\n{checks}\n"
    path.write_text(body, encoding="utf-8")
    assert all(c.options.plan.target is not None for c in load_config(path, registry).checks)
    path.write_text("probes:\n  http: {fast_client: false}\n" + body, encoding="utf-8")
    assert all(c.options.plan.target is None for c in load_config(path, registry).checks)
