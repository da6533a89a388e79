"""What the outbox does for ``vigie_assistance_request`` rows beyond delivering them.

The worker (:mod:`monitor.incidents.outbox`) calls these for the rows of that hook:

- :func:`decode` — the payload as the :class:`AssistanceRequest` the plugin receives;
- :func:`record` — in the transaction recording an outcome of the desk's row: the
  request's state (``delivered``, ``held`` while the desk fails, ``dead``), the last error,
  and the ticket the desk returned (its number and address, shown to volunteers; it is
  stored on the request, never on an incident);
- :func:`after_delivery` — once that transaction committed: the screenshots' files are
  deleted (the desk has them now). A crash in between leaves them to the housekeeping,
  which deletes delivered requests' folders too.

Other rows of the hook (the member's receipt) change nothing on the request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from monitor.assistance import files
from monitor.assistance.models import TICKET_URL_LENGTH, AssistanceRow
from monitor.assistance.request import AssistanceRequest, request_from_json
from monitor.safetext import clean_line

log = logging.getLogger(__name__)

HOOK = "vigie_assistance_request"
#: outbox outcome → the request's state
STATE_OF = {"delivered": "delivered", "retry_later": "held", "failed": "held", "dead": "dead"}


def decode(payload: str) -> AssistanceRequest:
    """The request an outbox row carries."""
    return request_from_json(payload)


def ticket_of(links: Iterable[Any]) -> tuple[str | None, str | None]:
    """``(number, address)`` of the ticket among a desk's returned links (the first
    ``ticket`` link, else the first link); the address only when it is a web address."""
    from monitor.weblinks import web_address
    from monitor.notifications import Link

    found = [link for link in links or () if isinstance(link, Link)]
    if not found:
        return None, None
    link = next((l for l in found if l.kind == "ticket"), found[0])
    number = clean_line(link.external_id or link.title, 200) or None
    url = web_address(link.url)
    return number, url if url is not None and len(url) <= TICKET_URL_LENGTH else None


def record(session: Session, outbox_id: int, outcome: str, *, now: float,
           result: Any = None, error: str | None = None) -> bool:
    """Record the outcome of outbox row ``outbox_id`` on its request (in the caller's
    transaction); return whether the row was a request's desk delivery."""
    state = STATE_OF.get(outcome)
    if state is None:
        return False
    values: dict[str, Any] = {"state": state, "updated_at": now}
    if outcome == "delivered":
        number, url = ticket_of(result)
        values.update(delivered_at=now, last_error=None, ticket_number=number, ticket_url=url)
    else:
        values["last_error"] = (error or "")[:1000] or None
    changed = session.execute(update(AssistanceRow).where(AssistanceRow.outbox_id == outbox_id)
                              .values(**values))
    return bool(getattr(changed, "rowcount", 0))


def retried(session: Session, outbox_id: int, now: float) -> None:
    """A volunteer queued the desk's row again: the request is ``held`` (waiting for the
    desk) rather than ``dead``."""
    session.execute(update(AssistanceRow).where(AssistanceRow.outbox_id == outbox_id,
                                                AssistanceRow.state == "dead")
                    .values(state="held", updated_at=now))


def after_delivery(payload: str) -> Callable[[], None]:
    """What to do once a desk delivery committed: delete the request's screenshots."""
    def clean() -> None:
        try:
            request = decode(payload)
        except (ValueError, TypeError, KeyError):
            return
        files.remove_screenshots(request.screenshots)
        if request.screenshots:
            log.info("assistance: request %s delivered; its %d screenshots are deleted",
                     request.reference, len(request.screenshots))
    return clean
