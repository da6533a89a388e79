"""Signing up: the answer and the outbox row are the same whatever the address's state
(no enumeration), the confirmation link works once and expires, the rate limits, the
input checked at the door."""

from __future__ import annotations

import json

import pytest

from monitor.subscriptions.errors import (
    InvalidSubscription,
    SubscriptionsUnavailable,
    TooManyRequests,
)
from monitor.subscriptions.jobs import MEMBER_MAIL_HOOK, MEMBER_MAIL_PLUGIN
from monitor.subscriptions.service import token_hash
from tests.monitor.subscriptions.conftest import build


def test_a_sign_up_is_pending_with_a_confirmation_mail_queued(setup):
    assert setup.ask("Alice@Example.org", "en", services=["web", "sympa"]) is None
    row = setup.row("alice@example.org")
    assert (row.email, row.email_key, row.language, row.state) == (
        "Alice@Example.org", "alice@example.org", "en", "pending")
    assert (row.everything, row.services, row.groups) == (False, ["web", "sympa"], [])
    [entry] = setup.outbox()
    [job] = setup.jobs()
    assert (entry.hook, entry.plugin, entry.stream, entry.idempotency_key) == (
        MEMBER_MAIL_HOOK, MEMBER_MAIL_PLUGIN, f"subscriber:{row.id}",
        f"subscription:confirm:{row.id}:1")
    assert (job.kind, job.subscriber_ids, job.idempotency_key) == (
        "confirm", (row.id,), entry.idempotency_key)
    # the token travels in the mail; the table keeps its hash only
    assert job.token and row.confirm_hash == token_hash(job.token) != job.token
    assert row.confirm_expires_at == setup.clock.now + 48 * 3600
    assert "alice" not in entry.payload.lower()  # the row names the subscriber by id
    assert setup.woken == [1]


def _shape(entry):
    """An outbox row with its subscriber, counter and token taken out."""
    job = json.loads(entry.payload)
    subscriber = job["subscriber_ids"][0]
    assert entry.stream == f"subscriber:{subscriber}"
    assert entry.idempotency_key == job["idempotency_key"]
    prefix, who, _n = entry.idempotency_key.rsplit(":", 2)
    assert int(who) == subscriber
    return (entry.hook, entry.plugin, prefix, tuple(sorted(job)), job["kind"],
            len(job["subscriber_ids"]), job["event"], job["thread"])


def test_the_answer_is_the_same_for_new_pending_and_confirmed_addresses(setup):
    """No enumeration: each call returns None and queues one row of the same shape; only
    the mail differs (a confirmation link, or the manage link of a confirmed address)."""
    outcomes = []
    setup.ask("new@example.org")
    setup.ask("pending@example.org")
    setup.ask("pending@example.org")  # asked again while pending
    confirmed = setup.subscribe("confirmed@example.org")
    before = len(setup.outbox())
    outcomes.append(setup.ask("confirmed@example.org", "en", everything=True))
    entries = setup.outbox()
    assert len(entries) == before + 1 and outcomes == [None]
    shapes = {_shape(e) for e in entries}
    assert len(shapes) == 1
    tokens = [j.token for j in setup.jobs()]
    assert all(tokens[:-1]) and tokens[-1] is None  # confirmed: the manage link instead
    # a confirmed address is not changed by someone typing it
    row = setup.row("confirmed@example.org")
    assert (row.id, row.state, row.language, row.everything, row.services) == (
        confirmed, "confirmed", "fr", False, ["web"])
    assert row.requests == 2 and entries[-1].idempotency_key.endswith(f":{confirmed}:2")


def test_the_confirmation_link_works_once(setup):
    setup.ask(services=["web"], groups=["lists"])
    token = setup.last_token()
    view = setup.service.confirm(token)
    assert view is not None and view.state == "confirmed"
    assert (view.email, view.services, view.groups) == ("alice@example.org", ("web",),
                                                        ("lists",))
    assert view.confirmed_at == setup.clock.now
    assert setup.service.confirm(token) is None
    row = setup.row()
    assert (row.confirm_hash, row.confirm_expires_at) == (None, None)
    assert setup.service.confirm("not-a-token") is None
    assert setup.service.confirm("") is None


def test_the_confirmation_link_expires(setup):
    setup.ask()
    token = setup.last_token()
    setup.clock.now += 48 * 3600 + 1
    assert setup.service.confirm(token) is None
    assert setup.row().state == "pending"


def test_the_link_is_still_good_just_before_it_expires(setup):
    setup.ask()
    token = setup.last_token()
    setup.clock.now += 48 * 3600 - 1
    assert setup.service.confirm(token) is not None


