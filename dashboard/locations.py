"""The check × location grid for volunteers: where the dashboard finds it, and who may
see it.

The per-location states live in the memory of ``vigie run`` (:mod:`monitor.locations`);
the runtime gives the dashboard its read function (``StartupContext.location_grid``,
``create_app(locations=...)``), kept in ``app.extensions["vigie.locations"]``. A
dashboard serving alone (``vigie dashboard``) has none and says so. Members never see
the grid: the admin area shows it (``/admin/locations``), and a service's page adds its
part only for a signed-in volunteer, rendered for that request alone
(:func:`dashboard.pages.private_response`; the fast path lets such requests through,
:class:`dashboard.fastpath.FastPath`).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app

from monitor.locations.book import located
from monitor.locations.records import LocationGrid

#: the key of the read function in ``app.extensions``
EXTENSION = "vigie.locations"


def setup(app: Flask, grid: Callable[[], LocationGrid] | None) -> None:
    """Keep the read function of the running Vigie (None: the dashboard serves alone),
    and the services that have checks run from several locations."""
    config = app.extensions["vigie"].config
    here = config.file.locations.self.name
    app.extensions[EXTENSION] = grid
    app.extensions[EXTENSION + ".services"] = frozenset(
        c.ref.service_id for c in config.checks if c.enabled and located(c, here))


def configured(app: Flask | None = None) -> bool:
    """Whether some check runs from several locations (the admin menu shows the grid)."""
    return bool((app or current_app).extensions.get(EXTENSION + ".services"))


def has_located_checks(service_id: str) -> bool:
    """Whether the service has a check run from several locations."""
    return service_id in current_app.extensions.get(EXTENSION + ".services", ())


def grid() -> LocationGrid | None:
    """The grid now, or None when this dashboard does not run inside ``vigie run``."""
    read = current_app.extensions.get(EXTENSION)
    return read() if read is not None else None


def volunteer_signed_in() -> bool:
    """Whether a volunteer is signed in on this request (any role); False when the admin
    area is not installed."""
    if "admin" not in current_app.blueprints:
        return False
    from dashboard.admin.auth import current_user

    return current_user() is not None
