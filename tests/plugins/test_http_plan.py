"""The http check's prepared plan: the fast path's request bytes (shared between checks of
a host) are exactly what the general request builder makes, and the URL is parsed lazily."""

from __future__ import annotations

import pytest
from yarl import URL

from plugins.http import fastpath
from plugins.http.config import HttpConfig


@pytest.mark.parametrize("url, headers, method, body", [
    ("http://127.0.0.1:8080/ok.html?1-1", {}, "GET", None),
    ("http://example.org/a%20b?x=%C3%A9", {"X-Probe": "1", "Accept": "text/html"}, "POST", "hi"),
    ("http://[::1]:81/", {}, "HEAD", None),
    ("http://127.0.0.1", {"User-Agent": "mine"}, "GET", None),
])
def test_fast_request_is_what_build_request_makes(url, headers, method, body):
    plan = HttpConfig(url=url, headers=headers, method=method, body=body).plan
    assert plan.fast is not None
    expected = fastpath.build_request(plan.method, URL(url), plan.headers, plan.body, "UA/1")
    assert plan.request("UA/1") == expected
    assert plan.request("UA/2") == fastpath.build_request(plan.method, URL(url), plan.headers,
                                                          plan.body, "UA/2")


def test_checks_of_one_host_share_the_end_of_their_request():
    one = HttpConfig(url="http://127.0.0.1:8080/a").plan
    two = HttpConfig(url="http://127.0.0.1:8080/b?x=1").plan
    one.request("UA"), two.request("UA")
    assert one._rest is two._rest  # one bytes object for both
    assert one.headers is two.headers  # and one default headers dict


def test_url_is_parsed_on_first_use_only():
    plan = HttpConfig(url="http://127.0.0.1:8080/a").plan
    assert plan._url is None
    assert plan.url == URL("http://127.0.0.1:8080/a")
    assert plan.url is plan.url


def test_no_fast_path_for_https_rerouted_or_traced_checks():
    assert HttpConfig(url="https://127.0.0.1/").plan.fast is None
    assert HttpConfig(url="http://127.0.0.1/", phases=True).plan.fast is None
    assert HttpConfig(url="http://example.org/", backend="127.0.0.1").plan.fast is None


def test_plan_survives_copies():
    config = HttpConfig(url="http://127.0.0.1:8080/a")
    assert config.plan is config.plan
    copy = config.model_copy(update={"url": "http://127.0.0.1:8080/b"})
    assert copy.plan.url_text == "http://127.0.0.1:8080/b"
