"""Notices: posting, editing, ending, time bounds, validation, and what the page reads."""

from __future__ import annotations

import pytest

from monitor.incidents import queries
from monitor.incidents.inputs import InvalidInput, NotFound
from tests.monitor.test_incidents import build_harness


@pytest.fixture
def h(tmp_path):
    harness = build_harness(f"sqlite:///{tmp_path / 'v.sqlite'}", tmp_path)
    yield harness
    harness.store.dispose()


def test_notices_show_between_their_bounds_warnings_first(h):
    now = h.clock.now
    with h.store.session() as s, s.begin():
        info = h.ops.post_notice(s, title_fr="Nouvelle adresse du forum", text_fr="Voir…",
                                 author="ana")
        later = h.ops.post_notice(s, title_fr="Coupure prévue", level="warning",
                                  starts_at=now + 3600, ends_at=now + 7200)
        warn = h.ops.post_notice(s, title_fr="Lenteurs du courriel", level="warning",
                                 title_en="Slow mail")
        ids = info.id, later.id, warn.id
    with h.store.session() as s:
        shown = queries.active_notices(s, now)
        assert [n.id for n in shown] == [ids[2], ids[0]]
        assert shown[0].title_en == "Slow mail" and shown[1].created_by == "ana"
        # the planned one has just appeared: the newest warning
        assert [n.id for n in queries.active_notices(s, now + 3600)] == [ids[1], ids[2], ids[0]]
        assert ids[1] not in [n.id for n in queries.active_notices(s, now + 7200)]
        assert len(queries.all_notices(s)) == 3


def test_edit_and_end_a_notice(h):
    now = h.clock.now
    with h.store.session() as s, s.begin():
        notice = h.ops.post_notice(s, title_fr="Info")
        h.ops.edit_notice(s, notice.id, text_fr="Plus de détails", level="warning")
        nid = notice.id
    with h.store.session() as s, s.begin():
        h.ops.end_notice(s, nid, at=now + 10)
    with h.store.session() as s:
        [view] = queries.all_notices(s)
        assert (view.text_fr, view.level, view.ends_at) == ("Plus de détails", "warning", now + 10)
        assert queries.active_notices(s, now + 5)[0].id == nid
        assert queries.active_notices(s, now + 11) == []


@pytest.mark.parametrize("kwargs,field", [
    ({"title_fr": ""}, "title_fr"),
    ({"title_fr": "x" * 201}, "title_fr"),
    ({"title_fr": "T", "level": "panic"}, "level"),
    ({"title_fr": "T", "starts_at": "2026-06-02 10:00", "ends_at": "2026-06-01 10:00"}, "ends_at"),
    ({"title_fr": "T", "ends_at": "bientôt"}, "ends_at"),
])
def test_bad_notices_are_refused(h, kwargs, field):
    with h.store.session() as s, s.begin(), pytest.raises(InvalidInput) as exc:
        h.ops.post_notice(s, **kwargs)
    assert exc.value.field == field


def test_unknown_notice_and_unknown_field(h):
    with h.store.session() as s, s.begin():
        with pytest.raises(NotFound):
            h.ops.end_notice(s, 42)
        notice = h.ops.post_notice(s, title_fr="T")
        with pytest.raises(InvalidInput, match="Unknown field"):
            h.ops.edit_notice(s, notice.id, colour="red")
