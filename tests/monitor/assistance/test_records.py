"""The volunteers' list (no name, no address; filtered by an address compared, never shown)
and the retention purge: rows, outbox rows and files, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from sqlalchemy import func, select

from monitor.assistance import records
from monitor.assistance.models import AssistanceRow
from monitor.incidents.models import OutboxEntry

DAY = 86400.0


def count(setup, model) -> int:
    with setup.store.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_the_list_says_where_requests_stand_without_personal_data(setup):
    first = setup.service.submit(setup.draft(), [setup.screenshot()])
    setup.clock.now += 60
    second = setup.service.submit(setup.draft(token="t2", email="Bob@Example.org",
                                              category="account", title="<b>Mot de passe</b>"),
                                  [])
    with setup.store.session() as s:
        listed = records.requests(s)
        assert [v.reference for v in listed] == [second.reference, first.reference]
        view = listed[1]
        assert (view.state, view.delivery, view.screenshots, view.service_id) == (
            "received", "pending", 1, "web")
        fields = {f.name for f in dataclasses.fields(view)}
        assert not fields & {"name", "email", "member_id", "description"}
        assert listed[0].title == "<b>Mot de passe</b>"  # stored as written; pages escape it
        assert [v.reference for v in records.requests(s, email=" bob@example.ORG")] == [
            second.reference]
        assert records.requests(s, state="delivered") == []
        assert records.counts(s) == {"received": 2, "held": 0, "delivered": 0, "dead": 0}
        assert records.desk_outbox_id(s, first.reference) == view.outbox_id


def test_the_purge_deletes_old_requests_their_deliveries_and_files(setup):
    base = Path(setup.config.data_dir) / "assistance"
    old = setup.service.submit(setup.draft(), [setup.screenshot()])
    setup.clock.now += 31 * DAY
    recent = setup.service.submit(setup.draft(token="t2"), [setup.screenshot("b.png")])
    assert count(setup, OutboxEntry) == 2
    # an upload abandoned two days ago, one in progress, and a folder left by a crash
    abandoned = setup.service.incoming_dir() / "abandoned.part"
    abandoned.write_bytes(b"x")
    os.utime(abandoned, (setup.clock.now - 2 * DAY,) * 2)
    current = setup.service.incoming_dir() / "current.part"
    current.write_bytes(b"x")
    os.utime(current, (setup.clock.now,) * 2)
    orphan = base / "DEM-20260101-ZZZZ"
    orphan.mkdir()
    os.utime(orphan, (setup.clock.now - 2 * DAY,) * 2)

    # the files' stamps are on the service's clock too
    purged = records.purge(setup.store, setup.config.data_dir, 30 * DAY, setup.clock.now)
    assert purged.requests == 1
    assert setup.service.state(old.reference) is None
    assert setup.service.state(recent.reference) == "received"
    assert count(setup, AssistanceRow) == 1 and count(setup, OutboxEntry) == 1
    assert not (base / old.reference).exists() and (base / recent.reference).exists()
    assert not abandoned.exists() and current.exists() and not orphan.exists()
    assert records.purge(setup.store, setup.config.data_dir, 30 * DAY,
                         setup.clock.now) == records.Purged(0, 0)


def test_delivered_screenshots_left_by_a_crash_are_deleted(sqlite_setup):
    setup = sqlite_setup
    receipt = setup.service.submit(setup.draft(), [setup.screenshot()])
    with setup.store.write_session() as s, s.begin():  # delivered, files not deleted yet
        s.query(AssistanceRow).update({"state": "delivered"})
    folder = Path(setup.config.data_dir) / "assistance" / receipt.reference
    assert folder.exists()
    records.purge(setup.store, setup.config.data_dir, 30 * DAY, setup.clock.now)
    assert not folder.exists() and setup.service.state(receipt.reference) == "delivered"
