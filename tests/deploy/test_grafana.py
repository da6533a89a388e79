"""The Grafana dashboard: valid JSON, valid PromQL, and only metrics Vigie exports."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from tests.conftest import which_or_require
from tests.deploy.conftest import DEPLOY, name_patterns, queried_metrics

DASHBOARD = DEPLOY / "grafana" / "dashboards" / "vigie.json"
#: what the issue asks the dashboard to show, and the metric that shows it
REQUIRED = {
    "service states": "vigie_service_status",
    "check latency": "vigie_check_duration_seconds",
    # availability as the status page defines it (monitor/availability.py)
    "availability": "vigie_service_availability_ratio",
    "open incidents": "vigie_incidents_open",
    "scheduler lag": "vigie_scheduler_lag_seconds",
    "deliveries": "vigie_outbox_deliveries_total",
    # members helped on the way rather than by a ticket
    "assistance deflection": "vigie_assistance_requests_total",
}
#: Grafana's own variables, replaced by example values to check the PromQL
GRAFANA_VARIABLES = {"$__range": "1h", "$__rate_interval": "2m", "$__interval": "30s"}


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def queries(dashboard: dict) -> list[tuple[str, str]]:
    """``(panel title, expression)`` for every target of every panel."""
    return [(panel["title"], target["expr"]) for panel in dashboard["panels"]
            for target in panel.get("targets", [])]


def concrete(expr: str, variables: list[str]) -> str:
    """``expr`` with dashboard and Grafana variables replaced by example values."""
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    for name in sorted(variables, key=len, reverse=True):
        expr = expr.replace(f"${name}", "vigie" if name == "job" else ".*")
    return expr


def test_dashboard_shape(dashboard):
    assert dashboard["uid"] == "vigie-overview" and dashboard["title"] == "Vigie"
    assert isinstance(dashboard["schemaVersion"], int)
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        assert panel.get("description"), f"{panel['title']}: say what the panel shows"
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs))


def test_variables_used_are_defined(dashboard):
    defined = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "job", "instance", "service"} <= defined
    for title, expr in queries(dashboard):
        for name in re.findall(r"\$(\w+)", expr):
            assert name in defined or f"${name}" in GRAFANA_VARIABLES, f"{title}: ${name}"


def test_every_queried_metric_exists(dashboard, exported_metrics):
    unknown = {}
    for title, expr in queries(dashboard):
        for name in queried_metrics(expr) - exported_metrics:
            unknown[name] = title
        for pattern in name_patterns(expr):
            assert any(re.fullmatch(pattern, n) for n in exported_metrics), (title, pattern)
    for variable in dashboard["templating"]["list"]:
        query = variable.get("definition", "")
        assert queried_metrics(query) <= exported_metrics, variable["name"]
    assert unknown == {}


def test_the_issue_topics_are_on_the_dashboard(dashboard):
    used = set().union(*(queried_metrics(expr) for _, expr in queries(dashboard)))
    missing = {topic: metric for topic, metric in REQUIRED.items() if metric not in used}
    assert missing == {}


@pytest.mark.promtool
def test_every_query_is_valid_promql(dashboard, tmp_path):
    """promtool parses each query, written as a recording rule."""
    promtool = which_or_require("promtool", "promtool is missing (Debian package prometheus)")
    variables = [v["name"] for v in dashboard["templating"]["list"]]
    rules = [{"record": f"dashboard:query_{i}", "expr": concrete(expr, variables)}
             for i, (_, expr) in enumerate(queries(dashboard))]
    assert all("$" not in rule["expr"] for rule in rules)
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    out = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(rules)} rules found" in out.stdout


@pytest.mark.promtool
def test_promql_check_catches_a_broken_query(tmp_path):
    promtool = which_or_require("promtool", "promtool is missing (Debian package prometheus)")
    path = tmp_path / "broken.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "d", "rules": [
        {"record": "dashboard:broken", "expr": "sum by (service (vigie_check_up)"}]}]}))
    out = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode != 0


def test_provisioning_files_parse():
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/vigie.yaml").read_text())
    assert provider["apiVersion"] == 1 and provider["providers"][0]["type"] == "file"
    datasources = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/vigie-prometheus.yaml").read_text())
    assert datasources["datasources"][0]["type"] == "prometheus"
