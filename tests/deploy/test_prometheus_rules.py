"""The Prometheus kit: rules pass promtool, their unit tests pass, every metric exists."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from tests.conftest import which_or_require
from tests.deploy.conftest import DEPLOY, name_patterns, queried_metrics

PROMETHEUS = DEPLOY / "prometheus"
RULES = PROMETHEUS / "vigie-rules.yml"
RULE_TESTS = PROMETHEUS / "vigie-rules.test.yml"
#: what the issue asks the rules to catch, and the alert that does
REQUIRED_ALERTS = {
    "a service down": "VigieServiceDown",
    "a check failing": "VigieCheckFailing",
    "a certificate expiring within 14 days": "VigieCertificateExpiresSoon",
    "Vigie stale (no completed cycle for 10 minutes)": "VigieStale",
    "outbox backlog growing": "VigieOutboxBacklogGrowing",
    "bridge or notifier failures": "VigieDeliveriesFailing",
    "no node of a cluster leads": "VigieClusterNoLeader",
    "a node of a cluster is gone": "VigieClusterNodeGone",
}


def promtool(*args: str) -> subprocess.CompletedProcess:
    binary = which_or_require("promtool", "promtool is missing (Debian package prometheus)")
    return subprocess.run([binary, *args], cwd=PROMETHEUS, capture_output=True, text=True,
                          timeout=60)


def alert_rules() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


@pytest.mark.promtool
def test_promtool_check_rules():
    out = promtool("check", "rules", RULES.name)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in out.stdout


@pytest.mark.promtool
def test_promtool_unit_tests_pass():
    out = promtool("test", "rules", RULE_TESTS.name)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


@pytest.mark.promtool
def test_promtool_unit_tests_catch_a_broken_rule(tmp_path):
    """The unit tests can fail: with the dead-man threshold raised they do."""
    broken = RULES.read_text(encoding="utf-8").replace(
        "vigie_scheduler_last_cycle_timestamp_seconds > 600", "vigie_scheduler_last_cycle_timestamp_seconds > 6000")
    assert broken != RULES.read_text(encoding="utf-8")
    (tmp_path / RULES.name).write_text(broken, encoding="utf-8")
    (tmp_path / RULE_TESTS.name).write_text(RULE_TESTS.read_text(encoding="utf-8"), encoding="utf-8")
    binary = which_or_require("promtool", "promtool is missing (Debian package prometheus)")
    out = subprocess.run([binary, "test", "rules", RULE_TESTS.name], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "alertname: VigieStale" in out.stdout + out.stderr


@pytest.mark.promtool
def test_promtool_check_scrape_config():
    out = promtool("check", "config", "prometheus.yml")
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_issue_alerts_exist_and_are_unit_tested():
    names = {rule["alert"] for rule in alert_rules()}
    missing = {need: alert for need, alert in REQUIRED_ALERTS.items() if alert not in names}
    assert missing == {}
    tests = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["tests"]
    fired = {case["alertname"] for group in tests for case in group.get("alert_rule_test", [])
             if case.get("exp_alerts")}
    assert names - fired == set(), "every alert needs a unit test where it fires"


def test_every_alert_has_a_severity_and_a_summary():
    for rule in alert_rules():
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]


def test_stale_alert_threshold_is_ten_minutes():
    stale = next(r for r in alert_rules() if r["alert"] == "VigieStale")
    assert "vigie_scheduler_last_cycle_timestamp_seconds > 600" in stale["expr"]


def test_every_queried_metric_exists(exported_metrics):
    unknown = {}
    for rule in alert_rules():
        for name in queried_metrics(rule["expr"]) - exported_metrics:
            unknown[name] = rule["alert"]
        for pattern in name_patterns(rule["expr"]):
            matches = [n for n in exported_metrics if re.fullmatch(pattern, n)]
            assert matches, f"{rule['alert']}: no exported metric matches {pattern!r}"
    assert unknown == {}

