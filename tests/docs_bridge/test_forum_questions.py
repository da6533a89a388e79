"""Public forum threads proposed to a member who asks for help, against the Discourse
stand-in: searched as an anonymous visitor, one line of text each, and a forum that fails
or hangs leaves the member with the guides."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from docs_bridge.forum_plugin import ForumPlugin
from docs_bridge.forum_questions import EXCERPT, search_words
from docs_bridge.guides_plugin import GuidesPlugin
from docs_bridge.settings import ForumSettings, GuidesSettings
from monitor.assistance.request import AssistanceQuery
from monitor.plugins import build_plugin_manager
from tests.docs_bridge.fake_discourse import API_KEY, API_USER, FakeDiscourse

GUIDES = Path(__file__).parent / "guides"
QUESTION = AssistanceQuery(category="nextcloud", service_id="nextcloud",
                           service_name="Nextcloud (fichiers et agendas)", group="outils",
                           text="Bonjour, mon agenda ne se synchronise plus sur le téléphone")
POST = ("Depuis la mise à jour, l'agenda ne se synchronise plus avec DAVx⁵ sur mon "
        "téléphone & la tablette. J'ai essayé de supprimer le compte puis de le recréer, "
        "sans succès ; quelqu'un a une idée ? Merci d'avance à toutes et à tous.")


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
async def sessions():
    """The bot's session and the anonymous one, as the plugin opens them at start-up."""
    async with aiohttp.ClientSession() as bot, aiohttp.ClientSession(
            cookie_jar=aiohttp.DummyCookieJar()) as anonymous:
        yield bot, anonymous


def settings_for(forum: FakeDiscourse, **overrides) -> ForumSettings:
    return ForumSettings.model_validate({"url": forum.url, "api_key": API_KEY,
                                         "api_username": API_USER, "category": 7,
                                         **overrides})


def plugin_for(forum: FakeDiscourse, sessions, **overrides) -> ForumPlugin:
    plugin = ForumPlugin()
    bot, anonymous = sessions
    plugin.configure(settings_for(forum, **overrides), bot, anonymous=anonymous)
    return plugin


def threads(forum: FakeDiscourse):
    """A public thread, the same in a volunteers' category, and in a private message."""
    public = forum.add_topic("Agenda qui ne se synchronise plus sur Android", post=POST)
    forum.restricted = {9}
    forum.add_topic("Agenda synchronise plus téléphone (équipe)", category=9, post=POST)
    forum.add_topic("Message privé : agenda synchronise plus téléphone", category=None,
                    post=POST)
    return public


async def test_public_threads_are_searched_without_credentials(forum, sessions):
    public = threads(forum)
    found = await plugin_for(forum, sessions).vigie_assistance_suggestions(QUESTION)
    [thread] = found
    assert (thread.kind, thread.title) == ("forum", public.title)
    assert thread.url == f"{forum.url}/t/{public.slug}/{public.id}"
    # one line of the post, as text: the highlight markup and the entities are gone
    assert thread.excerpt.startswith("Depuis la mise à jour, l'agenda ne se synchronise")
    assert "<" not in thread.excerpt and "&amp;" not in thread.excerpt
    assert "téléphone & la tablette" in thread.excerpt
    assert len(thread.excerpt) <= EXCERPT and thread.excerpt.endswith("…")
    [(headers, anonymous)] = forum.searches
    assert anonymous
    assert not {"Api-Key", "Api-Username", "Cookie"} & set(headers)
    [(_, path)] = forum.requests
    assert parse_qs(urlsplit(path).query)["q"] == ["agenda synchronise téléphone"]


async def test_the_anonymous_session_never_sends_a_cookie(forum, tmp_path):
    threads(forum)
    # by a host name: aiohttp keeps no cookie of an IP address whatever the session
    forum.url = forum.url.replace("127.0.0.1", "localhost")
    plugin = ForumPlugin()
    config = SimpleNamespace(sections={"forum": settings_for(forum)},
                             file=SimpleNamespace(site=SimpleNamespace(timezone="Europe/Paris")))
    ctx = SimpleNamespace(config=config)
    await plugin.vigie_startup(ctx)
    try:
        for _ in range(2):  # the forum sets a cookie at every answer
            await plugin.client.search_topics("agenda")
            assert await plugin.vigie_assistance_suggestions(QUESTION)
    finally:
        await plugin.vigie_shutdown(ctx)
    assert [anonymous for _, anonymous in forum.searches] == [False, True] * 2
    assert "Cookie" in forum.searches[2][0]  # the bot's session keeps it, as sessions do
    assert not any("Cookie" in headers for headers, anonymous in forum.searches if anonymous)
    assert plugin.anonymous is None


