"""The ``forum`` plugin against a local Discourse stand-in (documented shapes and errors)."""

from __future__ import annotations

import dataclasses
import re
import time
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from docs_bridge.discourse import Topic, is_public, public_search
from docs_bridge.forum_plugin import (
    DISCUSSION_KIND,
    TOPIC_KIND,
    ForumPlugin,
    external_id,
)
from docs_bridge.settings import ForumSettings
from monitor.notifications import Link
from monitor.reasonwords import public_words
from tests.docs_bridge.fake_discourse import API_KEY, API_USER, FakeDiscourse
from tests.docs_bridge.helpers import deliver, follow, make_event

GUIDE = Link(kind="guide", title="Nextcloud est en maintenance : que faire ?",
             url="https://doc.exemple.coop/nextcloud/maintenance", external_id="g:1",
             plugin="guides")


@pytest.fixture
async def forum():
    fake = FakeDiscourse()
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    yield fake
    fake.release.set()  # let a hanging handler finish before the server closes
    await server.close()


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


def plugin_for(forum: FakeDiscourse, http, **overrides) -> ForumPlugin:
    settings = ForumSettings.model_validate({
        "url": forum.url, "api_key": API_KEY, "api_username": API_USER, "category": 7,
        "tags": ["incident"], "close_on_resolve": True, **overrides})
    plugin = ForumPlugin()
    plugin.configure(settings, http)
    return plugin


def search_queries(forum: FakeDiscourse) -> list[str]:
    """The ``q`` of every search the forum received."""
    return [parse_qs(urlsplit(path).query)["q"][0] for method, path in forum.requests
            if method == "GET" and path.startswith("/search.json")]


def our_topics(forum: FakeDiscourse):
    return [t for t in forum.topics.values() if t.external_id]


async def test_topic_created_once_then_replies_on_update_and_resolution(forum, http):
    member = forum.add_topic("Nextcloud ne synchronise plus depuis ce matin")
    forum.add_topic("Nextcloud : ancienne discussion oubliée", created_at=time.time() - 40 * 86400)
    forum.add_topic("Question sur les listes Sympa")
    plugin = plugin_for(forum, http)
    opened = make_event(links=[GUIDE], at=time.time())

    delivery = await deliver(plugin.vigie_incident_opened, opened)
    assert delivery.outcome == "ok" and delivery.attempts == 1
    topic_link, *discussions = delivery.result
    [topic] = our_topics(forum)
    assert topic.title == "[INC-2026-0042] Nextcloud indisponible"
    assert topic.category == 7 and topic.tags == ["incident"]
    assert topic.external_id == external_id("vigie", "INC-2026-0042") == "vigie-INC-2026-0042"
    body = topic.posts[0]
    assert "Panne majeure" in body and "12 mars 2026 à 14 h 00" in body
    assert "Nextcloud est en maintenance" in body  # the members' words for the reason
    assert "mode maintenance" not in body
    assert f"[{GUIDE.title}]({GUIDE.url})" in body
    assert "https://etat.exemple.coop/" in body
    assert (topic_link.kind, topic_link.public, topic_link.external_id) == (
        TOPIC_KIND, True, str(topic.id))
    assert topic_link.url == f"{forum.url}/t/{topic.slug}/{topic.id}"
    # only the recent member topic about Nextcloud is a related discussion
    assert [(d.kind, d.title, d.public) for d in discussions] == [
        (DISCUSSION_KIND, member.title, True)]

    again = await deliver(plugin.vigie_incident_opened, opened)  # the outbox retried
    assert again.outcome == "ok" and len(our_topics(forum)) == 1
    assert again.result[0].external_id == topic_link.external_id

    updated = follow(opened, "updated", delivery.result, phase="identified",
                     message="Une mise à jour de Nextcloud est en cours, retour prévu à 15 h.")
    assert (await deliver(plugin.vigie_incident_updated, updated)).outcome == "ok"
    reminder = follow(updated, "reminder", None)
    assert (await deliver(plugin.vigie_incident_updated, reminder)).result is None
    resolved = follow(updated, "resolved", None, phase="resolved",
                      resolved_at=opened.opened_at + 3900)
    assert (await deliver(plugin.vigie_incident_resolved, resolved)).outcome == "ok"

    assert len(topic.posts) == 3
    assert "cause identifiée" in topic.posts[1] and "retour prévu à 15 h" in topic.posts[1]
    assert "Résolu le" in topic.posts[2] and "1 heure 5 minutes" in topic.posts[2]
    assert topic.closed
    assert len(our_topics(forum)) == 1


