"""Volunteers' Markdown is stored with its safe HTML (issue 12, point 5): set by the models
when a text is set, rendered at upgrade for the rows written before, on SQLite and
PostgreSQL; a row without HTML is shown escaped, never rendered while reading."""

from __future__ import annotations

import markdown.core
import sqlalchemy as sa
from sqlalchemy import select

from monitor.incidents import queries
from monitor.incidents.models import Incident, IncidentUpdate, MaintenanceWindow, Notice
from monitor.store import Store
from monitor.store.migrate import upgrade_engine
from tests.monitor.test_store import load, store_url  # noqa: F401 (fixture)

T0 = 1_780_000_000.0


def test_setting_a_text_stores_its_html_and_none_stays_none():
    notice = Notice(title_fr="T", text_fr="**gras**", text_en=None)
    assert notice.text_fr_html == "<p><strong>gras</strong></p>"
    assert notice.text_en_html is None
    notice.text_fr = "*autre*"
    assert notice.text_fr_html == "<p><em>autre</em></p>"
    update = IncidentUpdate(message_fr="<script>x()</script>ok", message_en="[a](javascript:x)")
    assert "<script" not in update.message_fr_html and "javascript" not in update.message_en_html
    incident = Incident(postmortem_fr="## Cause")
    assert incident.postmortem_fr_html == "<h4>Cause</h4>"
    window = MaintenanceWindow(message_fr="1. " * 2_000)  # RecursionError once
    assert window.message_fr_html.startswith("<ol>")


def test_upgrade_renders_the_rows_written_before(store_url, tmp_path):
    store = Store(store_url)
    try:
        upgrade_engine(store.engine, "0008_audit_log")
        store.sync_catalog(load(tmp_path))
        with store.engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO notices (level, title_fr, text_fr, text_en, created_at, updated_at)"
                " VALUES ('info', 'N', '**Lisez** ceci', NULL, :t, :t)"), {"t": T0})
            conn.execute(sa.text(
                "INSERT INTO incidents (reference, title_fr, impact, worst_impact, "
                "impact_manual, phase, automatic, opened_at, updated_at, event_seq, "
                "postmortem_fr, postmortem_en) VALUES ('INC-1', 'I', 'degraded', 'degraded', "
                ":f, 'identified', :f, :t, :t, 0, '# Bilan', NULL)"), {"t": T0, "f": False})
            incident_id = conn.scalar(sa.text("SELECT id FROM incidents"))
            for text in ("Le disque est *plein*.", "Le disque est *plein*.", "[" * 5_000):
                conn.execute(sa.text(
                    "INSERT INTO incident_updates (incident_id, at, kind, phase, message_fr, "
                    "automatic, public) VALUES (:i, :t, 'update', 'identified', :m, :f, :p)"),
                    {"i": incident_id, "t": T0, "m": text, "f": False, "p": True})
            conn.execute(sa.text(
                "INSERT INTO maintenance_windows (title_fr, message_fr, all_services, "
                "service_ids, starts_at, ends_at, timezone, created_at, updated_at) VALUES "
                "('M', 'Coupure `courte`', :p, '[]', :t, :e, 'UTC', :t, :t)"),
                {"t": T0, "e": T0 + 60, "p": True})
        store.upgrade()
        with store.session() as session:
            notice = session.scalars(select(Notice)).one()
            incident = session.scalars(select(Incident)).one()
            updates = session.scalars(select(IncidentUpdate).order_by(IncidentUpdate.id)).all()
            window = session.scalars(select(MaintenanceWindow)).one()
            assert notice.text_fr_html == "<p><strong>Lisez</strong> ceci</p>"
            assert notice.text_en_html is None
            assert incident.postmortem_fr_html == "<h3>Bilan</h3>"
            assert [u.message_fr_html for u in updates[:2]] == [
                "<p>Le disque est <em>plein</em>.</p>"] * 2
            assert updates[2].message_fr_html.count("[") == 5_000
            assert window.message_fr_html == "<p>Coupure <code>courte</code></p>"
    finally:
        store.dispose()


def test_a_row_without_html_is_shown_escaped_without_rendering(tmp_path, monkeypatch):
    store = Store(f"sqlite:///{tmp_path / 'v.sqlite'}")
    try:
        store.upgrade()
        with store.engine.begin() as conn:  # as another program would write it
            conn.execute(sa.text(
                "INSERT INTO notices (level, title_fr, text_fr, created_at, updated_at) "
                "VALUES ('info', 'N', :x, :t, :t)"), {"x": "**a** <b>\n\nb", "t": T0})

        def refuse(self, source):
            raise AssertionError("rendered while reading")

        monkeypatch.setattr(markdown.core.Markdown, "convert", refuse)
        with store.session() as session:
            [notice] = queries.active_notices(session, T0 + 1)
        assert notice.text_fr_html == "<p>**a** &lt;b&gt;</p><p>b</p>"
        assert notice.text_en_html == ""
    finally:
        store.dispose()
