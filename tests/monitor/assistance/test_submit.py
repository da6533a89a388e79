"""Submitting a request: one row and one delivery per form token whatever the clicks, the
screenshots moved under the request's folder, the context of the moment recorded."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import select, update

from monitor.access import SYSTEM
from monitor.assistance.models import AssistanceRow
from monitor.assistance.request import request_from_json
from monitor.assistance.service import HOOK, RECEIPT_PLUGIN, new_reference
from monitor.incidents.models import OutboxEntry
from monitor.probe import Status, reason
from monitor.state import ServiceStatus
from tests.monitor.assistance.conftest import MAIL, build


def rows(setup) -> list[AssistanceRow]:
    with setup.store.session() as s:
        return list(s.scalars(select(AssistanceRow).order_by(AssistanceRow.id)))


def outbox(setup) -> list[OutboxEntry]:
    with setup.store.session() as s:
        return list(s.scalars(select(OutboxEntry).order_by(OutboxEntry.id)))


def test_a_request_is_one_row_and_one_delivery_to_the_desk(setup):
    shots = [setup.screenshot("écran 1.png"), setup.screenshot("two.png", "blue")]
    receipt = setup.service.submit(setup.draft(), shots)
    assert receipt.created and receipt.state == "received"
    assert receipt.reference.startswith("DEM-20260528-")
    [row] = rows(setup)
    assert (row.reference, row.state, row.category, row.service_id, row.email) == (
        receipt.reference, "received", "web", "web", "alice@example.org")
    [entry] = outbox(setup)
    assert (entry.hook, entry.plugin, entry.status) == (HOOK, "desk", "pending")
    assert entry.idempotency_key == f"assistance:{receipt.reference}"
    assert row.outbox_id == entry.id
    request = request_from_json(entry.payload)
    assert request.reference == receipt.reference and request.service_name == "Hébergement web"
    assert request.status_page_url == "https://etat.example.coop"
    # the files moved under data_dir/assistance/<reference>/, the incoming folder is empty
    folder = Path(setup.config.data_dir) / "assistance" / receipt.reference
    assert sorted(p.name for p in folder.iterdir()) == ["1-cran-1.png", "2-two.png"]
    assert [s.path for s in request.screenshots] == [str(folder / "1-cran-1.png"),
                                                     str(folder / "2-two.png")]
    assert request.screenshots[0].filename == "écran 1.png"
    assert list(setup.service.incoming_dir().iterdir()) == []
    for private in (folder, folder.parent, setup.service.incoming_dir()):
        assert private.stat().st_mode & 0o077 == 0  # Vigie's user only
    assert setup.woken == [True]
    assert setup.service.state(receipt.reference) == "received"
    assert setup.service.counts["sent"] == 1


def test_the_same_token_again_gives_the_same_reference_and_writes_nothing(setup):
    first = setup.service.submit(setup.draft(), [setup.screenshot()])
    again_shot = setup.screenshot("again.png")
    again = setup.service.submit(setup.draft(), [again_shot])
    assert (again.reference, again.created, again.state) == (first.reference, False, "received")
    assert len(rows(setup)) == 1 and len(outbox(setup)) == 1
    assert not Path(again_shot.path).exists()  # the resent copy is not kept
    assert setup.service.counts == {"sent": 1, "duplicate": 1}
    other = setup.service.submit(setup.draft(token="tok-2"), [])
    assert other.created and other.reference != first.reference


def test_receipt_for_finds_a_sent_token_and_changes_nothing(setup):
    assert setup.service.receipt_for("tok-1") is None
    assert setup.service.receipt_for("") is None
    first = setup.service.submit(setup.draft(), [setup.screenshot()])
    found = setup.service.receipt_for("tok-1")
    assert (found.reference, found.created, found.state) == (first.reference, False, "received")
    assert setup.service.receipt_for("tok-2") is None
    # a lookup: nothing counted, written, or taken from the member's limits
    assert setup.service.counts == {"sent": 1}
    assert len(rows(setup)) == 1 and len(outbox(setup)) == 1
    assert setup.woken == [True]
    # the state as it stands, each of them (a dead delivery is said, not hidden as held)
    for state in ("held", "delivered", "dead"):
        with setup.store.write_session() as s, s.begin():
            s.execute(update(AssistanceRow).values(state=state))
        assert setup.service.receipt_for("tok-1").state == state
        assert setup.service.submit(setup.draft(), []).state == state
    assert setup.service.counts == {"sent": 1, "duplicate": 3}


def test_two_racing_submits_of_one_token_give_one_request_and_one_delivery(setup):
    """Two web threads with the same token at the same moment (a double click reaching
    two workers): both wait at a barrier, then submit; the database keeps one."""
    barrier = threading.Barrier(2)
    receipts, errors = [], []
    original = setup.service._write

    def write_after_barrier(*args):
        barrier.wait(timeout=30)  # both have read "no such token" and reserved a folder
        return original(*args)

    setup.service._write = write_after_barrier

    def submit(color):
        try:
            receipts.append(setup.service.submit(setup.draft(), [setup.screenshot(color=color)]))
        except Exception as exc:  # pragma: no cover - shown by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(c,)) for c in ("red", "green")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sorted(r.created for r in receipts) == [False, True]
    assert len({r.reference for r in receipts}) == 1
    assert len(rows(setup)) == 1
    assert [e.plugin for e in outbox(setup)] == ["desk"]
    # only the kept request's folder remains, with one screenshot
    base = Path(setup.config.data_dir) / "assistance"
    folders = [p for p in base.iterdir() if p.name != "incoming"]
    assert [p.name for p in folders] == [receipts[0].reference]
    assert len(list(folders[0].iterdir())) == 1
    assert list(setup.service.incoming_dir().iterdir()) == []


def test_the_request_carries_the_status_incident_and_failing_reasons_of_the_moment(setup):
    store, now = setup.store, setup.clock.now
    store.record_check_change("web/http", now - 60, Status.UP, Status.DOWN,
                              reason("test.fail", "Le serveur a répondu 502",
                                     "The server answered 502"))
    store.record_check_change("web/php", now - 60, None, Status.UP)
    store.record_service_change("web", now - 60, ServiceStatus.OPERATIONAL,
                                ServiceStatus.PARTIAL_OUTAGE)
    from monitor.incidents.context import IncidentContext
    from monitor.incidents.service import Operations

    ops = Operations(IncidentContext.build(setup.config, None))
    with store.write_session() as s, s.begin():
        incident = ops.open_incident(s, services=["web"], title_fr="Lenteurs",
                                     message_fr="On regarde.", actor=SYSTEM)
        reference = incident.reference
    receipt = setup.service.submit(setup.draft(), [])
    request = request_from_json(outbox(setup)[-1].payload)
    assert request.reference == receipt.reference
    assert request.status_at_send == "partial_outage"
    assert request.incident_reference == reference
    assert request.failing_reasons == ("http: Le serveur a répondu 502",)
    # a category names no service: no status, no incident
    setup.service.submit(setup.draft(token="tok-account", category="account"), [])
    account = request_from_json(outbox(setup)[-1].payload)
    assert (account.service_id, account.status_at_send, account.incident_reference) == (
        None, "", None)
    assert account.service_name == "Mon compte"


def test_an_unknown_category_is_refused_and_nothing_is_kept(sqlite_setup):
    shot = sqlite_setup.screenshot()
    with pytest.raises(ValueError, match="unknown assistance category"):
        sqlite_setup.service.submit(sqlite_setup.draft(category="nope"), [shot])
    assert rows(sqlite_setup) == [] and outbox(sqlite_setup) == []
    assert not Path(shot.path).exists()


def test_a_failed_write_keeps_no_files(sqlite_setup):
    shot = sqlite_setup.screenshot()

    def broken(*args):
        raise RuntimeError("database away")

    sqlite_setup.service._write = broken
    with pytest.raises(RuntimeError):
        sqlite_setup.service.submit(sqlite_setup.draft(), [shot])
    base = Path(sqlite_setup.config.data_dir) / "assistance"
    assert [p.name for p in base.iterdir()] == ["incoming"]
    assert list(sqlite_setup.service.incoming_dir().iterdir()) == []


def test_member_text_is_made_safe_and_bounded(sqlite_setup):
    draft = sqlite_setup.draft(title="Titre\u202e\x00 " + "x" * 500,
                               description="ligne 1\r\nligne\x00 2" + "y" * 20_000)
    sqlite_setup.service.submit(draft, [])
    request = request_from_json(outbox(sqlite_setup)[0].payload)
    assert "\u202e" not in request.title and "\x00" not in request.description
    assert len(request.title) == 200 and len(request.description) == 10_000
    assert request.description.startswith("ligne 1\nligne  2")


def test_a_receipt_row_is_written_when_mail_is_configured(tmp_path):
    setup = build(f"sqlite:///{tmp_path / 'vigie.sqlite'}", tmp_path, MAIL)
    try:
        receipt = setup.service.submit(setup.draft(), [])
        assert [(e.plugin, e.idempotency_key) for e in outbox(setup)] == [
            ("desk", f"assistance:{receipt.reference}"),
            (RECEIPT_PLUGIN, f"assistance:{receipt.reference}:receipt")]
        setup.service.submit(setup.draft(), [])
        assert len(outbox(setup)) == 2  # the double click writes no second receipt
    finally:
        setup.service.close()
        setup.store.dispose()


def test_references_are_readable_and_dated_in_the_site_time_zone():
    ref = new_reference(1_767_222_000.0, "Europe/Paris")  # 2025-12-31 23:00 UTC
    assert ref.startswith("DEM-20260101-") and len(ref) == len("DEM-20260101-ABCD")
    assert not set(ref[-4:]) & set("01OIL")


def test_a_category_named_like_a_service_is_the_service(tmp_path):
    extra = "  categories: [{id: web, label: Le web}, {id: other, label: Autre}]\n"
    setup = build(f"sqlite:///{tmp_path / 'vigie.sqlite'}", tmp_path, extra)
    try:
        setup.service.submit(setup.draft(category="web"), [])
        request = request_from_json(outbox(setup)[0].payload)
        assert (request.service_id, request.service_name) == ("web", "Hébergement web")
    finally:
        setup.service.close()
        setup.store.dispose()
