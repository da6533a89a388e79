"""How member mails are sent, against a real SMTP server: in batches written once, once
per subscriber however often a batch is delivered, one refused address not stopping the
others, "try later" tried later, at the configured rate, within a time budget, over one
reused connection; and the one mail a crash can send twice."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import update

from monitor.incidents.models import OutboxEntry
from monitor.incidents.outbox import retry
from monitor.membermail import ledger
from monitor.membermail import plugin as member_mail
from monitor.membermail.pace import SendRate
from monitor.notifications import RetryLater, from_json
from monitor.subscriptions.jobs import MEMBER_MAIL_HOOK, MemberMailJob
from tests.monitor.membermail.conftest import Monotonic, Vigie, build_vigie
from tests.monitor.membermail.test_mails import open_incident, parts


def batches(v: Vigie) -> list[OutboxEntry]:
    return v.rows(MEMBER_MAIL_HOOK)


async def test_an_event_fans_out_in_batches_once(tmp_path, smtp):
    port, mailbox = smtp
    v = build_vigie(f"sqlite:///{tmp_path / 'v.sqlite'}", tmp_path, port, mailbox,
                    extra="subscriptions: {batch_size: 2}")
    for n in range(5):
        v.subscribe(f"m{n}@example.org", services=["web"])
    v.subscribe("other@example.org", services=["cloud"])
    iid = open_incident(v)
    # the fan-out only: the member-mail row of the event
    [fan_out] = [e for e in v.rows() if e.plugin == "member-mail"]
    event_key = fan_out.idempotency_key
    event = from_json(fan_out.payload)
    assert v.plugin.fan_out(event) == 3
    assert v.plugin.fan_out(event) == 0  # delivered again: nothing new
    rows = batches(v)
    assert [r.idempotency_key for r in rows] == [f"{event_key}:batch:{n}" for n in range(3)]
    assert {r.stream for r in rows} == {f"incident:{iid}"}
    jobs = [MemberMailJob.from_json(r.payload) for r in rows]
    assert [len(j.subscriber_ids) for j in jobs] == [2, 2, 1]
    assert {i for j in jobs for i in j.subscriber_ids} == {v.ids[f"m{n}@example.org"]
                                                           for n in range(5)}
    assert all(j.idempotency_key == event_key and j.thread == f"incident:{iid}" for j in jobs)
    assert '"checks":[]' in jobs[0].event  # the checks' reasons are not carried
    await v.deliver()
    assert sorted(to for _, to in mailbox.deliveries) == [f"m{n}@example.org" for n in range(5)]
    assert mailbox.connections() == 1  # one connection for every batch


async def test_incident_reminders_are_not_sent_to_members(sqlite_vigie):
    v = sqlite_vigie
    v.subscribe("alice@example.org", everything=True)
    open_incident(v)
    await v.deliver()
    v.clock.now += 3 * 3600  # reminder_every: 2h
    v.h.tick()
    reminders = [e.plugin for e in v.rows() if e.hook == "vigie_incident_updated"]
    # the volunteers' reminder is written; member-mail declines it (accepts_event)…
    assert reminders == ["volunteers"]
    await v.deliver()
    assert len(v.mailbox.messages) == 1  # …so nothing is sent
    # and a reminder given to the plugin anyway fans out to nobody
    [opened] = [e for e in v.rows() if e.plugin == "member-mail"
                and e.hook == "vigie_incident_opened"]
    event = dataclasses.replace(from_json(opened.payload), kind="reminder",
                                idempotency_key="reminder-given-anyway")
    assert v.plugin.fan_out(event) == 0


async def test_delivering_the_same_batch_twice_sends_once(vigie):
    v = vigie
    for n in range(3):
        v.subscribe(f"m{n}@example.org", services=["web"])
    open_incident(v)
    await v.deliver()
    assert len(v.mailbox.messages) == 3
    [batch] = batches(v)
    # delivered again (a crash before the row was marked, a volunteer's retry…)
    job = MemberMailJob.from_json(batch.payload)
    v.plugin.vigie_member_mail(job)
    with v.store.session() as s, s.begin():
        s.execute(update(OutboxEntry).where(OutboxEntry.id == batch.id)
                  .values(status="pending"))
    await v.deliver()
    assert len(v.mailbox.messages) == 3
    assert len(v.ledger()) == 3


async def test_a_refused_address_is_recorded_and_the_batch_goes_on(vigie, caplog):
    v = vigie
    caplog.set_level("INFO", "monitor.membermail")
    for name in ("ann", "bob", "cid"):
        v.subscribe(f"{name}@example.org", services=["web"])
    # (servers quote the address: it must stay on the subscriber's row, nowhere else)
    v.mailbox.rcpt["bob@example.org"] = ["550 5.1.1 <bob@example.org>: No such user here"]
    open_incident(v)
    await v.deliver()
    assert sorted(to for _, to in v.mailbox.deliveries) == ["ann@example.org",
                                                          "cid@example.org"]
    bob = v.subscriber("bob@example.org")
    assert bob.failures == 1 and "550" in bob.last_failure and bob.last_failure_at
    assert "No such user" in bob.last_failure
    assert not any("bob@" in e.last_error for e in v.rows() if e.last_error)
    # Vigie's own log lines (the test's SMTP server, aiosmtpd, logs addresses itself)
    vigies = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("monitor"))
    assert f"subscriber {bob.id} was refused" in vigies and "bob@" not in vigies
    assert {(r.subscriber_id, r.outcome) for r in v.ledger()} == {
        (v.ids["ann@example.org"], "sent"), (bob.id, "refused"),
        (v.ids["cid@example.org"], "sent")}
    [batch] = batches(v)
    assert batch.status == "delivered"
    assert v.mailbox.connections() == 1  # the refusal kept the connection
    assert v.plugin.counts == {"sent": 2, "refused": 1}


async def test_a_message_refused_for_one_address_is_recorded_too(sqlite_vigie):
    v = sqlite_vigie
    for name in ("ann", "bob"):
        v.subscribe(f"{name}@example.org", services=["web"])
    v.mailbox.data = ["554 5.7.1 Message refused"]  # the first message's DATA
    open_incident(v)
    await v.deliver()
    assert [to for _, to in v.mailbox.deliveries] == ["bob@example.org"]
    assert v.subscriber("ann@example.org").failures == 1


async def test_an_address_answered_try_later_is_tried_again_later(vigie):
    v = vigie
    for name in ("ann", "bob", "cid"):
        v.subscribe(f"{name}@example.org", services=["web"])
    v.mailbox.rcpt["bob@example.org"] = ["451 4.7.1 <bob@example.org>: Greylisted"]
    open_incident(v)
    await v.deliver()
    assert sorted(to for _, to in v.mailbox.deliveries) == ["ann@example.org",
                                                          "cid@example.org"]
    [batch] = batches(v)
    assert batch.status == "pending" and batch.attempts == 0  # not a failure
    assert batch.next_attempt_at == pytest.approx(v.clock.now + member_mail.RETRY_ADDRESS)
    assert "451" in batch.last_error and "bob" not in batch.last_error
    assert v.subscriber("bob@example.org").failures == 0
    assert v.plugin.counts == {"sent": 2, "deferred": 1}
    v.clock.now += member_mail.RETRY_ADDRESS
    await v.deliver()
    assert sorted(to for _, to in v.mailbox.deliveries) == [
        "ann@example.org", "bob@example.org", "cid@example.org"]
    assert batches(v)[0].status == "delivered"


async def test_an_address_still_answered_try_later_after_a_day_is_given_up(sqlite_vigie):
    v = sqlite_vigie
    v.subscribe("bob@example.org", services=["web"])
    v.mailbox.rcpt["bob@example.org"] = ["452 4.2.2 Mailbox full"] * 3
    open_incident(v)
    await v.deliver()
    v.clock.now += member_mail.RETRY_ADDRESS
    await v.deliver()
    assert batches(v)[0].status == "pending"
    v.clock.now += member_mail.GIVE_UP_AFTER
    await v.deliver()
    assert batches(v)[0].status == "delivered" and v.mailbox.messages == []
    bob = v.subscriber("bob@example.org")
    assert bob.failures == 1 and "Mailbox full" in bob.last_failure
    assert [r.outcome for r in v.ledger()] == ["refused"]


async def test_a_server_asking_to_wait_gets_the_rest_of_the_batch_later(vigie):
    v = vigie
    for n in range(4):
        v.subscribe(f"m{n}@example.org", services=["web"])
    open_incident(v)
    [fan_out] = [e for e in v.rows() if e.plugin == "member-mail"]
    v.plugin.fan_out(from_json(fan_out.payload))
    [batch] = batches(v)
    job = MemberMailJob.from_json(batch.payload)
    v.mailbox.rcpt["m2@example.org"] = ["421 4.7.0 Too many messages, closing"]
    with pytest.raises(RetryLater) as wait:
        v.plugin.vigie_member_mail(job)
    assert wait.value.seconds == member_mail.RETRY_SERVER
    assert "2 mails left" in str(wait.value)
    assert [to for _, to in v.mailbox.deliveries] == ["m0@example.org", "m1@example.org"]
    assert v.subscriber("m2@example.org").failures == 0
    v.plugin.vigie_member_mail(job)
    assert [to for _, to in v.mailbox.deliveries] == [f"m{n}@example.org" for n in range(4)]
    assert v.mailbox.connections() == 2  # the server closed the first one


async def test_mails_go_at_the_configured_rate_and_a_batch_stops_at_its_budget(tmp_path, smtp):
    port, mailbox = smtp
    v = build_vigie(f"sqlite:///{tmp_path / 'v.sqlite'}", tmp_path, port, mailbox, rate=4.0,
                    budget=1.0)
    for n in range(6):
        v.subscribe(f"m{n}@example.org", services=["web"])
    open_incident(v)
    [fan_out] = [e for e in v.rows() if e.plugin == "member-mail"]
    v.plugin.fan_out(from_json(fan_out.payload))
    job = MemberMailJob.from_json(batches(v)[0].payload)
    with pytest.raises(RetryLater) as more:
        v.plugin.vigie_member_mail(job)
    # 4 a second: 0.25 s apart; at 1 s of sending the batch hands the rest back
    assert v.monotonic.slept == [0.25, 0.25, 0.25, 0.25]
    assert len(mailbox.messages) == 5 and more.value.seconds == 0
    v.plugin.vigie_member_mail(job)
    assert len(mailbox.messages) == 6
    assert v.monotonic.slept[-1] == 0.25  # the next batch keeps the pace


def test_the_send_rate_spaces_mails_and_lets_no_burst_through_after_a_pause():
    clock = Monotonic()
    rate = SendRate(10.0, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        rate.wait()
    assert clock.slept == [pytest.approx(0.1), pytest.approx(0.1)]
    clock.now += 60  # a quiet minute
    for _ in range(2):
        rate.wait()
    assert clock.slept[2:] == [pytest.approx(0.1)]
    with pytest.raises(ValueError):
        SendRate(0)


async def test_confirmation_mails_carry_the_link_once(sqlite_vigie):
    v = sqlite_vigie
    v.subscriptions.request("zoe@example.org", "en", everything=True, services=[],
                            groups=[], client_address="203.0.113.9")
    await v.deliver()
    [mail] = v.mailbox.to("zoe@example.org")
    text, html = parts(mail)
    assert "/abonnement/confirmer/" in text and "?lang=en" in text
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "someone asked to subscribe this address" in text
    assert mail["Subject"] == "Your subscription to the news of “Service status”"
    # asked again once confirmed: the manage link, no confirmation link
    token = text.split("/abonnement/confirmer/")[1].split("?")[0]
    assert v.subscriptions.confirm(token) is not None
    v.subscriptions.request("zoe@example.org", "en", everything=True, services=[],
                            groups=[], client_address="203.0.113.9")
    await v.deliver()
    first, second = v.mailbox.to("zoe@example.org")
    text = parts(second)[0]
    assert "already subscribed" in text and "/abonnement/confirmer/" not in text
    assert "/abonnement/gerer/" in text
    assert [r.kind for r in v.ledger()] == ["confirm", "confirm"]


async def test_a_crash_between_acceptance_and_ledger_resends_the_same_message(
        sqlite_vigie, monkeypatch):
    """The one window the ledger leaves open, shown: the server accepted a mail and the
    process died before its ledger row was committed. Delivered again, that one mail
    goes a second time, as the same message (same Message-ID); the others do not."""
    v = sqlite_vigie
    for n in range(3):
        v.subscribe(f"m{n}@example.org", services=["web"])
    open_incident(v)
    [fan_out] = [e for e in v.rows() if e.plugin == "member-mail"]
    v.plugin.fan_out(from_json(fan_out.payload))
    job = MemberMailJob.from_json(batches(v)[0].payload)
    real = ledger.record
    seen: list[int] = []

    class Died(BaseException):
        pass

    def record(session, **row):
        seen.append(row["subscriber_id"])
        if len(seen) == 2:
            raise Died  # the process dies right after the second mail was accepted
        real(session, **row)

    monkeypatch.setattr(ledger, "record", record)
    with pytest.raises(Died):
        v.plugin.vigie_member_mail(job)
    monkeypatch.setattr(ledger, "record", real)
    v.plugin.vigie_member_mail(job)
    sent = [to for _, to in v.mailbox.deliveries]
    assert sent == ["m0@example.org", "m1@example.org", "m1@example.org", "m2@example.org"]
    again = v.mailbox.to("m1@example.org")
    assert again[0]["Message-ID"] == again[1]["Message-ID"]
    assert parts(again[0]) == parts(again[1])
    assert len(v.ledger()) == 3


async def test_retrying_a_dead_batch_by_hand_sends_only_what_is_missing(sqlite_vigie):
    v = sqlite_vigie
    for n in range(2):
        v.subscribe(f"m{n}@example.org", services=["web"])
    v.mailbox.rcpt["m1@example.org"] = ["451 later"]
    open_incident(v)
    await v.deliver()
    [batch] = batches(v)
    with v.store.session() as s, s.begin():
        s.execute(update(OutboxEntry).where(OutboxEntry.id == batch.id).values(status="dead"))
    with v.store.session() as s, s.begin():
        retry(s, batch.id, at=v.clock.now)
    await v.deliver()
    assert [to for _, to in v.mailbox.deliveries] == ["m0@example.org", "m1@example.org"]
