"""The cluster in the volunteers' area (``/admin/cluster``): the nodes, their heartbeats,
who leads and under which epoch, read from the database as ``vigie cluster status``
reads it (see docs/cluster.md). Every role reads it; a Vigie without ``cluster.enabled``
has no such page (404), and no entry in the menu."""

from __future__ import annotations

from flask import abort

from dashboard.admin.blueprint import bp
from dashboard.admin.context import config, vigie_state
from dashboard.admin.pages import lang, render
from dashboard.admin.roles import requires
from monitor.access import Permission
from monitor.cluster.settings import settings_of


def cluster_enabled() -> bool:
    """Whether this Vigie is a node of a cluster (the menu shows the page then)."""
    return settings_of(config()).enabled


@bp.route("/cluster")
@requires(Permission.READ)
def cluster():
    """The nodes and the leader, now (the database's clock)."""
    settings = settings_of(config())
    if not settings.enabled:
        abort(404)
    from monitor.cluster.status import read_status, summary

    with vigie_state().store.engine.connect() as conn:
        status = read_status(conn, settings)
    return render("admin/cluster.html", cluster=status, settings=settings,
                  summary=summary(status).say(lang()))
