"""Which role may open which page of the admin area and call which API route.

Every view declares what it needs with :func:`requires` (or :func:`public`); the
blueprints check it before the view runs (:func:`refusal`), and a view with no
declaration is refused to everybody (and logged), so a route added without thinking
about roles fails closed. The service layer checks again (:mod:`monitor.guard`). The
templates hide what the volunteer may not use (:func:`may`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g, request

from monitor.access import Actor, Forbidden, Permission

log = logging.getLogger(__name__)

V = TypeVar("V", bound=Callable[..., Any])

#: what :func:`public` declares: reachable without being signed in
PUBLIC = "public"
#: endpoints Flask makes for the blueprints' static files
STATIC_ENDPOINTS = frozenset({"admin.static"})


def requires(permission: Permission) -> Callable[[V], V]:
    """Declare that a view needs ``permission`` (put it under ``@bp.route``)."""
    def mark(view: V) -> V:
        view.vigie_permission = permission  # type: ignore[attr-defined]  # a mark on the view
        return view
    return mark


def public(view: V) -> V:
    """Declare that a view is reachable without being signed in (the login form)."""
    view.vigie_permission = PUBLIC  # type: ignore[attr-defined]  # a mark on the view
    return view


def declared(endpoint: str | None) -> Permission | str | None:
    """What ``endpoint`` needs (:data:`PUBLIC` for public ones), None when undeclared."""
    if endpoint in STATIC_ENDPOINTS:
        return PUBLIC
    view = current_app.view_functions.get(endpoint or "")
    return getattr(view, "vigie_permission", None)


def current_actor() -> Actor:
    """Who acts in this request: the signed-in volunteer or the API token (set by the
    blueprints' guards)."""
    actor = g.get("vigie_actor")
    if actor is None:  # a guard always sets it before a view that needs it runs
        raise RuntimeError("no actor for this request")
    return actor


def set_actor(actor: Actor) -> None:
    """Record who acts in this request (the guards call it)."""
    g.vigie_actor = actor


def refusal() -> Forbidden | None:
    """The refusal of this request by the role rules, or None when it may go on."""
    needed = declared(request.endpoint)
    if needed == PUBLIC:
        return None
    actor = g.get("vigie_actor")
    if needed is None:
        log.error("refused: %s %s declares no permission (dashboard.admin.roles.requires)",
                  request.method, request.endpoint)
        return Forbidden(None, actor.role if actor else "none")
    assert isinstance(needed, Permission)
    if actor is None:
        return Forbidden(needed, "none")
    try:
        actor.require(needed, request.endpoint or "")
    except Forbidden as exc:
        return exc
    return None


def may(endpoint: str) -> bool:
    """Whether the current volunteer may use ``endpoint`` (templates hide the rest)."""
    needed = declared(endpoint)
    actor = g.get("vigie_actor")
    if needed == PUBLIC:
        return True
    return actor is not None and isinstance(needed, Permission) and actor.can(needed)
