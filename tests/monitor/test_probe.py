"""The probe contract's public rule: members read plain words per reason code, never the
probe's own sentence (addresses, ports, codes, counters, outside text)."""

from __future__ import annotations

import pytest

from monitor import reasonwords
from monitor.notifications import CheckSnapshot
from monitor.probe import Reason, Status, reason
from monitor.reasonwords import PUBLIC_SENTENCES, public_words
from monitor.words import Bilingual, Words, _, n_


def test_a_reason_is_one_catalogue_message_said_in_both_languages():
    why = reason("http.status", _("HTTP status {got}", got=503))
    assert (why.fr, why.en) == ("Code HTTP 503", "HTTP status 503")
    # a counter takes the plural form of each language, no "(s)"
    one = reason("php_fpm.listen_queue", n_("{n} request is waiting for a free PHP process",
                                            "{n} requests are waiting for a free PHP process",
                                            1))
    many = reason("php_fpm.listen_queue", n_("{n} request is waiting for a free PHP process",
                                             "{n} requests are waiting for a free PHP process",
                                             14))
    assert one.fr == "1 requête attend un processus PHP libre"
    assert many.fr == "14 requêtes attendent un processus PHP libre"
    assert many.en == "14 requests are waiting for a free PHP process"


def test_a_plugin_outside_the_catalogues_may_still_give_both_sentences():
    why = reason("disk.full", "Disque plein à {p} %", "Disk {p} % full", p=97)
    assert (why.fr, why.en) == ("Disque plein à 97 %", "Disk 97 % full")
    with pytest.raises(TypeError):
        reason("http.status", _("HTTP status {got}", got=503), got=503)


def test_public_places_show_the_members_words_whatever_the_public_flag():
    refused = reason("connection.refused", _("Connection refused by {where}",
                                             where="127.0.0.1:8709"))
    assert refused.public  # nothing from outside, yet an address members need not read
    shown = refused.for_public(Status.DOWN)
    assert (shown.fr, shown.en) == ("Le service refuse les connexions",
                                    "The service refuses connections")
    assert shown.code == "connection.refused" and shown.public


def test_a_code_takes_the_words_of_its_nearest_family():
    assert public_words("sympa.smtp.connection.refused") == public_words("sympa.smtp")
    assert public_words("connection.something_new") == public_words("connection")


def test_a_reason_quoting_outside_text_never_reaches_a_public_place():
    why = reason("heartbeat.failed", _("The job reported a failure: {msg}",
                                       msg="rsync: mdp=hunter2"), public=False)
    assert "hunter2" in why.fr  # volunteers keep the detail
    for status in Status:
        shown = why.for_public(status)
        assert shown.code == "heartbeat.failed" and shown.public
        assert "hunter2" not in shown.fr + shown.en


def test_a_code_without_words_gets_a_sentence_for_the_status():
    why = Reason("nobody.knows", Bilingual("Un détail : 10.0.0.7", "A detail: 10.0.0.7"))
    for status in Status:
        shown = why.for_public(status)
        assert (shown.fr, shown.en) == (PUBLIC_SENTENCES[status].fr,
                                        PUBLIC_SENTENCES[status].en)
    # the database gives the status as an integer, or none at all
    assert why.for_public(int(Status.DEGRADED)).fr == PUBLIC_SENTENCES[Status.DEGRADED].fr
    assert why.for_public(None).en == PUBLIC_SENTENCES[None].en
    assert why.for_public(42).en == PUBLIC_SENTENCES[None].en


def test_every_generic_sentence_is_in_french_and_english():
    assert set(PUBLIC_SENTENCES) == {*Status, None}
    for words in PUBLIC_SENTENCES.values():
        assert words.fr and words.en and words.fr != words.en


def test_two_kinds_may_not_word_one_code_differently():
    reasonwords.learn({"test_kind.own": _("The service works")}, "test_kind")
    reasonwords.learn({"test_kind.own": _("The service works")}, "test_kind")  # again: fine
    with pytest.raises(reasonwords.WordsConflict):
        reasonwords.learn({"test_kind.own": _("The service does not work; the volunteers "
                                              "know")}, "other_kind")
    with pytest.raises(reasonwords.WordsConflict):
        reasonwords.learn({"connection.refused": _("The service works")}, "other_kind")


def test_a_check_snapshot_applies_the_same_rule():
    private = CheckSnapshot("web", "db", "postgresql", "Base", "Database", "degraded",
                            "La requête a échoué : role vigie_ro",
                            "The query failed: role vigie_ro", None, reason_public=False,
                            reason_code="postgresql.query")
    expected: Words = public_words("postgresql.query")
    assert private.public_reason() == Bilingual(expected.fr, expected.en)
    public = CheckSnapshot("web", "http", "http", "Page", "Page", "down", "Code HTTP 503",
                           "HTTP status 503", None, reason_code="http.status")
    assert public.public_reason() == Bilingual("Le site renvoie une erreur",
                                               "The site answers with an error")
    assert public.reason == Bilingual("Code HTTP 503", "HTTP status 503")
    assert public.name == Bilingual("Page", "Page")
    assert not CheckSnapshot("web", "http", "http", "Page", "Page", "up", "", "",
                             None).public_reason()
    assert Reason("x", Bilingual("a", "b")) == Reason("x", Bilingual("a", "b"), True)


def test_a_reason_carries_its_sentence_as_one_bilingual_text():
    why = reason("http.status", _("HTTP status {got}", got=503))
    assert why.words == Bilingual("Code HTTP 503", "HTTP status 503")
    assert (why.fr, why.en, why.text("en"), why.text("de")) == (
        "Code HTTP 503", "HTTP status 503", "HTTP status 503", "Code HTTP 503")
    french_only = Reason("x", Bilingual("Disque plein"))
    assert french_only.en == french_only.text("en") == "Disque plein"
    assert isinstance(why.for_public(Status.DOWN).words, Bilingual)
