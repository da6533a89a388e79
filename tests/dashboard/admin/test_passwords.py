"""Each application hashes and checks passwords with its own hasher (``PASSWORD_HASHER``,
made when the admin area is registered; no process-wide hasher to swap), and a login for
an unknown name costs what a wrong password costs with that hasher: the dummy hash it is
checked against is made with the same parameters."""

from __future__ import annotations

from argon2 import PasswordHasher

from dashboard import create_app
from dashboard.admin.context import passwords
from dashboard.admin.passwords import Passwords
from tests.dashboard.admin.conftest import login


class CountingHasher(PasswordHasher):
    """argon2 with the given parameters, noting the hashes it verifies against."""

    def __init__(self, memory_cost: int) -> None:
        super().__init__(time_cost=1, memory_cost=memory_cost, parallelism=1)
        self.verified: list[str] = []

    def verify(self, hash, password):  # noqa: A002 (argon2's own parameter name)
        self.verified.append(hash)
        return super().verify(hash, password)


def _app(admin_seeded, hasher: PasswordHasher):
    config, store, _ = admin_seeded
    return create_app(config, {"TESTING": True, "PASSWORD_HASHER": hasher}, store=store)


def test_two_applications_check_passwords_with_their_own_hasher(admin_seeded, volunteer):
    one, two = CountingHasher(1024), CountingHasher(2048)
    first, second = _app(admin_seeded, one), _app(admin_seeded, two)
    assert passwords(first).hasher is one and passwords(second).hasher is two
    assert login(first.test_client()).status_code == 303
    assert len(one.verified) == 1 and two.verified == []
    assert login(second.test_client()).status_code == 303
    assert len(one.verified) == 1 and len(two.verified) == 1


def test_without_a_hasher_an_application_uses_argon2s_defaults(admin_seeded):
    config, store, _ = admin_seeded
    app = create_app(config, {"TESTING": True}, store=store)
    default = PasswordHasher()
    chosen = passwords(app).hasher
    assert (chosen.time_cost, chosen.memory_cost, chosen.parallelism) == (
        default.time_cost, default.memory_cost, default.parallelism)


def test_an_unknown_name_is_checked_against_a_hash_with_the_apps_parameters(admin_seeded):
    hasher = CountingHasher(2048)
    client = _app(admin_seeded, hasher).test_client()
    assert login(client, username="nobody").status_code == 401
    assert login(client, username="nobody-else").status_code == 401
    first, again = hasher.verified
    assert first == again  # made once for this hasher
    assert "m=2048,t=1,p=1" in first and not hasher.check_needs_rehash(first)
    other = CountingHasher(1024)
    assert Passwords(other).verify(None, "whatever") is None
    assert "m=1024,t=1,p=1" in other.verified[0]  # another hasher, a dummy of its own
