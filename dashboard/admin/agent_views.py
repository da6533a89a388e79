"""The remote agents' tokens in the volunteers' area (administrators): ``/admin/agents``
and ``/admin/api/v1/agents``.

The list shows each token's name, location and the agent's last news (when its last
batch came, the results it still held and those it dropped), never the token; a button
revokes one (its next request is refused). Tokens are made on the server (``vigie
agent-token add``), where the token is printed once. Every change goes through
:class:`monitor.agents.service.AgentOperations` (roles, audit).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import abort, current_app, flash, redirect, url_for
from flask_babel import gettext as _

from dashboard.admin.api import _json
from dashboard.admin.blueprint import api_bp, bp
from dashboard.admin.context import config, reading, transaction
from dashboard.admin.pages import render
from dashboard.admin.roles import current_actor, requires
from monitor.access import Permission
from monitor.agents import assignments, service
from monitor.incidents.inputs import NotFound


def agent_ops() -> Any:
    """The operations, with the configured locations (typed loosely: each also takes the
    ``actor`` keyword the service layer's decorator adds)."""
    return service.AgentOperations(assignments.assignments_of(config()))


@bp.route("/agents")
@requires(Permission.AGENTS)
def agents():
    """The agent tokens and their agents' last news."""
    with reading() as session:
        found = service.agents(session)
    return render("admin/agents.html", agents=found, now=current_app.config["CLOCK"]())


@bp.route("/agents/<agent_name>/revoke", methods=["POST"])
@requires(Permission.AGENTS)
def agent_revoke(agent_name: str):
    """Revoke a token: the agent's next request is refused."""
    try:
        with transaction(publish=False) as session:
            agent_ops().revoke_token(session, agent_name, actor=current_actor())
    except NotFound:
        abort(404)
    flash(_("The agent token “%(name)s” is revoked: the agent's next request is refused.",
            name=agent_name), "success")
    return redirect(url_for("admin.agents"), code=303)


# API ------------------------------------------------------------------------------------


@api_bp.route("/agents")
@requires(Permission.AGENTS)
def agent_list():
    """Every agent token and its agent's last news (never a token)."""
    with reading() as session:
        return _json([dataclasses.asdict(a) for a in service.agents(session)])


@api_bp.route("/agents/<agent_name>/revoke", methods=["POST"])
@requires(Permission.AGENTS)
def agent_revoke_api(agent_name: str):
    """Revoke a token; the answer is the token's record."""
    with transaction(publish=False) as session:
        record = agent_ops().revoke_token(session, agent_name, actor=current_actor())
    return _json(dataclasses.asdict(record))