async def test_a_mild_incident_gets_its_topic_only_when_it_gets_worse(forum, http):
    plugin = plugin_for(forum, http, min_impact="partial_outage")
    opened = make_event(impact="degraded")
    assert (await deliver(plugin.vigie_incident_opened, opened)).result is None
    assert not our_topics(forum)
    worse = follow(opened, "updated", None, impact="major_outage")
    delivery = await deliver(plugin.vigie_incident_updated, worse)
    assert delivery.result[0].kind == TOPIC_KIND and len(our_topics(forum)) == 1
    resolved_without_topic = follow(opened, "resolved", None)
    assert (await deliver(plugin.vigie_incident_resolved, resolved_without_topic)).result is None


async def test_validation_error_is_dead_lettered_with_discourses_message(forum, http):
    forum.add_topic("[inc-2026-0042] NEXTCLOUD INDISPONIBLE")  # same title, other case
    delivery = await deliver(plugin_for(forum, http).vigie_incident_opened, make_event())
    assert delivery.outcome == "dead" and delivery.attempts == 1
    assert "422" in delivery.result and "Title has already been used" in delivery.result
    assert not our_topics(forum)


async def test_rate_limit_is_retried_after_the_delay_discourse_asks(forum, http):
    forum.fail_next(429, {"errors": ["You’ve performed this action too many times. Please "
                                     "wait 7 seconds before trying again."],
                          "error_type": "rate_limit", "extras": {"wait_seconds": 7}},
                    {"Retry-After": "7"})
    delivery = await deliver(plugin_for(forum, http).vigie_incident_opened, make_event())
    assert delivery.outcome == "ok" and delivery.waits == [7.0]
    assert len(our_topics(forum)) == 1


async def test_bad_key_is_dead_lettered_without_showing_the_key(forum, http):
    plugin = plugin_for(forum, http, api_key="not-the-right-key-123")
    delivery = await deliver(plugin.vigie_incident_opened, make_event())
    assert delivery.outcome == "dead"
    assert "403" in delivery.result and "API" in delivery.result
    assert "not-the-right-key-123" not in delivery.result


async def test_server_error_is_retried(forum, http):
    forum.fail_next(500, {"errors": ["Internal Server Error"]})
    delivery = await deliver(plugin_for(forum, http).vigie_incident_opened, make_event())
    assert delivery.outcome == "ok" and delivery.attempts == 2
    assert "HTTP 500" in delivery.errors[0]
    assert len(our_topics(forum)) == 1


async def test_timeout_after_the_forum_recorded_the_topic_leaves_one_topic(forum, http):
    forum.hang_after_record = True
    plugin = plugin_for(forum, http, timeout="500ms")
    delivery = await deliver(plugin.vigie_incident_opened, make_event())
    assert delivery.outcome == "ok" and delivery.attempts == 2
    assert "no answer within" in delivery.errors[0]
    [topic] = our_topics(forum)
    assert delivery.result[0].external_id == str(topic.id)
    assert ("GET", f"/t/external_id/{topic.external_id}.json") in forum.requests


async def test_a_reply_that_already_landed_is_not_posted_twice(forum, http):
    plugin = plugin_for(forum, http)
    opened = make_event()
    links = (await deliver(plugin.vigie_incident_opened, opened)).result
    updated = follow(opened, "updated", links, message="Cause identifiée : disque plein.")
    await deliver(plugin.vigie_incident_updated, updated)
    again = await deliver(plugin.vigie_incident_updated, updated)  # answer lost, retried
    assert again.outcome == "ok"
    assert len(our_topics(forum)[0].posts) == 2


