"""The entry of every change a person or a token makes: the service layer's operations
(:class:`monitor.incidents.service.Operations`, the account operations of
``dashboard.admin.accounts`` and ``dashboard.admin.tokens``) are declared with
:func:`operation`, which refuses what the actor's role does not allow before anything is
read or written, then appends the change to the audit log in the same transaction
(:mod:`monitor.audit`).

The web pages, the JSON API and the CLI all call those operations with ``actor=``; a
caller that gives none (Vigie itself, tests) acts as :data:`monitor.access.SYSTEM`.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from monitor.access import SYSTEM, Actor, Permission
from monitor.audit.record import audited

F = TypeVar("F", bound=Callable[..., Any])

_inside: contextvars.ContextVar[bool] = contextvars.ContextVar("vigie_operation",
                                                              default=False)


def operation(permission: Permission, action: str) -> Callable[[F], F]:
    """Declare a service-layer operation: it needs ``permission`` and is named ``action``
    (``incident.open``, ``user.add``…).

    The decorated function takes one more keyword, ``actor`` (default
    :data:`monitor.access.SYSTEM`). It is refused with :class:`monitor.access.Forbidden`
    before anything runs when the actor's role does not allow ``permission``. When the
    function has an ``author`` parameter left empty, the actor's name fills it; a function
    with an ``actor`` parameter receives it. It must have a ``session`` parameter: the
    audit entry (:func:`monitor.audit.record.audited`) is added to that session, so the
    caller's commit writes the change and its entry together. An operation called from
    inside another (resolving an incident posts its last update) is neither checked nor
    logged again: the outer one is.
    """
    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)
        parameters = signature.parameters
        takes_author, takes_actor = "author" in parameters, "actor" in parameters
        if "session" not in parameters:
            raise TypeError(f"{fn.__qualname__}: an operation takes the session it writes in")

        @functools.wraps(fn)
        def run(*args: Any, actor: Actor | None = None, **kwargs: Any) -> Any:
            actor = actor or SYSTEM
            if takes_actor:
                kwargs["actor"] = actor
            if _inside.get():
                return fn(*args, **kwargs)
            actor.require(permission, action)
            if takes_author and kwargs.get("author") is None:
                kwargs["author"] = actor.author
            arguments = signature.bind(*args, **kwargs).arguments
            token = _inside.set(True)
            try:
                return audited(action, arguments["session"], arguments, actor,
                               lambda: fn(*args, **kwargs))
            finally:
                _inside.reset(token)

        run.permission = permission  # type: ignore[attr-defined]  # a mark for the CLI
        run.action = action  # type: ignore[attr-defined]  # a mark for the CLI
        return run  # type: ignore[return-value]  # F plus `actor`

    return decorate


__all__ = ["operation"]
