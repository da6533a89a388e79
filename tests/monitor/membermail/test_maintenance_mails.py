"""Maintenance news for members: announced as soon as a window is planned (or moved), a
reminder ``subscriptions.maintenance_reminder`` before it starts (unless the announcement
came after that time), started and ended; each occurrence its own thread; other plugins
keep their own rhythm (``announce_before``), with no reminder; a window cancelled tells the
members told of an occurrence, in its thread (never both "over" and "cancelled")."""

from __future__ import annotations

from monitor.incidents.emit import maintenance_key
from tests.monitor.membermail.conftest import Vigie, build_vigie
from tests.monitor.membermail.test_mails import parts

HOUR = 3600.0
DAY = 24 * HOUR


def plan(v: Vigie, start: float, **more) -> int:
    with v.store.session() as s, s.begin():
        values = dict(title_fr="Migration des serveurs", title_en="Server migration",
                      message_fr="Les sites seront indisponibles.",
                      message_en="Sites will be unavailable.", services=["web"],
                      start=start, duration="2h")
        values.update(more)
        return v.h.ops.create_maintenance(s, **values).id


def kinds(v: Vigie, plugin: str) -> list[str]:
    return [e.idempotency_key.split(":")[3] for e in v.rows("vigie_maintenance_changed")
            if e.plugin == plugin]


async def tick(v: Vigie, at: float) -> None:
    v.clock.now = at
    v.h.tick()
    await v.deliver()


