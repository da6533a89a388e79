"""Suggestions within their time whatever the plugins do, the rate limits (IPv6 /64, e-mail,
a sliding hour on a hand-moved clock), and the outcome counter."""

from __future__ import annotations

import asyncio
import threading

import pytest

from monitor.ratelimit import RateLimiter, address_key
from monitor.assistance.request import AssistanceQuery, Suggestion
from monitor.assistance.suggest import Suggester
from monitor.plugins import build_plugin_manager, hookimpl

QUERY = AssistanceQuery(category="web", service_id="web", service_name="Hébergement web",
                        group="hosting", text="Mon site affiche une erreur 500")


class Guides:
    @hookimpl
    def vigie_assistance_suggestions(self, query):
        return [Suggestion("guide", "Erreur 500", "https://guides.example/500",
                           "Lire le journal\x00 d'erreurs"),
                Suggestion("guide", "Doublon", "https://guides.example/500"),
                Suggestion("guide", "Piège", "javascript:alert(1)"),
                *[Suggestion("guide", f"G{n}", f"https://guides.example/{n}") for n in range(9)]]


class Forum:
    """A coroutine implementation."""

    @hookimpl
    async def vigie_assistance_suggestions(self, query):
        await asyncio.sleep(0)
        return [Suggestion("forum", "Erreur 500 après mise à jour",
                           "https://forum.example/t/42", "Résolu : PHP 8.3")]


class Stuck:
    """Never answers; tells when it was cancelled."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.cancelled = threading.Event()

    @hookimpl
    async def vigie_assistance_suggestions(self, query):
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


class Broken:
    @hookimpl
    def vigie_assistance_suggestions(self, query):
        raise RuntimeError("index missing")


@pytest.fixture
def loop():
    """An event loop running in a thread, as Vigie's does while web threads ask."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    loop.close()


def test_a_plugin_that_never_answers_does_not_hold_the_page(loop):
    stuck = Stuck()
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[
        ("guides", Guides()), ("forum", Forum()), ("stuck", stuck), ("broken", Broken())])
    # the time is short so the test is quick; what is checked is the outcome, never a duration
    suggester = Suggester(pm, 0.2, loop)
    found = suggester.suggest(QUERY)
    assert stuck.started.is_set() and stuck.cancelled.is_set()
    assert [s.kind for s in found] == ["guide"] * 5 + ["forum"]
    first = found[0]
    assert (first.title, first.url, first.excerpt, first.plugin) == (
        "Erreur 500", "https://guides.example/500", "Lire le journal d'erreurs", "guides")
    assert "javascript:alert(1)" not in [s.url for s in found]
    assert len({s.url for s in found}) == len(found)
    assert found[-1].plugin == "forum"
    suggester.close()


def test_without_plugins_or_loop_there_is_nothing_or_a_loop_of_its_own():
    assert Suggester(None, 1.0).suggest(QUERY) == []
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[("forum", Forum())])
    suggester = Suggester(pm, 5.0)  # the dashboard served alone: its own loop thread
    assert [s.url for s in suggester.suggest(QUERY)] == ["https://forum.example/t/42"]
    suggester.close()


def test_suggest_refuses_to_block_the_loop_it_runs_on(loop):
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[("forum", Forum())])
    suggester = Suggester(pm, 1.0, loop)

    async def on_the_loop():
        return suggester.suggest(QUERY)

    assert asyncio.run_coroutine_threadsafe(on_the_loop(), loop).result(10) == []


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_addresses_count_per_ipv6_64_and_ipv4_address():
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:ffff::9") == (
        "2001:db8:1:2::/64")
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert address_key("192.0.2.7") != address_key("192.0.2.8")


def test_rate_limits_per_address_and_per_email_in_a_sliding_hour():
    clock = Clock()
    limiter = RateLimiter(per_address=2, per_email=1, clock=clock)
    assert limiter.allowed("2001:db8::1", "Alice@Example.org")
    limiter.record("2001:db8::1", "Alice@Example.org")
    assert not limiter.allowed("192.0.2.1", "alice@example.org ")  # same e-mail
    assert limiter.allowed("2001:db8::2", None)  # same /64, one left
    limiter.record("2001:db8::2", "bob@example.org")
    assert not limiter.allowed("2001:db8:0:0:ffff::3", "carol@example.org")  # /64 full
    assert limiter.allowed("2001:db8:0:1::3", "carol@example.org")  # another /64
    clock.now += 3599
    assert not limiter.allowed("2001:db8::9", None)
    clock.now += 2  # the first one is more than an hour old
    assert limiter.allowed("2001:db8::9", None)
    assert limiter.allowed("192.0.2.1", "alice@example.org")


def test_the_service_counts_sent_requests_only(sqlite_setup):
    service = sqlite_setup.service
    service.limiter.clock = sqlite_setup.clock
    for _ in range(3):
        assert service.allowed("203.0.113.7", "alice@example.org")  # asking counts nothing
    service.submit(sqlite_setup.draft(), [])
    service.submit(sqlite_setup.draft(token="tok-2"), [])
    service.submit(sqlite_setup.draft(token="tok-3"), [])
    # the defaults: 3 an hour per e-mail address, 5 per network address
    assert not service.allowed("198.51.100.1", "alice@example.org")
    assert service.allowed("203.0.113.7", "other@example.org")
    service.submit(sqlite_setup.draft(token="tok-4", email="other@example.org"), [])
    service.submit(sqlite_setup.draft(token="tok-5", email="other@example.org"), [])
    assert not service.allowed("203.0.113.7", "third@example.org")
    service.submit(sqlite_setup.draft(token="tok-5", email="other@example.org"), [])  # again
    assert service.allowed("198.51.100.1", "other@example.org")  # still 2 of 3


def test_outcomes_are_bounded(sqlite_setup):
    service = sqlite_setup.service
    service.count("guide_helped")
    service.count("guide_helped")
    with pytest.raises(ValueError):
        service.count("anything else")
    assert service.counts == {"guide_helped": 2}
