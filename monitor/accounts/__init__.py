"""The volunteers' accounts as the core stores them: users, API tokens, admin sessions.

:mod:`monitor.accounts.store` holds every query on the account tables
(:mod:`monitor.store.accounts`) and returns plain frozen records (:class:`UserRecord`,
:class:`TokenRecord`, :class:`SessionRecord`), never ORM rows. What a password or a token
*is* (argon2 hashing, name rules, roles, the session timeouts) stays with the admin area
(``dashboard.admin.accounts``, ``sessions``, ``tokens``), which calls only these functions.
"""

from monitor.accounts.store import SessionRecord, TokenRecord, UserRecord

__all__ = ["SessionRecord", "TokenRecord", "UserRecord"]
