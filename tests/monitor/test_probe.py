"""The probe contract's public rule: reasons quoting outside text stay off public places."""

from __future__ import annotations

from monitor.notifications import CheckSnapshot
from monitor.probe import PUBLIC_SENTENCES, Reason, Status, reason


def test_a_public_reason_is_shown_as_it_is():
    why = reason("http.status", "Code HTTP {got}", "HTTP status {got}", got=503)
    assert why.public and why.for_public(Status.DOWN) is why


def test_a_reason_quoting_outside_text_becomes_a_generic_sentence_for_the_status():
    why = reason("heartbeat.failed", "La tâche a signalé un échec : {msg}",
                 "The job reported a failure: {msg}", msg="rsync: mdp=hunter2", public=False)
    assert "hunter2" in why.fr  # volunteers keep the detail
    for status in Status:
        shown = why.for_public(status)
        assert (shown.fr, shown.en) == PUBLIC_SENTENCES[status]
        assert shown.code == "heartbeat.failed" and shown.public
        assert "hunter2" not in shown.fr + shown.en
    # the database gives the status as an integer, or none at all
    assert why.for_public(int(Status.DEGRADED)).fr == PUBLIC_SENTENCES[Status.DEGRADED][0]
    assert why.for_public(None).en == PUBLIC_SENTENCES[None][1]
    assert why.for_public(42).en == PUBLIC_SENTENCES[None][1]


def test_every_generic_sentence_is_in_french_and_english_and_names_no_detail():
    assert set(PUBLIC_SENTENCES) == {*Status, None}
    for fr, en in PUBLIC_SENTENCES.values():
        assert fr and en and fr != en


def test_a_check_snapshot_applies_the_same_rule():
    private = CheckSnapshot("web", "db", "postgresql", "Base", "Database", "degraded",
                            "La requête a échoué : role vigie_ro",
                            "The query failed: role vigie_ro", None, reason_public=False)
    assert private.public_reason() == PUBLIC_SENTENCES[Status.DEGRADED]
    public = CheckSnapshot("web", "http", "http", "Page", "Page", "down", "Code HTTP 503",
                           "HTTP status 503", None)
    assert public.public_reason() == ("Code HTTP 503", "HTTP status 503")
    assert Reason("x", "a", "b") == Reason("x", "a", "b", True)
