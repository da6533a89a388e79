"""What the admin views and the API share: the store, the volunteers' operations, the
configuration, the current language.

The dashboard's ``create_app`` keeps its configuration and store in
``app.extensions["vigie"]``; the admin area adds, lazily, an
:class:`monitor.incidents.service.Operations` bound to an
:class:`monitor.incidents.context.IncidentContext` (so that an incident opened by hand
reaches the same plugins — alerts, forum, helpdesk — as an automatic one) and the login
limiter and its log throttle, in ``app.extensions["vigie_admin"]``, with the password
hasher of the application (:func:`passwords`), made when the admin blueprint is registered.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app
from sqlalchemy.orm import Session

from dashboard.admin.passwords import Passwords
from dashboard.admin.ratelimit import LoginLimiter
from monitor.logthrottle import LogThrottle

log = logging.getLogger(__name__)


@dataclass
class AdminState:
    """Per-application state of the admin area."""

    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    #: a login flood writes a line per address and minute (and per name for failures),
    #: not one per attempt; per application, so one app's flood hides nothing of another's
    login_log: LogThrottle = field(default_factory=lambda: LogThrottle(60.0))
    operations: Any = None
    #: the webhook endpoints' plugins of a dashboard serving alone, and when they were read
    webhooks: Any = None
    webhooks_read_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: how this application hashes and checks passwords (see :func:`setup_passwords`)
    passwords: Passwords | None = None


def admin_state(app: Flask | None = None) -> AdminState:
    """The admin state of ``app`` (the current app by default), created on first use."""
    app = app or current_app
    found = app.extensions.get("vigie_admin")
    if found is None:
        found = app.extensions.setdefault("vigie_admin", AdminState())
    return found


def setup_passwords(app: Flask) -> Passwords:
    """Give ``app`` its password hasher: argon2 with the hasher in its
    ``PASSWORD_HASHER`` setting (an :class:`argon2.PasswordHasher`; tests give cheaper
    parameters), argon2's defaults otherwise. Called when the admin blueprint is
    registered."""
    state = admin_state(app)
    state.passwords = Passwords(app.config.get("PASSWORD_HASHER"))
    return state.passwords


def passwords(app: Flask | None = None) -> Passwords:
    """How ``app`` (the current app by default) hashes and checks passwords.

    :raises RuntimeError: the admin area is not registered on ``app``.
    """
    found = admin_state(app).passwords
    if found is None:
        raise RuntimeError("the admin area is not registered on this application")
    return found


def vigie_state() -> Any:
    """The dashboard's shared state (configuration, store, settings)."""
    return current_app.extensions["vigie"]


def config() -> Any:
    """The loaded :class:`monitor.config.Config`."""
    return vigie_state().config


@contextmanager
def transaction(*, publish: bool = True) -> Iterator[Session]:
    """A session in a transaction, committed when the block ends without error.

    With ``publish``, the status page's snapshot is dropped after the commit, so the
    change shows at once in this process (other processes see it within the dashboard's
    ``check_interval``).
    """
    state = vigie_state()
    with state.store.write_session() as session, session.begin():
        yield session
    cache = getattr(state, "cache", None)
    if publish and hasattr(cache, "invalidate"):
        cache.invalidate()


@contextmanager
def reading() -> Iterator[Session]:
    """A session for reading only."""
    with vigie_state().store.session() as session:
        yield session


def operations() -> Any:
    """The volunteers' operations (:class:`monitor.incidents.service.Operations`).

    Tests (or a host process) may put one in ``ADMIN_OPERATIONS``; otherwise it is built
    once from the configuration and the plugins, exactly as ``vigie run`` builds its own.
    """
    given = current_app.config.get("ADMIN_OPERATIONS")
    if given is not None:
        return given
    state = admin_state()
    with state.lock:
        if state.operations is None:
            state.operations = _build_operations(config(),
                                                 current_app.config.get("PLUGIN_MANAGER"))
        _follow_webhooks(state)
        return state.operations


def _build_operations(cfg: Any, pm: Any) -> Any:
    from monitor.incidents.context import IncidentContext
    from monitor.incidents.service import Operations
    from monitor.plugins import build_plugin_manager

    if pm is None:
        pm = build_plugin_manager(blocked=cfg.file.plugins.blocked)
    return Operations(IncidentContext.build(cfg, pm))


def _follow_webhooks(state: AdminState) -> None:
    """A dashboard serving alone (not inside ``vigie run``, whose context follows the
    endpoints itself) writes the webhook endpoints' rows too: their plugins are read
    again every ``webhooks.refresh_every``."""
    from monitor.webhooks.registry import writer_registry
    from monitor.webhooks.settings import settings_of

    ctx = state.operations.ctx
    if ctx.plugins is None:
        return
    now = current_app.config["CLOCK"]()
    if state.webhooks is not None and now - state.webhooks_read_at < settings_of(
            config()).refresh_every:
        return
    if state.webhooks is None:
        state.webhooks = writer_registry(ctx.plugins, ctx)
    try:
        with reading() as session:
            state.webhooks.sync(session)
    except Exception:  # the events are still written, without the endpoints' rows
        log.warning("webhooks: cannot read the endpoints; will retry", exc_info=True)
        return
    state.webhooks_read_at = now