def test_asking_again_while_pending_replaces_the_link_and_the_choice(setup):
    setup.ask(services=["web"])
    first = setup.last_token()
    setup.clock.now += 60
    setup.ask(" alice@EXAMPLE.org", "en", everything=True)
    second = setup.last_token()
    assert first != second
    assert setup.service.confirm(first) is None
    view = setup.service.confirm(second)
    assert view is not None and (view.language, view.everything, view.services) == (
        "en", True, ())
    assert view.email == "alice@EXAMPLE.org"


def test_the_address_limit_counts_each_address_without_case(setup):
    for n in range(5):
        setup.ask("bob@example.org" if n % 2 else "BOB@example.org", client=f"198.51.100.{n}")
    with pytest.raises(TooManyRequests) as refused:
        setup.ask("Bob@Example.org", client="198.51.100.99")
    assert refused.value.status == 429 and "hour" in refused.value.message("en")
    assert "heure" in refused.value.message("fr")
    assert len(setup.outbox()) == 5  # the refused one wrote nothing
    setup.ask("carol@example.org", client="198.51.100.99")  # another address is fine
    setup.clock.now += 3601
    setup.ask("bob@example.org", client="198.51.100.99")


def test_the_client_limit_counts_an_ipv6_64_as_one(sqlite_setup):
    setup = sqlite_setup
    for n in range(20):
        setup.ask(f"m{n}@example.org", client=f"2001:db8:1:2::{n + 1:x}")
    with pytest.raises(TooManyRequests):
        setup.ask("other@example.org", client="2001:db8:1:2:ffff::1")
    setup.ask("other@example.org", client="2001:db8:1:3::1")


def test_a_refused_request_counts_nothing(sqlite_setup):
    setup = sqlite_setup
    for _ in range(10):
        with pytest.raises(InvalidSubscription):
            setup.ask("not an address")
    setup.ask()


@pytest.mark.parametrize(("email", "language", "services", "groups", "field"), [
    ("", "fr", ["web"], [], "email"),
    ("alice", "fr", ["web"], [], "email"),
    ("alice@localhost", "fr", ["web"], [], "email"),
    ("a" * 250 + "@example.org", "fr", ["web"], [], "email"),
    ("alice@example.org", "de", ["web"], [], "language"),
    ("alice@example.org", "fr", [], [], "services"),
    ("alice@example.org", "fr", ["nope"], [], "services"),
    ("alice@example.org", "fr", ["web"], ["nope"], "services"),
])
def test_bad_input_is_refused_with_words_for_the_member(sqlite_setup, email, language,
                                                        services, groups, field):
    with pytest.raises(InvalidSubscription) as refused:
        sqlite_setup.ask(email, language, services=services, groups=groups)
    error = refused.value
    assert (error.field, error.status) == (field, 400)
    assert error.message("fr") and error.message("en") and error.fr != error.en
    assert sqlite_setup.outbox() == []


def test_control_characters_are_cleaned_from_the_address(sqlite_setup):
    sqlite_setup.ask("\talice@example.org\u202e\x00")
    assert sqlite_setup.row("alice@example.org") is not None


def test_without_mail_subscriptions_are_unavailable(tmp_path):
    setup = build(f"sqlite:///{tmp_path / 'v.sqlite'}", tmp_path, extra="")
    assert not setup.service.available
    with pytest.raises(SubscriptionsUnavailable) as refused:
        setup.ask()
    assert refused.value.status == 503 and refused.value.message("en")
    assert setup.outbox() == []


def test_switched_off_subscriptions_are_unavailable(tmp_path):
    from tests.monitor.subscriptions.conftest import MAIL

    setup = build(f"sqlite:///{tmp_path / 'v.sqlite'}", tmp_path,
                  extra=MAIL + "subscriptions: {enabled: false}\n")
    assert not setup.service.available
    with pytest.raises(SubscriptionsUnavailable):
        setup.ask()


def test_racing_sign_ups_of_one_address_give_one_subscriber(setup):
    """Five threads (the address's hourly limit) ask at once for the same new address:
    one row, five answers, each with its own key (none lost to a conflict)."""
    import threading

    start = threading.Barrier(5)
    errors: list[BaseException] = []

    def ask(n: int) -> None:
        try:
            start.wait()
            setup.ask("Race@example.org", client=f"192.0.2.{n}")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    row = setup.row("race@example.org")
    keys = sorted(e.idempotency_key for e in setup.outbox())
    assert row.requests == 5
    assert keys == sorted(f"subscription:confirm:{row.id}:{n}" for n in range(1, 6))
    assert {e.stream for e in setup.outbox()} == {f"subscriber:{row.id}"}
