"""After the sign-up: the manage link (change, unsubscribe), forget and export, the purge
of unconfirmed addresses, counts and recipients."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from monitor.access import Actor, Forbidden
from monitor.incidents.models import OutboxEntry
from monitor.store.audit import AuditEntry
from monitor.subscriptions import records
from monitor.subscriptions.errors import InvalidSubscription, UnknownToken
from monitor.subscriptions.models import Subscriber
from monitor.subscriptions.service import forget_subscriber


def test_the_manage_link_finds_changes_and_unsubscribes(setup):
    setup.subscribe()
    token = setup.row().manage_token
    view = setup.service.by_manage_token(token)
    assert view is not None and (view.email, view.state) == ("alice@example.org", "confirmed")
    setup.clock.now += 10
    changed = setup.service.update(token, language="en", everything=False,
                                   services=["cloud"], groups=["hosting"])
    assert (changed.language, changed.everything, changed.services, changed.groups) == (
        "en", False, ("cloud",), ("hosting",))
    assert setup.row().updated_at == setup.clock.now
    with pytest.raises(InvalidSubscription):
        setup.service.update(token, language="en", everything=False, services=[], groups=[])
    assert setup.service.unsubscribe(token) is True
    assert setup.row() is None and setup.outbox() == []
    assert setup.service.by_manage_token(token) is None
    assert setup.service.unsubscribe(token) is False
    with pytest.raises(UnknownToken) as gone:
        setup.service.update(token, language="fr", everything=True, services=[], groups=[])
    assert gone.value.status == 404


def test_an_unknown_manage_token_finds_nothing(sqlite_setup):
    assert sqlite_setup.service.by_manage_token("x" * 43) is None
    assert sqlite_setup.service.by_manage_token("") is None
    assert sqlite_setup.service.unsubscribe("") is False


@pytest.fixture
def ledger(setup):
    """The mail ledger (``member_mails``, :mod:`monitor.membermail.models`), found as
    the subscriptions code finds it."""
    table = records.ledger()
    assert table is not None
    return table


def sent(subscriber_id: int, event_key: str, at: float, message_id: str | None = None) -> dict:
    """A ledger row: one mail sent."""
    return {"subscriber_id": subscriber_id, "event_key": event_key, "kind": "opened",
            "thread": "incident:1", "outcome": "sent", "sent_at": at,
            "message_id": message_id}


def test_forget_removes_every_trace_of_the_address(setup, ledger):
    alice = setup.subscribe()
    bob = setup.subscribe("bob@example.org")
    with setup.store.write_session() as s, s.begin():
        s.execute(ledger.insert(), [sent(alice, "1:1:member-mail", 1.0),
                                    sent(bob, "1:1:member-mail", 1.0)])
    assert setup.service.forget("ALICE@example.org") is True
    assert setup.row() is None
    with setup.store.session() as s:
        assert s.scalar(select(func.count()).select_from(ledger)
                        .where(ledger.c.subscriber_id == alice)) == 0
        assert s.scalar(select(func.count()).select_from(ledger)) == 1
        streams = set(s.scalars(select(OutboxEntry.stream)))
    assert streams == {f"subscriber:{bob}"}
    assert setup.service.export("alice@example.org") is None
    assert setup.service.forget("alice@example.org") is False
    assert setup.row("bob@example.org") is not None


def test_forget_is_audited_without_the_address(setup):
    setup.subscribe()
    subscriber = setup.row().id
    admin = Actor.user("claire", "admin", "web", address="192.0.2.1")
    assert setup.service.forget("alice@example.org", actor=admin)
    with setup.store.session() as s:
        [entry] = s.scalars(select(AuditEntry)).all()
    assert (entry.action, entry.actor, entry.target_type, entry.target_id) == (
        "subscriber.forget", "claire", "subscriber", str(subscriber))
    assert entry.before["state"] == "confirmed" and entry.after is None
    assert "alice" not in json.dumps([entry.before, entry.after])


@pytest.mark.parametrize("role", ["editor", "desk"])
def test_only_a_role_allowed_may_forget(setup, role):
    setup.subscribe()
    with pytest.raises(Forbidden):
        setup.service.forget("alice@example.org", actor=Actor.user("dan", role, "web"))
    with setup.store.write_session() as s, s.begin(), pytest.raises(Forbidden):
        forget_subscriber(s, setup.row().id, actor=Actor.user("dan", role, "web"))
    assert setup.row() is not None


def test_export_tells_what_vigie_holds(setup, ledger):
    setup.ask(services=["web"], groups=["lists"])
    setup.subscribe()  # asks again (a new link) then confirms
    subscriber = setup.row().id
    with setup.store.write_session() as s, s.begin():
        s.execute(ledger.insert(), [sent(subscriber, "3:1:member-mail", 5.0,
                                         "<m1@example.coop>")])
    data = setup.service.export("Alice@Example.org")
    json.dumps(data)  # JSON-ready
    assert data["address"] == "alice@example.org"
    sub = data["subscription"]
    assert (sub["state"], sub["services"], sub["language"]) == ("confirmed", ["web"], "fr")
    assert "manage_token" not in sub and "confirm_hash" not in sub
    assert [a["mail"] for a in data["sign_up_answers"]] == ["confirmation", "confirmation"]
    assert data["mails_sent"] == [{"event_key": "3:1:member-mail", "kind": "opened",
                                   "thread": "incident:1", "outcome": "sent", "sent_at": 5.0,
                                   "message_id": "<m1@example.coop>"}]
    token = setup.row().manage_token
    assert token not in json.dumps(data)


def test_the_purge_forgets_unconfirmed_addresses_after_seven_days(setup):
    setup.ask("old@example.org")
    setup.subscribe("kept@example.org")
    setup.clock.now += 3 * 86400
    setup.ask("recent@example.org")
    setup.clock.now += 4 * 86400 + 1  # old: 7 days and 1 s; recent: 4 days
    assert setup.service.purge() == 1
    assert setup.row("old@example.org") is None
    assert setup.row("kept@example.org").state == "confirmed"
    recent = setup.row("recent@example.org")
    # its link expired after 48 h: blanked, so it can never be used
    assert recent.state == "pending" and recent.confirm_hash is None
    assert {e.stream for e in setup.outbox()} == {
        f"subscriber:{setup.row('kept@example.org').id}", f"subscriber:{recent.id}"}
    assert setup.service.purge() == 0


def test_a_link_within_its_48_hours_survives_the_purge(sqlite_setup):
    setup = sqlite_setup
    setup.ask()
    token = setup.last_token()
    setup.clock.now += 47 * 3600
    setup.service.purge()
    assert setup.service.confirm(token) is not None


def test_counts_by_state_and_service(setup):
    setup.subscribe("all@example.org", everything=True)
    setup.subscribe("web@example.org", services=["web"])
    setup.subscribe("hosting@example.org", services=[], groups=["hosting"])
    setup.subscribe("two@example.org", services=["web", "cloud"])
    setup.ask("pending@example.org", services=["sympa"])
    counts = setup.service.counts()
    assert counts["states"] == {"pending": 1, "confirmed": 4}
    assert counts["services"] == {
        "web": {"pending": 0, "confirmed": 4},
        "db": {"pending": 0, "confirmed": 2},
        "sympa": {"pending": 1, "confirmed": 1},
        "cloud": {"pending": 0, "confirmed": 2},
    }


def test_recipients_by_service_group_or_everything(setup):
    everyone = setup.subscribe("all@example.org", everything=True)
    web = setup.subscribe("web@example.org", services=["web"])
    hosting = setup.subscribe("hosting@example.org", services=[], groups=["hosting"])
    cloud = setup.subscribe("cloud@example.org", services=["cloud"])
    setup.ask("pending@example.org", everything=True)  # not confirmed: never a recipient
    with setup.store.session() as s:
        def of(*services):
            return setup.service.recipients(s, list(services))
        assert of("web") == [everyone, web, hosting]
        assert of("db") == [everyone, hosting]
        assert of("cloud") == [everyone, cloud]
        assert of("sympa") == [everyone]
        assert of("db", "cloud") == [everyone, hosting, cloud]
        assert of() == [everyone]
        assert of("gone") == [everyone]


def test_a_subscriber_row_holds_no_token_in_clear(setup):
    setup.ask()
    token = setup.last_token()
    with setup.store.session() as s:
        row = s.scalars(select(Subscriber)).one()
        assert token not in {row.confirm_hash, row.manage_token}


def test_unsubscribing_deletes_the_record_of_mails_sent_too(setup, ledger):
    subscriber = setup.subscribe()
    with setup.store.write_session() as s, s.begin():
        s.execute(ledger.insert(), [sent(subscriber, "1:1:member-mail", 1.0)])
    assert setup.service.unsubscribe(setup.row().manage_token)
    with setup.store.session() as s:
        assert s.scalar(select(func.count()).select_from(ledger)) == 0


def test_the_log_names_subscribers_by_number_only(sqlite_setup, caplog):
    setup = sqlite_setup
    with caplog.at_level("DEBUG", "monitor.subscriptions"):
        setup.subscribe()
        setup.ask("bob@example.org")
        setup.service.update(setup.row().manage_token, language="en", everything=True,
                             services=[], groups=[])
        setup.service.forget("bob@example.org")
        setup.service.unsubscribe(setup.row().manage_token)
        setup.clock.now += 30 * 86400
        setup.service.purge()
    assert "subscriber 1 confirmed" in caplog.text
    assert "example.org" not in caplog.text


def test_a_refusal_of_the_address_is_recorded_on_the_subscriber(sqlite_setup):
    from monitor.subscriptions.service import record_failure

    setup = sqlite_setup
    subscriber = setup.subscribe()
    for n in range(2):
        with setup.store.write_session() as s, s.begin():
            record_failure(s, subscriber, f"550 5.1.1 no such user ({n})\x00", 100.0 + n)
    row = setup.row()
    assert (row.failures, row.last_failure, row.last_failure_at) == (
        2, "550 5.1.1 no such user (1)", 101.0)
    with setup.store.write_session() as s, s.begin():
        record_failure(s, 9999, "gone", 1.0)  # a subscriber who left: nothing


def test_views_give_the_subscribers_still_there(setup):
    alice = setup.subscribe()
    setup.ask("bob@example.org")
    bob = setup.row("bob@example.org").id
    carol = setup.subscribe("carol@example.org")
    setup.service.forget("carol@example.org")
    with setup.store.session() as s:
        found = setup.service.views(s, [bob, alice, carol, alice])
    assert sorted(found) == [alice, bob]
    assert (found[alice].email, found[alice].state) == ("alice@example.org", "confirmed")
    assert found[bob].state == "pending" and found[bob].manage_token
