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
    assert one.origin is two.origin == ("127.0.0.1", 8080, "127.0.0.1:8080")
    assert (one.target, two.target) == (b"/a", b"/b?x=1")
    assert one.fast == ("127.0.0.1", 8080, b"/a", "127.0.0.1:8080")


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


# Shared rules: what 100,000 checks configured alike keep once -------------------------

def _options(**keys):
    from plugins.http import HttpProbe

    return HttpProbe.prepare(HttpConfig.model_validate(keys))


def test_checks_configured_alike_share_their_rules():
    one = _options(url="http://127.0.0.1:8080/a", keyword="ok", expected_status="2xx")
    two = _options(url="https://example.org/b", keyword="ok", expected_status="2xx")
    assert one.plan.rules is two.plan.rules
    # the same codes written otherwise are the same rule once validated
    assert _options(url="http://127.0.0.1/", keyword="ok",
                    expected_status="200-299").plan.rules is one.plan.rules
    assert (one.url, two.url) == ("http://127.0.0.1:8080/a", "https://example.org/b")
    assert one.plan.url_text == one.url and two.plan.url == URL("https://example.org/b")
    assert one != two and one == _options(url="http://127.0.0.1:8080/a", keyword="ok",
                                          expected_status="2xx")


@pytest.mark.parametrize("other", [
    {"keyword": "ko"},
    {"expected_status": "200-399"},
    {"basic_auth": {"username": "u", "password": "other"}},
    {"headers": {"X-A": "1", "X-B": "2"}},  # the same headers in another order
    {"json_path": {"path": "ok", "equals": True}},
    {"phases": True},
])
def test_checks_configured_otherwise_do_not_share(other):
    base = {"basic_auth": {"username": "u", "password": "secret"},
            "headers": {"X-B": "2", "X-A": "1"}, "json_path": {"path": "ok", "equals": 1},
            "expected_status": "2xx", "keyword": "ok"}
    one = _options(url="http://127.0.0.1:8080/", **base)
    two = _options(url="http://127.0.0.1:8080/", **{**base, **other})
    assert one.plan.rules is not two.plan.rules
    assert one != two


def test_prepared_options_read_every_key_as_the_model_does():
    keys = {"url": "http://127.0.0.1:8080/a", "method": "post", "body": "x",
            "headers": {"X-Probe": "1"}, "keyword": "ok", "regex": "o+",
            "json_path": "status", "degraded_after": "2s", "max_redirects": 3,
            "basic_auth": {"username": "u", "password": "p"}, "expected_status": [200, 204]}
    config = HttpConfig.model_validate(keys)
    options = _options(**keys)
    for name in HttpConfig.model_fields:
        assert getattr(options, name) == getattr(config, name), name
    with pytest.raises(AttributeError):
        options.no_such_key  # noqa: B018 (the read must raise)
    assert getattr(options, "port", None) is None


def test_shared_rules_cannot_be_changed():
    import dataclasses

    options = _options(url="http://127.0.0.1:8080/", headers={"X-Probe": "1"})
    rules = options.plan.rules
    with pytest.raises(dataclasses.FrozenInstanceError):
        rules.keyword = "changed"  # type: ignore[misc]  # frozen: the test
    with pytest.raises(TypeError):
        rules.headers["X-Probe"] = "2"  # type: ignore[index]  # frozen: the test
    with pytest.raises(TypeError):
        _options(url="http://127.0.0.1:8080/").plan.headers["Connection"] = "keep-alive"
    with pytest.raises(AttributeError):
        options.url = "http://elsewhere/"  # type: ignore[misc]  # frozen: the test
    with pytest.raises(AttributeError):
        options.keyword = "changed"
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.plan.rules = rules  # type: ignore[misc]  # frozen: the test
    assert rules.options.url == ""  # the shared options hold no check's URL


def test_prepared_options_hide_a_password_in_their_url():
    options = _options(url="http://user:hunter2-pw@127.0.0.1:8080/",
                       basic_auth={"username": "u", "password": "s3cr3t-basic"})
    assert "hunter2-pw" not in repr(options) and "s3cr3t-basic" not in repr(options)
    assert "127.0.0.1:8080" in repr(options)


def test_prepared_options_survive_copies_and_pickles():
    import copy
    import pickle

    options = _options(url="http://127.0.0.1:8080/a", keyword="ok")
    assert copy.copy(options) is options and copy.deepcopy(options) is options
    again = pickle.loads(pickle.dumps(options))
    assert again == options and again.plan.rules is options.plan.rules
    assert again.keyword == "ok" and again.url == "http://127.0.0.1:8080/a"