async def test_a_window_is_announced_reminded_started_and_ended_in_one_thread(vigie):
    v = vigie
    v.subscribe("alice@example.org", services=["web"])
    v.subscribe("ann@example.org", "en", groups=["hosting"])
    v.subscribe("bob@example.org", services=["mail"])  # not concerned
    start = v.clock.now + 3 * DAY
    window = plan(v, start)
    await tick(v, v.clock.now + 1)
    assert kinds(v, "member-mail") == ["announced"]
    assert kinds(v, "volunteers") == []  # no announce_before: the others hear it start
    await tick(v, v.clock.now + DAY)  # still two days ahead: nothing new
    assert kinds(v, "member-mail") == ["announced"]
    await tick(v, start - DAY + 60)
    assert kinds(v, "member-mail") == ["announced", "reminder"]
    await tick(v, start - DAY + 120)  # once per occurrence
    await tick(v, start + 60)
    await tick(v, start + 2 * HOUR + 60)
    assert kinds(v, "member-mail") == ["announced", "reminder", "started", "ended"]
    assert kinds(v, "volunteers") == ["started", "ended"]
    assert v.mailbox.to("bob@example.org") == []
    announced, reminder, started, ended = v.mailbox.to("alice@example.org")
    assert announced["Subject"] == "Maintenance prévue : Hébergement web — Migration des serveurs"
    text = parts(reminder)[0]
    assert reminder["Subject"].startswith("Rappel de maintenance : ")
    assert "commence le " in text and "Les sites seront indisponibles." in text
    assert started["Subject"].startswith("Maintenance en cours : ")
    assert ended["Subject"].startswith("Maintenance terminée : ")
    root = announced["Message-ID"]
    assert announced["In-Reply-To"] is None
    assert all(m["In-Reply-To"] == root and m["References"] == root
               for m in (reminder, started, ended))
    assert announced["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    english = v.mailbox.to("ann@example.org")
    assert [m["Subject"].split(":")[0] for m in english] == [
        "Maintenance planned", "Maintenance reminder", "Maintenance started",
        "Maintenance over"]
    assert "Sites will be unavailable." in parts(english[1])[0]
    assert all(m["Content-Language"] == "en" for m in english)
    key = maintenance_key(window, start, "announced", "member-mail")
    assert {r.event_key for r in v.ledger()} >= {key}


async def test_a_window_planned_within_the_reminder_time_is_announced_once(sqlite_vigie):
    v = sqlite_vigie
    v.subscribe("alice@example.org", everything=True)
    start = v.clock.now + 3 * HOUR
    plan(v, start)
    await tick(v, v.clock.now + 1)
    await tick(v, v.clock.now + HOUR)
    await tick(v, start + 60)
    assert kinds(v, "member-mail") == ["announced", "started"]


async def test_each_occurrence_of_a_recurring_window_is_its_own_thread(sqlite_vigie):
    v = sqlite_vigie
    v.subscribe("alice@example.org", everything=True)
    plan(v, None, daily=True, at="03:00", duration="1h")  # planned on May 28, 22:26
    for _ in range(3 * 24 * 4):  # three days, every quarter of an hour
        await tick(v, v.clock.now + 900)
    mails = v.mailbox.to("alice@example.org")
    threads: dict[str, list[str]] = {}
    for m in mails:
        threads.setdefault(m["In-Reply-To"] or m["Message-ID"], []).append(
            m["Subject"].split(" : ")[0])
    # the next occurrence (May 29) announced when planned, too late for its reminder;
    # May 30, 31 and June 1 reminded a day before (while the day before's maintenance
    # runs); the test stops on May 31 at 22:26
    assert list(threads.values()) == [
        ["Maintenance prévue", "Maintenance en cours", "Maintenance terminée"],
        ["Rappel de maintenance", "Maintenance en cours", "Maintenance terminée"],
        ["Rappel de maintenance", "Maintenance en cours", "Maintenance terminée"],
        ["Rappel de maintenance"]]


async def test_moving_a_window_announces_its_new_time_and_no_reminder_is_configurable(
        tmp_path, smtp):
    port, mailbox = smtp
    v = build_vigie(f"sqlite:///{tmp_path / 'v.sqlite'}", tmp_path, port, mailbox,
                    extra="subscriptions: {maintenance_reminder: null}")
    v.subscribe("alice@example.org", everything=True)
    start = v.clock.now + 3 * DAY
    window = plan(v, start)
    await tick(v, v.clock.now + 1)
    with v.store.session() as s, s.begin():
        v.h.ops.edit_maintenance(s, window, start=start + DAY, end=start + DAY + 2 * HOUR)
    await tick(v, v.clock.now + 60)
    await tick(v, start + DAY - HOUR)
    assert kinds(v, "member-mail") == ["announced", "announced"]
    first, second = mailbox.to("alice@example.org")
    assert first["Message-ID"] != second["Message-ID"]  # another occurrence, another thread


async def test_announce_before_says_nothing_new_to_members_told_when_it_was_planned(
        sqlite_vigie):
    v = sqlite_vigie
    v.subscribe("alice@example.org", everything=True)
    start = v.clock.now + 3 * DAY
    plan(v, start, announce_before="2d")
    await tick(v, v.clock.now + 1)
    await tick(v, start - 2 * DAY + 60)  # the volunteers' announcement comes
    assert kinds(v, "volunteers") == ["announced"]
    assert kinds(v, "member-mail") == ["announced"]
    assert len(v.mailbox.to("alice@example.org")) == 1


def cancel(v: Vigie, window: int) -> None:
    with v.store.session() as s, s.begin():
        v.h.ops.cancel_maintenance(s, window)


async def test_a_cancelled_window_tells_the_members_told_of_it_in_its_thread(vigie):
    v = vigie
    v.subscribe("alice@example.org", services=["web"])
    v.subscribe("ann@example.org", "en", groups=["hosting"])
    v.subscribe("bob@example.org", services=["mail"])  # not concerned
    start = v.clock.now + 3 * DAY
    window = plan(v, start)
    await tick(v, v.clock.now + 1)
    v.subscribe("carl@example.org", everything=True)  # came after: told of nothing
    v.clock.now += HOUR
    cancel(v, window)
    await tick(v, v.clock.now + 15)
    await tick(v, start + 60)  # nothing starts
    assert kinds(v, "member-mail") == ["announced", "cancelled"]
    assert kinds(v, "volunteers") == []  # a plugin without accepts_event: never
    assert v.mailbox.to("bob@example.org") == v.mailbox.to("carl@example.org") == []
    announced, cancelled = v.mailbox.to("alice@example.org")
    assert cancelled["Subject"] == ("Maintenance annulée : Hébergement web — Migration des "
                                    "serveurs")
    assert cancelled["In-Reply-To"] == cancelled["References"] == announced["Message-ID"]
    assert cancelled["Message-ID"] != announced["Message-ID"]
    token = v.subscriber("alice@example.org").manage_token
    assert cancelled["List-Unsubscribe"] == f"<https://etat.example.coop/abonnement/u/{token}>"
    assert cancelled["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert cancelled["Auto-Submitted"] == "auto-generated"
    text, html = parts(cancelled)
    assert "La maintenance prévue pour Hébergement web le " in text
    assert "est annulée : elle n'aura pas lieu." in text
    assert "Début prévu : " in text and "Fin prévue : " in text
    # the window's message describes work that will not be done: left out
    assert "Les sites seront indisponibles." not in text + html
    assert "/abonnement/gerer/" in text and "annulée" in html
    english = v.mailbox.to("ann@example.org")
    assert [m["Subject"].split(":")[0] for m in english] == [
        "Maintenance planned", "Maintenance cancelled"]
    assert english[1]["In-Reply-To"] == english[0]["Message-ID"]
    text_en = parts(english[1])[0]
    assert "is cancelled: it will not take place." in text_en and "Planned start: " in text_en
    assert english[1]["Content-Language"] == "en"
    # once: delivered again, the batch sends nothing more
    key = maintenance_key(window, start, "cancelled", "member-mail")
    assert sum(1 for r in v.ledger() if r.event_key == key) == 2


async def test_cancelled_before_the_announcements_left_they_go_first_then_the_cancellation(
        sqlite_vigie):
    v = sqlite_vigie
    v.subscribe("alice@example.org", everything=True)
    start = v.clock.now + 3 * DAY
    window = plan(v, start)
    v.clock.now += 1
    v.h.tick()  # "announced" written, not delivered yet
    cancel(v, window)  # a mistake, undone at once
    await v.deliver()
    announced, cancelled = v.mailbox.to("alice@example.org")
    assert announced["Subject"].startswith("Maintenance prévue : ")
    assert cancelled["Subject"].startswith("Maintenance annulée : ")
    assert cancelled["In-Reply-To"] == announced["Message-ID"]


async def test_a_window_cancelled_while_it_runs_says_over_not_cancelled(sqlite_vigie):
    v = sqlite_vigie
    v.subscribe("alice@example.org", everything=True)
    start = v.clock.now + 3 * HOUR
    window = plan(v, start)
    await tick(v, v.clock.now + 1)
    await tick(v, start + 60)
    v.clock.now = start + 600
    cancel(v, window)
    await tick(v, start + 615)
    assert [m["Subject"].split(" : ")[0] for m in v.mailbox.to("alice@example.org")] == [
        "Maintenance prévue", "Maintenance en cours", "Maintenance terminée"]


async def test_a_recurring_window_cancelled_tells_who_was_reminded_of_its_next_occurrence(
        sqlite_vigie):
    v = sqlite_vigie
    v.subscribe("alice@example.org", everything=True)
    window = plan(v, None, daily=True, at="03:00", duration="1h")  # planned May 28, 22:26
    for _ in range(6 * 4):  # until May 29, 04:26, every quarter of an hour
        await tick(v, v.clock.now + 900)
    cancel(v, window)
    await tick(v, v.clock.now + 15)
    threads: dict[str, list[str]] = {}
    for m in v.mailbox.to("alice@example.org"):
        threads.setdefault(m["In-Reply-To"] or m["Message-ID"], []).append(
            m["Subject"].split(" : ")[0])
    # May 29 ran and is over (no cancellation for it); May 30, reminded while May 29
    # ran, is cancelled in its thread; nobody was told of May 31
    assert list(threads.values()) == [
        ["Maintenance prévue", "Maintenance en cours", "Maintenance terminée"],
        ["Rappel de maintenance", "Maintenance annulée"]]