async def test_related_topics_never_include_read_restricted_categories(forum, http):
    # the bot account searches as an admin: Discourse would hand it the volunteers'
    # private category too, unless the query asks for public topics only
    forum.restricted = {9}
    public = forum.add_topic("Nextcloud ne synchronise plus depuis ce matin", category=5)
    forum.add_topic("Nextcloud : mot de passe admin du serveur", category=9)
    delivery = await deliver(plugin_for(forum, http).vigie_incident_opened, make_event())
    _topic, *discussions = delivery.result
    assert [(d.title, d.url) for d in discussions] == [
        (public.title, f"{forum.url}/t/{public.slug}/{public.id}")]
    [query] = search_queries(forum)
    assert "status:public" in query.split()


async def test_related_topics_come_from_the_configured_categories_only(forum, http):
    wanted = forum.add_topic("Nextcloud : panne de synchronisation", category=5)
    forum.add_topic("Nextcloud : petites annonces entre membres", category=6)
    plugin = plugin_for(forum, http, related_categories=[5, 12])
    delivery = await deliver(plugin.vigie_incident_opened, make_event())
    _topic, *discussions = delivery.result
    assert [d.title for d in discussions] == [wanted.title]
    [query] = search_queries(forum)
    assert {"status:public", "categories:=5,=12"} <= set(query.split())


def test_a_topic_without_category_or_outside_the_list_is_not_public():
    private_message = Topic(7, "pm", "Message privé", "https://f/t/pm/7", None)
    in_five = Topic(8, "t", "Sujet", "https://f/t/t/8", 5)
    assert not is_public(private_message)
    assert is_public(in_five) and is_public(in_five, [5]) and not is_public(in_five, [6])
    assert public_search("nextcloud", [5]) == "nextcloud status:public categories:=5"


async def test_the_topic_never_quotes_a_reason_marked_non_public(forum, http):
    # a nagios plugin's output names an internal host and a database user
    event = make_event(checks=(("nextcloud", "db", "nagios",
                                "Sonde : CRITICAL - db01.interne refuse vigie_ro",
                                "Plugin: CRITICAL - db01.interne refuses vigie_ro",
                                "nagios.critical"),
                               ("nextcloud", "status", "nextcloud",
                                "Nextcloud est en mode maintenance",
                                "Nextcloud is in maintenance mode", "nextcloud.maintenance")))
    private, public = event.checks
    event = dataclasses.replace(event, checks=(
        dataclasses.replace(private, reason_public=False), public))
    delivery = await deliver(plugin_for(forum, http).vigie_incident_opened, event)
    assert delivery.outcome == "ok"
    [topic] = our_topics(forum)
    body = topic.posts[0]
    assert "db01.interne" not in body and "vigie_ro" not in body
    assert f"- db : {public_words('nagios.critical').fr}" in body
    # the forum is public: members' words for every reason, the public ones too
    assert "- status : Nextcloud est en maintenance" in body


async def test_hostile_topic_titles_and_slugs_from_the_search_are_made_safe(forum, http):
    topic = forum.add_topic("Nextcloud\x00 en\u202e panne\x08", category=5)
    topic.slug = "nextcloud/../../evil page"
    delivery = await deliver(plugin_for(forum, http).vigie_incident_opened, make_event())
    _topic, *discussions = delivery.result
    [found] = discussions
    assert found.title == "Nextcloud en panne"
    assert found.url == f"{forum.url}/t/nextcloud%2F..%2F..%2Fevil%20page/{topic.id}"


def test_a_guide_title_cannot_add_a_link_to_the_forum_post():
    """A guide's title is outside text (a BookStack page's name): in the public topic it
    stays literal text, whatever Markdown or HTML it holds."""
    import markdown

    from docs_bridge.forum_text import topic_body

    hostile = Link(kind="guide", title="Erreur 500](https://evil.example/phish) <img src=x> **x**",
                   url="https://doc.exemple.coop/a (b)", external_id="g:2", plugin="guides")
    body = topic_body(make_event(links=[hostile]), "Europe/Paris")
    html = markdown.markdown(body)
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert len(hrefs) == 3  # the guide, the incident page, the status page
    assert not any("evil.example" in href for href in hrefs)
    assert "<img" not in html and "<strong>x</strong>" not in html
    assert 'href="https://doc.exemple.coop/a%20%28b%29"' in html
