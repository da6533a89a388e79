"""Vigie's HTTP APIs described in OpenAPI 3.1, served at ``GET /api/v1/openapi.json``.

The description covers the status page's JSON API (``/api/v1``), its feed and badges,
``/healthz``, the heartbeat receiver (``/push/<token>``) and, when the admin area is
installed, the volunteers' API (``/admin/api/v1``, bearer tokens). It is built once per
application from the Flask routes themselves (paths, path parameters typed by their
converters, summaries from the views' docstrings) and from the tables of
:mod:`dashboard.openapi.public` and :mod:`dashboard.openapi.admin` (answers, query
parameters, bodies). A route under an API prefix without a description is left out, and
tests/dashboard/test_openapi.py fails on it; tests/dashboard/test_api_live.py runs
schemathesis with it against a live ``vigie run``.

It holds nothing secret (no token, no configuration beyond the public address and
title) and is cacheable (strong ``ETag``, an hour).
"""

from __future__ import annotations

import hashlib
import inspect
import json
from typing import Any

from flask import Flask, Response, current_app, request

from dashboard.openapi import admin, public
from monitor import __version__
from dashboard.openapi.schema import (
    Operation,
    listener_responses,
    openapi_path,
    path_parameters,
    with_listener,
)

#: the prefixes whose every route must be described
API_PREFIXES = ("/api/v1/", "/admin/api/v1/")
#: how long a client may keep the description without asking again
MAX_AGE = 3600
_EXTENSION = "vigie.openapi"

TAGS = [
    {"name": "status", "description": "The status page's JSON API, in the shape Statuspage "
                                      "clients know (see docs/dashboard.md)."},
    {"name": "documents", "description": "The Atom feeds, the maintenance calendars and the "
                                         "SVG badges."},
    {"name": "health", "description": "Whether Vigie runs (for load balancers and "
                                      "monitoring)."},
    {"name": "heartbeats", "description": "Jobs (backups, cron tasks) telling Vigie they "
                                          "ran; present when `heartbeat` checks are "
                                          "configured (see docs/probes/heartbeat.md)."},
    {"name": "admin", "description": "The volunteers' API, for scripts: a token from "
                                     "`vigie token add`, sent as `Authorization: Bearer` "
                                     "(see docs/admin.md)."},
]


def _summary(app: Flask, endpoint: str) -> tuple[str, str]:
    """(summary, description) from the view's docstring."""
    doc = inspect.cleandoc(app.view_functions[endpoint].__doc__ or "")
    first, _, rest = doc.partition("\n\n")
    return " ".join(first.split()), rest.strip()


def _operation(app: Flask, endpoint: str, described: Operation, operation_id: str,
               path_params: list[dict[str, Any]]) -> dict[str, Any]:
    summary, description = _summary(app, endpoint)
    out: dict[str, Any] = {"tags": [described.tag], "operationId": operation_id,
                           "summary": summary}
    if description:
        out["description"] = description
    if path_params or described.query:
        out["parameters"] = [*path_params, *described.query]
    if described.body is not None:
        out["requestBody"] = described.body
    out["responses"] = with_listener(described.responses)
    out["security"] = [{"bearer": []}] if described.bearer else []
    return out


def _paths(app: Flask, with_admin: bool) -> dict[str, dict[str, Any]]:
    tables = {**public.OPERATIONS, **(admin.OPERATIONS if with_admin else {})}
    paths: dict[str, dict[str, Any]] = {}
    used: set[str] = set()
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        described = tables.get(rule.endpoint)
        if described is None:
            continue
        item = paths.setdefault(openapi_path(rule), {})
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            # one endpoint may have several rules (/feed.atom, /history.atom)
            operation_id, count = rule.endpoint, 1
            while operation_id in used:
                count += 1
                operation_id = f"{rule.endpoint}.{count}"
            used.add(operation_id)
            item[method.lower()] = _operation(app, rule.endpoint, described, operation_id,
                                              path_parameters(rule))
    paths[public.PUSH_PATH] = {
        "parameters": public.PUSH_PARAMETERS,
        **{method: {**operation, "responses": with_listener(operation["responses"]),
                    "security": []}
           for method, operation in public.PUSH.items()}}
    return dict(sorted(paths.items()))


def document(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 description of ``app``'s APIs (the admin API's when installed)."""
    with_admin = "admin" in app.blueprints
    schemas = {**public.components(), **(admin.components() if with_admin else {})}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Vigie",
            "version": __version__,
            "summary": "The status page's public API and the volunteers' admin API.",
            "description": "Times in `/api/v1` are ISO 8601 in UTC, in `/admin/api/v1` Unix "
                           "seconds. See docs/dashboard.md and docs/admin.md.",
            "license": {"name": "AGPL-3.0-or-later", "identifier": "AGPL-3.0-or-later"},
        },
        "servers": [{"url": app.config.get("PUBLIC_URL") or "/"}],
        "tags": [tag for tag in TAGS if with_admin or tag["name"] != "admin"],
        "paths": _paths(app, with_admin),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "responses": {**listener_responses(),
                          **(admin.responses() if with_admin else {})},
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "A token made by `vigie token add` (`vigie_…`); it acts as "
                               "its user."}},
        },
    }


def response() -> Response:
    """The description as a cacheable JSON response (built once per application)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # werkzeug's proxy
    cached = app.extensions.get(_EXTENSION)
    if cached is None:
        body = json.dumps(document(app), ensure_ascii=False, separators=(",", ":")).encode()
        cached = app.extensions[_EXTENSION] = (body, hashlib.sha256(body).hexdigest()[:32])
    body, etag = cached
    answer = Response(body, mimetype="application/json")
    answer.set_etag(etag)
    answer.headers["Cache-Control"] = f"public, max-age={MAX_AGE}"
    return answer.make_conditional(request)
