"""The two blueprints of the admin area.

- ``admin`` at ``/admin``: the volunteers' pages (session login, CSRF on every form);
- ``admin.api`` at ``/admin/api/v1``: the JSON API for scripts (bearer tokens, no
  session, no CSRF — a browser never sends a bearer token by itself).
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin", static_folder="static",
               static_url_path="/static")
api_bp = Blueprint("api", __name__, url_prefix="/api/v1")
