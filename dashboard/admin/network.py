"""Whether the admin area's cookies are ``Secure`` (:func:`cookie_secure`).

Where a request comes from (:func:`dashboard.clients.client_of`) is shared with the
members' forms.
"""

from __future__ import annotations

from flask import Flask, request

from dashboard.clients import is_loopback


def cookie_secure(app: Flask) -> bool:
    """Whether the admin area's cookies get the ``Secure`` flag (sent over HTTPS only).

    In order: the app setting ``ADMIN_SECURE_COOKIES`` (True/False), the configuration's
    ``dashboard.secure_cookies``; when neither is set, Secure unless the listener is a
    loopback address (``127.0.0.1:8080`` behind a reverse proxy, or a laptop) — and
    Secure anyway for a request that came over HTTPS.
    """
    explicit = app.config.get("ADMIN_SECURE_COOKIES")
    if explicit is None:
        state = app.extensions.get("vigie")
        explicit = getattr(getattr(state, "settings", None), "secure_cookies", None)
    if explicit is not None:
        return bool(explicit)
    if request and request.is_secure:
        return True
    state = app.extensions.get("vigie")
    listen_host = None
    if state is not None and getattr(state, "config", None) is not None:
        listen_host = state.config.file.server.host
    return not is_loopback(listen_host)
