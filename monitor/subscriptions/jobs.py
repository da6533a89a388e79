"""What an outbox row of ``vigie_member_mail`` carries: :class:`MemberMailJob`.

Two kinds of rows, both delivered to Vigie's own member-mail plugin
(:data:`MEMBER_MAIL_PLUGIN`, :mod:`monitor.membermail`):

- ``confirm`` — the answer to one sign-up (key ``subscription:confirm:<id>:<n>``, stream
  ``subscriber:<id>``): with ``token``, the confirmation link of a pending address;
  without, the manage link of an address already confirmed (the member asked again; the
  page's answer was the same, only the mail differs);
- ``event`` — one incident or maintenance event for one batch of confirmed subscribers
  (``event`` is :func:`monitor.notifications.to_json` of it, ``thread`` the stream its
  mails thread in, e.g. ``incident:12``).

A row holds subscriber ids, never an address: the mail is addressed from the subscriber's
row when it is sent, so a subscriber who left gets nothing and a forgotten address stays
nowhere. Once a ``confirm`` row is delivered its token is blanked in the row
(:func:`spent`): the link's secret lives in the member's mailbox only.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

#: the durable hook sending member mails
MEMBER_MAIL_HOOK = "vigie_member_mail"
#: the plugin name of Vigie's own member-mail sender
MEMBER_MAIL_PLUGIN = "member-mail"
#: the kinds of job
KINDS = ("confirm", "event")
#: what a delivered confirmation row's token becomes
SPENT_TOKEN = ""


@dataclass(frozen=True, slots=True)
class MemberMailJob:
    """Mails to send to some subscribers (one outbox row)."""

    #: ``confirm`` (the answer to a sign-up) or ``event`` (an incident or maintenance)
    kind: str
    #: the row's idempotency key (with the subscriber's id, the mail's)
    idempotency_key: str
    #: who gets it (subscribers' ids; one for ``confirm``)
    subscriber_ids: tuple[int, ...]
    #: ``confirm``: the confirmation token (None: the address is already confirmed, send
    #: its manage link; :data:`SPENT_TOKEN` once delivered)
    token: str | None = None
    #: ``event``: the :class:`~monitor.notifications.IncidentEvent` or
    #: :class:`~monitor.notifications.MaintenanceEvent` as JSON
    event: str | None = None
    #: ``event``: the thread its mails belong to (``incident:12``, ``maintenance:3``)
    thread: str | None = None

    def to_json(self) -> str:
        """The row's payload."""
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> MemberMailJob:
        """The job a payload carries.

        :raises ValueError: not a job's payload.
        """
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("kind") not in KINDS:
            raise ValueError("not a member-mail job")
        ids = data.get("subscriber_ids")
        if not isinstance(ids, list) or not all(type(i) is int for i in ids):
            raise ValueError("a member-mail job's subscriber_ids must be integers")
        optional = {name: data.get(name) for name in ("token", "event", "thread")}
        if any(v is not None and not isinstance(v, str) for v in optional.values()):
            raise ValueError("a member-mail job's token, event and thread are text")
        key = data.get("idempotency_key")
        if not isinstance(key, str) or not key:
            raise ValueError("a member-mail job needs its idempotency key")
        return cls(data["kind"], key, tuple(ids), **optional)


def spent(payload: str) -> str | None:
    """``payload`` with its confirmation token blanked, None when it carries none (not a
    confirmation, or already blanked)."""
    try:
        job = MemberMailJob.from_json(payload)
    except ValueError:
        return None
    if job.kind != "confirm" or not job.token:
        return None
    return dataclasses.replace(job, token=SPENT_TOKEN).to_json()


def confirm_key(subscriber_id: int, n: int) -> str:
    """The idempotency key of the ``n``-th answer to a sign-up of subscriber
    ``subscriber_id``."""
    return f"subscription:confirm:{subscriber_id}:{n}"


def stream_of(subscriber_id: int) -> str:
    """The outbox stream of one subscriber's own mails (the answers to sign-ups)."""
    return f"subscriber:{subscriber_id}"
