"""What each operation changes (its target) and how the target is written in the audit
log: a JSON snapshot of its columns, without secrets.

An operation's name is ``<kind>.<verb>`` (``incident.open``, ``user.role``); the kind
says which table the target is in and which argument of the operation names it. An
operation that creates its target (``*.add``, ``incident.open``) has no "before": its
result is the target.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from monitor.access import Actor
from monitor.agents.models import AgentToken
from monitor.incidents.models import Incident, MaintenanceWindow, Notice, OutboxEntry
from monitor.store.accounts import AdminSession, ApiToken, User
from monitor.subscriptions.models import Subscriber
from monitor.webhooks.models import WebhookEndpoint

#: columns never written in the log: secrets (a webhook's signing secrets too), and the
#: outbox's bulky copy of the event
LEFT_OUT = frozenset({"password_hash", "token_hash", "prefix", "payload", "idempotency_key",
                      "secret", "previous_secret"})
#: operations that create their target
CREATIONS = frozenset({"incident.open", "maintenance.add", "notice.add", "user.add",
                       "token.add", "webhook.add", "agent_token.add"})


def _columns(row: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr in inspect(row).mapper.column_attrs:
        if attr.key in LEFT_OUT:
            continue
        value = getattr(row, attr.key)
        out[attr.key] = list(value) if isinstance(value, (list, tuple)) else value
    return out


def _incident(row: Incident) -> dict[str, Any]:
    out = _columns(row)
    out["services"] = sorted(s.service_id for s in row.services)
    out["updates"] = len(row.updates)
    if row.updates:
        last = max(row.updates, key=lambda u: (u.at, u.id or 0))
        out["last_update"] = {k: getattr(last, k) for k in (
            "kind", "phase", "impact", "public", "author", "message_fr", "message_en")}
    return out


def _user(row: User) -> dict[str, Any]:
    out = _columns(row)
    session = inspect(row).session
    if session is not None:  # the sessions not ended yet (a sign-out shows as a drop)
        out["open_sessions"] = session.scalar(
            select(func.count()).select_from(AdminSession)
            .where(AdminSession.user_id == row.id, AdminSession.ended_at.is_(None))) or 0
    return out


def _token(row: ApiToken) -> dict[str, Any]:
    out = _columns(row)
    out["user"] = row.user.username if row.user is not None else None
    return out


#: what the log keeps of a subscriber: never the address (the log is append-only, and a
#: forgotten address must be nowhere), nor its secrets
SUBSCRIBER_COLUMNS = ("id", "state", "language", "everything", "services", "groups",
                      "created_at", "confirmed_at", "failures")


def _subscriber(row: Subscriber) -> dict[str, Any]:
    return {name: (list(value) if isinstance(value := getattr(row, name), (list, tuple))
                   else value) for name in SUBSCRIBER_COLUMNS}


def _by_id(model: type) -> Callable[[Session, Any], Any]:
    def load(session: Session, value: Any) -> Any:
        try:
            return session.get(model, int(value))
        except (TypeError, ValueError):
            return None
    return load


def _incident_by_id_or_reference(session: Session, value: Any) -> Incident | None:
    if str(value).isdigit():
        return session.get(Incident, int(value))
    return session.scalars(select(Incident).where(Incident.reference == str(value))).first()


def _agent_by_name(session: Session, value: Any) -> AgentToken | None:
    return session.scalars(select(AgentToken).where(AgentToken.name == str(value or "")
                                                    .strip())).first()


def _user_by_name(session: Session, value: Any) -> User | None:
    name = str(value or "").strip().lower()
    return session.scalars(select(User).where(User.username == name)).first()


@dataclass(frozen=True, slots=True)
class Kind:
    """A kind of target: its name in the log, the argument naming it, how to find it and
    how to write it."""

    name: str
    argument: str | None
    find: Callable[[Session, Any], Any]
    snapshot: Callable[[Any], dict[str, Any]]
    #: the target from the operation's result, for the creations (an account operation
    #: returns a plain record: its row is loaded again)
    created: Callable[[Session, Any], Any] = lambda session, result: result


KINDS: dict[str, Kind] = {
    "incident": Kind("incident", "incident_id", _incident_by_id_or_reference, _incident),
    "maintenance": Kind("maintenance", "window_id", _by_id(MaintenanceWindow), _columns),
    "notice": Kind("notice", "notice_id", _by_id(Notice), _columns),
    "delivery": Kind("delivery", "outbox_id", _by_id(OutboxEntry), _columns),
    "user": Kind("user", "username", _user_by_name, _user,
                 created=lambda session, result: session.get(User, result.id)),
    "token": Kind("token", "token_id", _by_id(ApiToken), _token,
                  created=lambda session, result: session.get(ApiToken, result.token.id)),
    "subscriber": Kind("subscriber", "subscriber_id", _by_id(Subscriber), _subscriber),
    "webhook": Kind("webhook", "endpoint_id", _by_id(WebhookEndpoint), _columns,
                    created=lambda session, result: session.get(WebhookEndpoint,
                                                                result.endpoint.id)),
    "agent_token": Kind("agent_token", "name", _agent_by_name, _columns,
                        created=lambda session, result: session.get(AgentToken,
                                                                    result.agent.id)),
    # "sign out everywhere": the acting volunteer's own account
    "session": Kind("user", None, _user_by_name, _user),
}


def kind_of(action: str) -> Kind:
    """The kind of target of ``action`` (``incident.open`` → incidents)."""
    return KINDS[action.split(".", 1)[0]]


def locate(action: str, session: Session, arguments: Mapping[str, Any],
           actor: Actor) -> Any:
    """The target of ``action`` as the operation's arguments name it (None when there is
    none yet, or any more)."""
    kind = kind_of(action)
    value = arguments.get(kind.argument) if kind.argument else actor.name
    return kind.find(session, value) if value is not None else None


def target_id(row: Any) -> str | None:
    """How the log names a target: its id (a user by name)."""
    if row is None:
        return None
    if isinstance(row, User):
        return row.username
    return str(row.id)
