"""The OpenAPI 3.1 description served at ``/api/v1/openapi.json``: valid, complete (every
route of both APIs), cacheable, free of secrets, built from the code's own models and
words, and strict enough that a key added to an answer without its description fails.
The description is run against a live Vigie in test_api_live.py."""

from __future__ import annotations

import copy
import json
import re

import pytest
from flask import Flask
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from dashboard.api import MAX_ID
from dashboard.openapi import API_PREFIXES, document
from dashboard.openapi.admin import BODIES
from monitor.incidents.models import IMPACTS, NOTICE_LEVELS, PHASES
from monitor.state import ServiceStatus

URL = "/api/v1/openapi.json"


@pytest.fixture
def spec(client) -> dict:
    """The description as served."""
    response = client.get(URL)
    assert response.status_code == 200
    return response.get_json()


def undescribed(app: Flask, spec: dict) -> set[str]:
    """``METHOD /path`` of the API routes the description lacks."""
    missing = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API_PREFIXES):
            continue
        path = re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            if method.lower() not in spec["paths"].get(path, {}):
                missing.add(f"{method} {path}")
    return missing


def validator(spec: dict, name: str) -> Draft202012Validator:
    """A JSON Schema validator for the component ``name`` of ``spec``."""
    registry = Registry().with_resource(
        "urn:vigie", Resource.from_contents(spec, default_specification=DRAFT202012))
    return Draft202012Validator({"$ref": f"urn:vigie#/components/schemas/{name}"},
                                registry=registry)


def test_the_description_is_valid_openapi_3_1(spec):
    assert spec["openapi"].startswith("3.1.")
    validate(spec, cls=OpenAPIV31SpecValidator)
    for schema in spec["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_every_route_of_both_apis_is_described(app, spec):
    assert {"/api/v1/summary.json", "/admin/api/v1/incidents/{incident_id}/updates",
            "/healthz", "/push/{token}"} <= spec["paths"].keys()
    assert undescribed(app, spec) == set()


def test_a_route_without_a_description_is_caught(app):
    @app.route("/admin/api/v1/audit/<int:entry_id>", methods=["GET", "DELETE"])
    def audit(entry_id):
        """A route someone forgot to describe."""

    assert undescribed(app, document(app)) == {"GET /admin/api/v1/audit/{entry_id}",
                                               "DELETE /admin/api/v1/audit/{entry_id}"}


def test_served_cacheable_and_the_same_each_time(app, client):
    first = client.get(URL)
    assert first.headers["Content-Type"] == "application/json"
    assert first.headers["Cache-Control"] == "public, max-age=3600"
    assert first.get_json() == json.loads(json.dumps(document(app)))
    again = client.get(URL, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    assert client.get(URL).data == first.data


def test_nothing_secret_in_it(app, client, seeded):
    text = client.get(URL).get_data(as_text=True)
    config = seeded[0]
    assert app.config["SECRET_KEY"] not in text
    assert str(config.database_url) not in text and str(config.data_dir) not in text
    assert re.search(r"vigie_[A-Za-z0-9_-]{16}", text) is None  # no API token


def test_bodies_are_the_models_that_read_them(spec):
    schemas = spec["components"]["schemas"]
    for model in BODIES:
        assert schemas[model.__name__] == json.loads(json.dumps(
            model.model_json_schema(ref_template="#/components/schemas/{model}")))
    body_of = {name: schemas[name]["properties"] for name in schemas}
    assert body_of["IncidentCreate"]["impact"]["enum"] == list(IMPACTS)
    # an incident cannot be opened resolved; an update may resolve it
    assert body_of["IncidentCreate"]["phase"]["enum"] == list(PHASES[:-1])
    assert body_of["IncidentUpdate"]["phase"]["enum"] == list(PHASES)
    assert body_of["NoticeCreate"]["level"]["enum"] == list(NOTICE_LEVELS)
    assert all(schemas[model.__name__]["additionalProperties"] is False for model in BODIES)


def test_ids_are_bounded_as_the_routes_read_them(spec):
    parameter = spec["paths"]["/admin/api/v1/incidents/{incident_id}"]["get"]["parameters"][0]
    assert parameter["schema"] == {"type": "integer", "minimum": 0, "maximum": MAX_ID}
    summary = spec["paths"]["/admin/api/v1/incidents/{incident_id}/resolve"]["post"]["summary"]
    assert summary == "Resolve now, with optional messages."


def test_admin_operations_need_the_token_and_declare_every_refusal(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            answers = operation["responses"]
            # the listener's limits, on every route
            assert {"408", "413", "429", "503"} <= answers.keys(), (method, path)
            if path.startswith("/admin/api/"):
                assert operation["security"] == [{"bearer": []}]
                assert {"401", "403"} <= answers.keys(), (method, path)
                if "requestBody" in operation:
                    assert {"400", "422"} <= answers.keys(), (method, path)
            else:
                assert operation["security"] == [], (method, path)


def test_an_answer_with_a_key_nobody_described_does_not_match(client, spec, ids):
    summary = client.get("/api/v1/summary.json").get_json()
    check = validator(spec, "Summary")
    check.validate(summary)
    for mutate in (lambda d: d["page"].update(extra=1),
                   lambda d: d["components"][0].update(status="broken"),
                   lambda d: d["status"].pop("indicator"),
                   lambda d: d["incidents"][0].update(created_at="yesterday")):
        changed = copy.deepcopy(summary)
        mutate(changed)
        assert not check.is_valid(changed)
    detail = client.get(f"/api/v1/incidents/{ids['open']}").get_json()
    validator(spec, "PublicIncident").validate(detail)


def test_service_statuses_come_from_the_code(spec):
    component = spec["components"]["schemas"]["Component"]["properties"]
    assert component["vigie_status"]["enum"] == [s.label for s in ServiceStatus]
