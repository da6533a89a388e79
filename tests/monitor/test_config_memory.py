"""What the loaded configuration keeps per check (100,000 checks must fit in memory): the
resolved checks only, http options sharing everything but their URL, results without
samples sharing one empty mapping."""

from __future__ import annotations

import json
import textwrap

import pytest

from monitor.config_loader import load_config
from monitor.plugins import ProbeRegistry, build_plugin_manager, hookimpl
from monitor.probe import NO_VALUES, ProbeFailed, ProbeResult, Status, reason
from plugins.http import HttpCheckOptions, HttpProbe


class _HttpPlugin:
    @hookimpl
    def vigie_register_probes(self):
        return [HttpProbe]


@pytest.fixture(scope="module")
def registry() -> ProbeRegistry:
    pm = build_plugin_manager(load_entry_points=False,
                              extra_plugins=[("http", _HttpPlugin())])
    return ProbeRegistry.from_plugin_manager(pm)


def _load(tmp_path, registry):
    path = tmp_path / "vigie.yaml"
    path.write_text(textwrap.dedent("""\
        services:
          - id: web
            name: Web
            checks:
              - {id: a, kind: http, url: "http://127.0.0.1:8080/a", keyword: ok}
              - {id: b, kind: http, url: "http://127.0.0.1:8080/b", keyword: ok}
              - {id: c, kind: http, url: "http://127.0.0.1:8080/c", keyword: other}
        """), encoding="utf-8")
    return load_config(path, registry)


def test_raw_checks_are_not_kept_once_resolved(tmp_path, registry):
    config = _load(tmp_path, registry)
    assert config.file.services == []
    assert [c.key for c in config.checks] == ["web/a", "web/b", "web/c"]
    assert config.service("web").name.fr == "Web"


def test_loaded_http_checks_share_the_rules_of_equal_options(tmp_path, registry):
    a, b, c = _load(tmp_path, registry).checks
    assert all(isinstance(check.options, HttpCheckOptions) for check in (a, b, c))
    assert a.options.plan.rules is b.options.plan.rules
    assert c.options.plan.rules is not a.options.plan.rules
    assert (a.options.url, b.options.url) == ("http://127.0.0.1:8080/a",
                                               "http://127.0.0.1:8080/b")
    assert (a.options.keyword, c.options.keyword) == ("ok", "other")


def test_results_without_samples_share_one_read_only_empty_mapping():
    one, two = ProbeResult.up(), ProbeResult(Status.DOWN, None)
    assert one.samples is two.samples is one.info is NO_VALUES
    assert one.samples == {} and isinstance(one.info, dict)
    assert json.dumps(one.samples) == "{}"
    for change in (lambda m: m.__setitem__("x", 1.0), lambda m: m.update(x=1.0),
                   lambda m: m.setdefault("x", 1.0), lambda m: m.pop("x"), lambda m: m.clear()):
        with pytest.raises(TypeError):
            change(one.samples)
    assert NO_VALUES == {}
    failed = ProbeFailed(reason("x", "x", "x"))
    assert failed.samples is NO_VALUES and failed.info is NO_VALUES


def test_results_given_values_keep_their_own_dict():
    samples = {"http_status_code": 200.0}
    result = ProbeResult.up(samples=samples)
    assert result.samples is samples and result.info is NO_VALUES
    result.samples["http_response_seconds"] = 0.1
    assert NO_VALUES == {}
