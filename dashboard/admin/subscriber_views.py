"""The members' e-mail subscriptions in the volunteers' area: ``/admin/subscribers`` and
``/admin/api/v1/subscribers``.

Every role sees how many members follow each service, pending and confirmed: it says who
will read an announcement. The addresses are personal data: only a role with the
``subscribers`` permission (administrators) sees them, and may forget one from the page —
the audited operation :func:`monitor.subscriptions.service.forget_subscriber`, the one
the CLI calls too, whose audit entry names the subscriber's number, never the address.
"""

from __future__ import annotations

from flask import request, url_for
from flask_babel import gettext as _

from dashboard.admin.api import _json
from dashboard.admin.blueprint import api_bp, bp
from dashboard.admin.context import config, reading
from dashboard.admin.pages import error_context, lang, render, run
from dashboard.admin.roles import current_actor, requires
from monitor.access import Permission
from monitor.incidents.inputs import NotFound
from monitor.subscriptions import records
from monitor.subscriptions.records import STATES
from monitor.subscriptions.service import forget_subscriber
from monitor import words

#: addresses shown on one page
SHOWN = 500


def _counts(session) -> dict:
    return records.counts(session, {s.id: s.group for s in config().services})


def _page(status: int = 200, **context):
    shown = request.args.get("state") or None
    if shown not in (None, *STATES):
        shown = None
    english = lang()
    names = {s.id: s.name.text(english) for s in config().services}
    group_names = {g.id: g.name.text(english) for g in config().file.groups}
    addresses = current_actor().can(Permission.SUBSCRIBERS)
    with reading() as session:
        counts = _counts(session)
        found = records.by_state(session, shown, SHOWN) if addresses else []
        rows = [{"id": r.id, "email": r.email, "state": r.state, "language": r.language,
                 "everything": r.everything,
                 "follows": [names.get(s, s) for s in r.services]
                 + [group_names.get(g, g) for g in r.groups],
                 "created_at": r.created_at, "confirmed_at": r.confirmed_at,
                 "failures": r.failures, "last_failure": r.last_failure} for r in found]
    per_service = [(names[s], by) for s, by in counts["services"].items()]
    return render("admin/subscribers.html", status=status, counts=counts,
                  per_service=per_service, subscribers=rows, addresses=addresses,
                  shown=shown, limit=SHOWN, **context)


@bp.route("/subscribers")
@requires(Permission.READ)
def subscribers():
    """Counts per service and state; the addresses for the roles allowed (``?state=``)."""
    return _page()


@bp.route("/subscribers/<int:subscriber_id>/forget", methods=["POST"])
@requires(Permission.SUBSCRIBERS)
def subscribers_forget(subscriber_id: int):
    """Delete a subscriber and every trace of their address (audited)."""
    def forget(session, _ops) -> None:
        if not forget_subscriber(session, subscriber_id, actor=current_actor()):
            raise NotFound("subscriber", words._("No such subscriber."))

    return run(forget, done=_("The address is forgotten: its subscription, its pending "
                              "mails and the record of the mails sent are deleted."),
               redirect_to=url_for("admin.subscribers"),
               on_error=lambda exc: _page(422, **error_context(exc)))


@api_bp.route("/subscribers")
@requires(Permission.READ)
def subscribers_counts():
    """Subscribers by state, and per service by state (no address)."""
    with reading() as session:
        return _json(_counts(session))
