"""The signed-in volunteer's own account: their open sessions, and "sign out
everywhere" (every session of theirs ends, on every browser and every copy of a cookie).
"""

from __future__ import annotations

import logging

from flask import current_app, redirect, session, url_for

from dashboard.admin import accounts, sessions
from dashboard.admin.auth import current_session_id, current_user
from dashboard.admin.blueprint import bp
from dashboard.admin.context import reading, transaction
from dashboard.admin.pages import render
from dashboard.admin.roles import current_actor, requires
from monitor.access import Permission

log = logging.getLogger(__name__)


@bp.route("/account")
@requires(Permission.READ)
def account():
    """Who I am and where I am signed in."""
    user = current_user()
    with reading() as db:
        rows = sessions.open_sessions(db, user.id, current_app.config["CLOCK"]())
    return render("admin/account.html", open_sessions=rows, this_session=current_session_id())


@bp.route("/account/sessions/end", methods=["POST"])
@requires(Permission.READ)
def end_my_sessions():
    """Sign out everywhere: end every session of the signed-in volunteer."""
    actor = current_actor()
    with transaction(publish=False) as db:
        count = accounts.sign_out_everywhere(db, actor=actor,
                                             now=current_app.config["CLOCK"]())
    session.clear()
    log.info("signed out everywhere: user %r (%d sessions)", actor.name, count)
    return redirect(url_for("admin.login", out=1), code=303)
