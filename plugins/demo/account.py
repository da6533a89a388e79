"""The demo's volunteer account: ``demo``, with a new random password at each start.

So that a visitor can open the volunteers' area (``/admin/``) at once, ``vigie demo``
creates the account before Vigie starts (or gives it a new password when it already
exists) and prints the password. It lives in the demo's own database only. Doing it before
Vigie starts matters with SQLite: the result writer would otherwise hold the write lock
while the password is hashed.
"""

from __future__ import annotations

import secrets

DEMO_USER = "demo"


def new_password() -> str:
    """A random password, long enough for the admin area's rules (16 characters)."""
    return secrets.token_urlsafe(12)


def ensure_demo_account(database_url: str, username: str = DEMO_USER) -> str:
    """Bring the database at ``database_url`` to the current schema, create ``username``
    there (or reset its password), and return the new password. Blocking: call it from a
    thread, before Vigie starts writing.

    :raises ImportError: the dashboard (admin area) is not installed.
    :raises dashboard.admin.accounts.AccountError: the account could not be written.
    """
    from dashboard.admin import accounts
    from dashboard.admin.passwords import Passwords
    from monitor.store import Store

    password = new_password()
    store = Store(database_url)
    try:
        store.upgrade()  # what `vigie run` does first with the embedded SQLite store
        with store.session() as session, session.begin():
            if accounts.get_user(session, username) is None:
                accounts.create_user(session, username, password, passwords=Passwords())
            else:
                accounts.set_password(session, username, password, passwords=Passwords())
    finally:
        store.dispose()
    return password
