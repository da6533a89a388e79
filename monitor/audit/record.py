"""Writing the audit log: one entry per operation, in the operation's transaction.

:func:`monitor.guard.operation` calls :func:`audited` around every service-layer
operation: the target is found before the change (its "before" snapshot), the operation
runs, the target is written again ("after"), and the entry is added to the same session.
The caller's commit writes the change and its entry together; a refused or failed
operation writes neither. Text from outside (a name, an address) is cleaned with
:mod:`monitor.safetext`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from monitor.access import Actor
from monitor.audit.targets import CREATIONS, kind_of, locate, target_id
from monitor.safetext import clean_line
from monitor.store.audit import AuditEntry


def _plain(value: Any) -> Any:
    """``value`` as plain JSON (what the column stores the same way on both engines)."""
    return None if value is None else json.loads(json.dumps(value, default=str))


def append(session: Session, actor: Actor, action: str, target_type: str,
           target: str | None, before: Any, after: Any,
           at: float | None = None) -> AuditEntry:
    """Add one entry to the log (in ``session``'s transaction)."""
    entry = AuditEntry(at=time.time() if at is None else at,
                       actor=clean_line(actor.name, 64), role=clean_line(actor.role, 40),
                       via=actor.via, token_id=actor.token_id,
                       address=clean_line(actor.address, 200) or None, action=action,
                       target_type=target_type,
                       target_id=clean_line(target, 64) if target is not None else None,
                       before=_plain(before), after=_plain(after))
    session.add(entry)
    session.flush()
    return entry


def audited(action: str, session: Session, arguments: Mapping[str, Any], actor: Actor,
            change: Callable[[], Any]) -> Any:
    """Run ``change`` (the operation) and log it with the target before and after."""
    kind = kind_of(action)
    creation = action in CREATIONS
    found = None if creation else locate(action, session, arguments, actor)
    before = kind.snapshot(found) if found is not None else None
    result = change()
    row = kind.created(session, result) if creation else locate(action, session, arguments, actor)
    after = kind.snapshot(row) if row is not None else None
    append(session, actor, action, kind.name, target_id(row if row is not None else found),
           before, after)
    return result
