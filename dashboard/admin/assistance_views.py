"""The members' requests for help in the volunteers' area: ``/admin/assistance`` (the
roles admin and desk) and ``/admin/api/v1/assistance``.

Each request shows its reference, when it was sent, its category, where its delivery to
the helpdesk stands, the ticket the desk returned and the last error; a dead one has a
"retry" button (the outbox's retry, audited like any other). No name, no e-mail address,
never a screenshot: volunteers answer in the helpdesk, where the ticket has them. To find
one member's requests, the address is typed in a form (a ``POST``, so it stays out of the
server's logs and the browser's history) and compared, never shown. The member's title
is shown escaped, as text.
"""

from __future__ import annotations

import dataclasses

from flask import abort, request, url_for
from flask_babel import gettext as _

from dashboard.admin.api import ApiError, _json
from dashboard.admin.blueprint import api_bp, bp
from dashboard.admin.context import reading
from dashboard.admin.pages import error_context, render, run
from dashboard.admin.roles import current_actor, requires
from monitor.access import Permission
from monitor.assistance import records
from monitor.assistance.models import STATES
from monitor import words

#: requests shown on one page
SHOWN = 200


def _page(status: int = 200, *, email: str | None = None, **context):
    shown = request.args.get("state") or None
    if shown not in (None, *STATES):
        shown = None
    with reading() as session:
        found = records.requests(session, state=shown, email=email, limit=SHOWN)
        counts = records.counts(session)
    return render("admin/assistance.html", status=status, requests=found, counts=counts,
                  shown=shown, searched=bool(email), **context)


@bp.route("/assistance")
@requires(Permission.ASSISTANCE)
def assistance():
    """The members' requests, newest first (``?state=`` filters)."""
    return _page()


@bp.route("/assistance", methods=["POST"])
@requires(Permission.ASSISTANCE)
def assistance_search():
    """The requests sent with one e-mail address (typed, compared, not shown)."""
    email = (request.form.get("email") or "").strip()[:320]
    return _page(email=email or None)


@bp.route("/assistance/<reference>/retry", methods=["POST"])
@requires(Permission.DELIVERIES)
def assistance_retry(reference: str):
    """Queue the delivery of a request to the helpdesk again, now."""
    with reading() as session:
        outbox_id = records.desk_outbox_id(session, reference[:40])
    if outbox_id is None:
        abort(404)
    return run(lambda session, ops: ops.retry_outbox(session, outbox_id, actor=current_actor()),
               done=_("The request is queued again for the helpdesk."),
               redirect_to=url_for("admin.assistance"),
               on_error=lambda exc: _page(422, **error_context(exc)))


@api_bp.route("/assistance")
@requires(Permission.ASSISTANCE)
def assistance_list():
    """Requests (``?state=received|held|delivered|dead``) and the counts by state."""
    state = request.args.get("state")
    if state not in (None, *STATES):
        raise ApiError(422, "invalid_input",
                       words._("Unknown state (received, held, delivered, dead)."), "state")
    with reading() as session:
        found = records.requests(session, state=state, limit=SHOWN)
        counts = records.counts(session)
    return _json({"counts": counts, "requests": [dataclasses.asdict(r) for r in found]})