@pytest.mark.parametrize("status, body, headers", [
    (429, {"errors": ["You've performed this action too many times."],
           "error_type": "rate_limit", "extras": {"wait_seconds": 30}}, {"Retry-After": "30"}),
    (500, {"errors": ["Internal Server Error"]}, {}),
    (403, {"errors": ["You are not permitted to view the requested resource."],
           "error_type": "invalid_access"}, {}),
])
async def test_a_failing_forum_gives_nothing_and_the_guides_still_come(
        forum, sessions, tmp_path, status, body, headers):
    threads(forum)
    forum.fail_search_next(status, body, headers)
    guides = GuidesPlugin()
    guides.configure(GuidesSettings.model_validate(
        {"sources": [{"type": "markdown", "path": str(GUIDES),
                      "base_url": "https://doc.exemple.coop"}]}),
        data_dir=tmp_path, base_dir=GUIDES)
    await guides.library.refresh(sessions[0])
    found = await ask_every_plugin([guides, plugin_for(forum, sessions)], QUESTION)
    assert found and {s.kind for s in found} == {"guide"}
    assert len(forum.searches) == 1  # asked once, never retried while the member waits


async def test_a_forum_that_hangs_is_given_up_after_its_timeout(forum, sessions):
    threads(forum)
    forum.hang_searches = True
    plugin = plugin_for(forum, sessions, suggestions_timeout="200ms")
    assert await plugin.vigie_assistance_suggestions(QUESTION) is None
    assert forum.search_received.is_set()  # it was asked, and did not answer in time
    forum.release.set()


async def test_at_most_suggestions_threads_are_proposed(forum, sessions):
    for n in range(5):
        forum.add_topic(f"Agenda du téléphone numéro {n} : synchronise plus", post=POST)
    assert len(await plugin_for(forum, sessions).vigie_assistance_suggestions(QUESTION)) == 3
    assert len(await plugin_for(forum, sessions, suggestions=5)
               .vigie_assistance_suggestions(QUESTION)) == 5


async def test_nothing_is_asked_when_the_words_say_nothing_or_it_is_turned_off(forum, sessions):
    threads(forum)
    empty = AssistanceQuery(category="other", service_id=None, service_name="Autre chose",
                            group=None, text="Bonjour, ça ne marche plus ! Merci")
    assert await plugin_for(forum, sessions).vigie_assistance_suggestions(empty) is None
    assert await plugin_for(forum, sessions, suggestions=0) \
        .vigie_assistance_suggestions(QUESTION) is None
    assert await ForumPlugin().vigie_assistance_suggestions(QUESTION) is None
    assert not forum.searches


def test_search_words_are_the_first_that_say_something():
    assert search_words("Bonjour ! Le client Nextcloud n'arrive plus à se connecter au "
                        "serveur, l'agenda aussi") == "client nextcloud arrive connecter"
    assert search_words("Problème : impossible d'envoyer des courriels") == "envoyer courriels"
    assert search_words("agenda agenda AGENDA") == "agenda"
    assert search_words("status:public #staff @admin <b>") == ""
    assert search_words("x" * 41 + " https://cloud.exemple.coop/index.php agenda") == "agenda"


async def ask_every_plugin(plugins, question):
    """What the core does: every implementation, coroutines awaited, failures skipped."""
    pm = build_plugin_manager(extra_plugins=[(f"p{i}", p) for i, p in enumerate(plugins)],
                              blocked=["guides", "forum", "tickets"])
    found = []
    for result in pm.hook.vigie_assistance_suggestions(query=question):
        if inspect.isawaitable(result):
            result = await asyncio.wait_for(result, 5)
        found += result or []
    return found
