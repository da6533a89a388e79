"""The accounts page, for administrators: every volunteer with their role, last login and
open sessions, every API token; change a role, sign a volunteer out everywhere, revoke a
token. (Creating accounts and tokens stays on the server, ``vigie user add`` and
``vigie token add``: a password is never sent through a form for someone else, and a
new token is shown once where it is used.)
"""

from __future__ import annotations

from flask import current_app, flash, redirect, request, url_for
from flask_babel import gettext as _

from dashboard.admin import accounts, sessions, tokens
from dashboard.admin.accounts import AccountError
from dashboard.admin.blueprint import bp
from dashboard.admin.context import reading, transaction
from dashboard.admin.pages import lang, render
from dashboard.admin.roles import current_actor, requires
from monitor.access import Permission, Role


def _now() -> float:
    return current_app.config["CLOCK"]()


def _users_page(status: int = 200, **context):
    now = _now()
    with reading() as db:
        users = accounts.list_users(db)
        open_sessions = sessions.open_counts(db, now)
        token_rows = tokens.list_tokens(db, include_revoked=True)
    return render("admin/users.html", status=status, users=users, tokens=token_rows,
                  open_sessions=open_sessions, roles=[r.value for r in Role], **context)


@bp.route("/users")
@requires(Permission.ACCOUNTS)
def users():
    """The volunteers, their roles and sessions, and the API tokens."""
    return _users_page()


def _change(action, done: str):
    try:
        with transaction(publish=False) as db:
            action(db)
    except AccountError as exc:
        return _users_page(422, error=exc.message(lang()))
    flash(done, "success")
    return redirect(url_for("admin.users"), code=303)


@bp.route("/users/<username>/role", methods=["POST"])
@requires(Permission.ACCOUNTS)
def user_role(username: str):
    """Give a volunteer another role."""
    role = request.form.get("role", "")
    return _change(lambda db: accounts.set_role(db, username, role, actor=current_actor()),
                   _("The role is changed."))


@bp.route("/users/<username>/signout", methods=["POST"])
@requires(Permission.ACCOUNTS)
def user_signout(username: str):
    """End every session of a volunteer (a lost laptop)."""
    return _change(lambda db: accounts.sign_out(db, username, _now(), actor=current_actor()),
                   _("Every session of this volunteer is ended."))


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@requires(Permission.ACCOUNTS)
def token_revoke(token_id: int):
    """Revoke an API token (it stops working at once)."""
    return _change(lambda db: tokens.revoke_token(db, token_id, _now(), actor=current_actor()),
                   _("The token is revoked."))
