"""The check × location grid in the volunteers' area (``/admin/locations``): each
location's reachability and each check as each location sees it, read from the running
Vigie's memory (:mod:`dashboard.locations`). Every role reads it; a Vigie whose checks
all run on the server alone has no such page (404), and no entry in the menu."""

from __future__ import annotations

from flask import abort

from dashboard import locations
from dashboard.admin.blueprint import bp
from dashboard.admin.context import config
from dashboard.admin.pages import render
from dashboard.admin.roles import requires
from monitor.access import Permission


@bp.route("/locations")
@requires(Permission.READ)
def locations_grid():
    """The locations and the grid, now."""
    if not locations.configured():
        abort(404)
    return render("admin/locations.html", grid=locations.grid(),
                  silent_after=config().file.locations.silent_after)
