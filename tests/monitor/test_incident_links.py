"""Links returned by bridge plugins are outside text: made safe where the core stores
them (``monitor.incidents.emit.attach_links``), on SQLite and PostgreSQL."""

from __future__ import annotations

import logging

from sqlalchemy import select

from monitor.incidents.emit import attach_links
from monitor.incidents.models import IncidentLink
from monitor.notifications import Link
from monitor.probe import Status
from tests.monitor.test_incidents import harness, store_url  # noqa: F401 (fixtures)


def stored_links(h) -> list[IncidentLink]:
    with h.store.session() as s:
        return list(s.scalars(select(IncidentLink).order_by(IncidentLink.id)))


def test_hostile_link_text_is_stored_safe(harness):
    harness.confirm("mail/smtp", Status.DOWN)
    [incident] = harness.open()
    links = [
        Link(kind="guide\x00", title="Configurer\x00 Thunderbird\u202e\r\n" + "x" * 400,
             url="https://docs.example.coop/thunderbird", plugin="guides\x1b"),
        Link(kind="forum", title="Sujet", url="https://forum.example.coop/t/panne/12",
             external_id="12\x00", plugin="forum"),
        Link(kind="guide", title="Local", url="/guides/mail/imap", plugin="guides"),
    ]
    with harness.store.session() as s, s.begin():
        assert attach_links(s, incident.id, links, harness.clock.now) == 3
    guide, topic, local = stored_links(harness)
    assert guide.kind == "guide" and guide.plugin == "guides"
    assert guide.title.startswith("Configurer Thunderbird x") and len(guide.title) <= 300
    assert topic.external_id == "12"
    assert local.url == "/guides/mail/imap"


def test_a_link_that_is_not_a_web_address_is_left_out(harness, caplog):
    harness.confirm("mail/smtp", Status.DOWN)
    [incident] = harness.open()
    hostile = ["javascript:alert(1)", " JaVaScRiPt:alert(1)", "data:text/html,<script>",
               "//evil.example/x", "https://docs.example.coop/a b", "https://docs\x00.example",
               "ftp://files.example/x", "https:///no-host", ""]
    links = [Link(kind="guide", title=f"Lien {i}", url=url, plugin="guides")
             for i, url in enumerate(hostile)]
    links.append(Link(kind="guide", title="Bon", url="http://docs.example.coop/ok",
                      plugin="guides"))
    caplog.set_level(logging.WARNING)
    with harness.store.session() as s, s.begin():
        assert attach_links(s, incident.id, links, harness.clock.now) == 1
    assert [link.url for link in stored_links(harness)] == ["http://docs.example.coop/ok"]
    assert "not a web address" in caplog.text


def guide(name: str, plugin: str = "guides") -> Link:
    return Link(kind="guide", title=name, url=f"https://docs.example.coop/{name}",
                plugin=plugin)


def test_a_plugin_answer_replaces_its_earlier_links_of_the_same_kind(harness):
    harness.confirm("mail/smtp", Status.DOWN)
    [incident] = harness.open()
    topic = Link(kind="forum", title="Sujet", url="https://forum.example.coop/t/12",
                 external_id="12", plugin="forum")
    with harness.store.session() as s, s.begin():
        attach_links(s, incident.id, [guide("a"), guide("b"), topic, guide("x", "other")],
                     harness.clock.now)
    with harness.store.session() as s, s.begin():
        # the guides plugin's next answer: its guides are now these, best first
        assert attach_links(s, incident.id, [guide("c"), guide("a")], harness.clock.now) == 1
    kept = [(link.plugin, link.url.rsplit("/", 1)[-1]) for link in stored_links(harness)]
    # another plugin's links, and this plugin's links of another kind, are untouched
    assert kept == [("forum", "12"), ("other", "x"), ("guides", "c"), ("guides", "a")]
    with harness.store.session() as s, s.begin():
        # the same answer again (a retried delivery) changes nothing
        assert attach_links(s, incident.id, [guide("c"), guide("a")], harness.clock.now) == 0
    assert [(link.plugin, link.url.rsplit("/", 1)[-1]) for link in stored_links(harness)] == kept
    with harness.store.session() as s, s.begin():
        # an answer without links of a kind says nothing about that kind
        assert attach_links(s, incident.id, [], harness.clock.now) == 0
    assert len(stored_links(harness)) == 4
