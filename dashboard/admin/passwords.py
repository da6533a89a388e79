"""How volunteers' passwords are hashed and checked: one :class:`Passwords` per
application (the admin area's, made when the blueprint is registered, see
:func:`dashboard.admin.context.passwords`) or per command (``vigie user``, the demo).

Hashes are argon2id (argon2-cffi's :class:`~argon2.PasswordHasher`, its default parameters
unless the application is given another hasher: ``PASSWORD_HASHER``, cheaper ones in
tests). A stored hash names its own parameters, so hashes made with others keep working
and are re-hashed at the next login. Each hash and check holds one of the process's few
hashing slots (:mod:`dashboard.admin.hashslots`). Nothing here logs a password.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dashboard.admin import hashslots

#: longest password accepted (argon2 handles any length; this bounds the work per request)
MAX_PASSWORD_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class Verified:
    """A password that matched; ``rehash`` is its new hash when the stored one was made
    with other argon2 parameters (to store at the login), else None."""

    rehash: str | None = None


class Passwords:
    """One argon2 hasher, with the dummy hash a login for an unknown name is checked
    against, so that a wrong name takes as long as a wrong password with these
    parameters."""

    def __init__(self, hasher: PasswordHasher | None = None,
                 slots: hashslots.HashSlots | None = None) -> None:
        #: the argon2 hasher (its parameters)
        self.hasher = hasher if hasher is not None else PasswordHasher()
        #: the slots every hash and check holds (the process's, by default)
        self.slots = slots if slots is not None else hashslots.SLOTS
        self._dummy: str | None = None

    def hash(self, password: str) -> str:
        """An argon2id hash of ``password`` (PHC string), made in a hashing slot.

        :raises dashboard.admin.hashslots.HashingBusy: every hashing slot is taken.
        """
        with self.slots.slot():
            return self.hasher.hash(password)

    def _dummy_hash(self) -> str:
        # made on the first login for an unknown name (two threads may both make one:
        # either does), then kept for this hasher's life
        if self._dummy is None:
            self._dummy = self.hasher.hash(secrets.token_urlsafe(16))
        return self._dummy

    def verify(self, stored_hash: str | None, password: str | None) -> Verified | None:
        """Whether ``password`` matches ``stored_hash`` (None: no such user, the dummy
        hash is checked so that the answer takes as long), holding a hashing slot.

        Call it outside any write transaction: it takes tens of milliseconds.

        :raises dashboard.admin.hashslots.HashingBusy: every hashing slot is taken.
        """
        if password is None or len(password) > MAX_PASSWORD_LENGTH:
            password = ""
        with self.slots.slot():
            try:
                self.hasher.verify(stored_hash or self._dummy_hash(), password)
            except (VerificationError, InvalidHashError):
                return None
            if stored_hash is None:  # the dummy hash's password is random: cannot happen
                return None
            if self.hasher.check_needs_rehash(stored_hash):
                return Verified(self.hasher.hash(password))
        return Verified()


__all__ = ["MAX_PASSWORD_LENGTH", "Passwords", "Verified"]
