"""The volunteers' operations on agent tokens (add, revoke) and what the lists show.

``vigie agent-token``, the admin page ``/admin/agents`` and the JSON API
(``/admin/api/v1/agents``) call these. Each operation is declared with
:func:`monitor.guard.operation` (permission :attr:`~monitor.access.Permission.AGENTS`,
administrators), takes the caller's session (the caller commits) and is written to the
audit log, without the token's hash (:data:`monitor.audit.targets.LEFT_OUT`). A bad
value raises :class:`~monitor.incidents.inputs.InvalidInput` naming the field; an
unknown name :class:`~monitor.incidents.inputs.NotFound`.

The token is returned once, in a :class:`NewAgentToken`, by
:meth:`AgentOperations.add_token`; :class:`AgentRecord` (what every list shows) has no
field for it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.access import Permission
from monitor.agents import tokens
from monitor.agents.assignments import Assignments
from monitor.agents.models import NAME_MAX, AgentToken
from monitor.guard import operation
from monitor.incidents.inputs import InvalidInput, NotFound
from monitor.words import _

#: what a token's name may hold (as a node name: ``lyon-1``, ``maison-alice``)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
#: a token's states: it has sent a batch, never sent one, or is revoked
STATES = ("active", "waiting", "revoked")


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """An agent token as volunteers see it: everything but the token and its hash."""

    id: int
    name: str
    location: str
    #: ``active`` (has sent a batch), ``waiting`` (never sent one), ``revoked``
    state: str
    created_at: float
    created_by: str | None
    revoked_at: float | None
    last_batch_at: float | None
    last_seen_address: str | None
    #: results the agent still held at its last batch, and those it had to drop
    buffered: int
    dropped: int
    agent_name: str | None
    agent_boot: str | None
    last_seq: int | None


@dataclass(frozen=True, slots=True)
class NewAgentToken:
    """A token just made, shown once (``repr`` hides it)."""

    agent: AgentRecord
    token: str = field(repr=False)


def record_of(row: AgentToken) -> AgentRecord:
    """The volunteers' view of a row."""
    state = ("revoked" if row.revoked_at is not None
             else "active" if row.last_batch_at is not None else "waiting")
    return AgentRecord(row.id, row.name, row.location, state, row.created_at, row.created_by,
                       row.revoked_at, row.last_batch_at, row.last_seen_address,
                       row.buffered or 0, row.dropped or 0, row.agent_name, row.agent_boot,
                       row.last_seq)


def agents(session: Session) -> list[AgentRecord]:
    """Every agent token, in the order they were made."""
    return [record_of(r) for r in session.scalars(select(AgentToken).order_by(AgentToken.id))]


def agent(session: Session, name: str) -> AgentRecord:
    """One agent token by name.

    :raises NotFound: no such token.
    """
    return record_of(_row(session, name))


def _row(session: Session, name: object) -> AgentToken:
    found = session.scalars(select(AgentToken).where(
        AgentToken.name == str(name or "").strip())).first()
    if found is None:
        raise NotFound("name", _("No agent token has this name."))
    return found


def name_field(value: object) -> str:
    """A token's name: letters, digits, ``-``, ``_``, ``.``, at most 63."""
    name = "" if value is None else str(value).strip()
    if not name:
        raise InvalidInput("name", _("This field is required."))
    if not NAME.match(name):
        raise InvalidInput("name", _("Invalid name: use letters, digits, “-”, “_” and “.”, "
                                     "starting with a letter or digit, at most {limit} "
                                     "characters (e.g. lyon-1).", limit=NAME_MAX))
    return name


def location_field(value: object, assignments: Assignments) -> str:
    """A remote location named in the configuration (``locations.remote``)."""
    location = "" if value is None else str(value).strip()
    if not location:
        raise InvalidInput("location", _("This field is required."))
    known = sorted(assignments.remote_locations())
    if location not in known:
        if not known:
            raise InvalidInput("location", _("No remote location is configured: add it under "
                                             "“locations.remote” in the configuration "
                                             "first."))
        raise InvalidInput("location", _("Unknown location “{value}” (one of: {allowed}).",
                                         value=location[:60], allowed=", ".join(known)))
    return location


class AgentOperations:
    """The operations on agent tokens, with the configured locations and a clock."""

    def __init__(self, assignments: Assignments,
                 clock: Callable[[], float] = time.time) -> None:
        self.assignments = assignments
        self.clock = clock

    @operation(Permission.AGENTS, "agent_token.add")
    def add_token(self, session: Session, *, name: str, location: str,
                  author: str | None = None) -> NewAgentToken:
        """Make a token for the agent ``name`` at ``location``; the token is returned once.

        :raises InvalidInput: a bad or taken name, a location that is not a configured
            remote location.
        """
        name = name_field(name)
        location = location_field(location, self.assignments)
        if session.scalars(select(AgentToken.id).where(AgentToken.name == name)).first():
            raise InvalidInput("name", _("An agent token named “{name}” exists already "
                                         "(revoke it and choose another name).", name=name))
        token = tokens.new_token()
        row = AgentToken(name=name, location=location, token_hash=tokens.digest(token),
                         created_at=self.clock(), created_by=author, buffered=0, dropped=0)
        session.add(row)
        session.flush()
        return NewAgentToken(record_of(row), token)

    @operation(Permission.AGENTS, "agent_token.revoke")
    def revoke_token(self, session: Session, name: str) -> AgentRecord:
        """Revoke the token ``name``: its next request is refused (401
        ``token_revoked``). Its results stay. Revoking it again changes nothing.

        :raises NotFound: no such token.
        """
        row = _row(session, name)
        if row.revoked_at is None:
            row.revoked_at = self.clock()
            session.flush()
        return record_of(row)


__all__ = ["STATES", "AgentOperations", "AgentRecord", "NewAgentToken", "agent", "agents",
           "location_field", "name_field", "record_of"]
