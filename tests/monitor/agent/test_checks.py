"""Checks built from the server's specs through the real probe registry, in process."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from monitor.agent.checks import (
    UNRUNNABLE,
    ChecksAnswer,
    CheckSpec,
    agent_registry,
    assigned_checks,
    build_check,
    withheld_secrets,
)
from monitor.agent.settings import BUILT_IN_SERVER_ONLY
from monitor.http_session import LazyHttpSession
from monitor.plugins import ProbeRegistry, build_plugin_manager
from monitor.probe import Status
from monitor.runner import run_check
from monitor.schema import StrictModel


@pytest.fixture(scope="module")
def registry() -> ProbeRegistry:
    pm = build_plugin_manager(blocked=BUILT_IN_SERVER_ONLY)
    return agent_registry(ProbeRegistry.from_plugin_manager(pm))


def spec(kind: str = "http", **options) -> CheckSpec:
    return CheckSpec(key="web/home", kind=kind, interval=60, timeout=5, confirm=3,
                     retry_interval=10, options=options)


def test_the_agent_runs_every_probe_kind_of_the_server_but_push_ones():
    everything = ProbeRegistry.from_plugin_manager(build_plugin_manager())
    agent = ProbeRegistry.from_plugin_manager(build_plugin_manager(blocked=BUILT_IN_SERVER_ONLY))
    # the built-in plugins an agent leaves out register no kind it could run
    assert set(everything.names()) - set(agent.names()) == {"heartbeat"}


def test_a_spec_becomes_the_check_the_configuration_would_give(registry):
    check = build_check(spec(url="https://www.example.coop/", expected_status="200-299",
                             degraded_after=2.5), registry)
    assert check.key == "web/home" and check.ref.kind == "http"
    assert (check.interval, check.timeout, check.confirm, check.retry_interval) == (60, 5, 3, 10)
    # validated and prepared by the http probe itself (its own options type)
    assert type(check.options).__name__ != "dict"
    assert check.options.url == "https://www.example.coop/"


@pytest.mark.parametrize(("options", "withheld"), [
    ({"url": "https://x.example/", "basic_auth": {"username": "u"}}, ["basic_auth.password"]),
    ({"url": "https://x.example/", "basic_auth": {"username": "u", "password": "**********"}},
     ["basic_auth.password"]),
    ({"url": "https://x.example/", "basic_auth": {"username": "u", "password": "s3cret"}}, []),
    ({"url": "https://x.example/", "basic_auth": None}, []),
    ({"url": "https://x.example/"}, []),
])
def test_secrets_left_out_by_the_server_are_found_in_nested_options(registry, options,
                                                                    withheld):
    model = registry.get("http").probe_class.Config
    assert withheld_secrets(model, options) == withheld


def test_an_optional_secret_absent_is_withheld_but_null_is_unset():
    class Login(StrictModel):
        password: SecretStr | None = None
        user: str = "vigie"

    assert withheld_secrets(Login, {"user": "x"}) == ["password"]
    assert withheld_secrets(Login, {"user": "x", "password": None}) == []
    assert withheld_secrets(Login, {"password_file": "/run/secret"}) == []


async def test_checks_it_cannot_run_report_unknown_with_their_reason(registry):
    cases = {
        "withheld": spec(url="https://x.example/", basic_auth={"username": "u"}),
        "missing kind": spec("no_such_kind"),
        "invalid": spec(url="ftp://x.example/"),
        "its own kind": spec(UNRUNNABLE, code="x", fr="x", en="x"),
    }
    codes = {}
    async with LazyHttpSession() as http:
        for name, case in cases.items():
            check = build_check(case, registry)
            assert check.ref.kind == UNRUNNABLE, name
            result = await run_check(check, registry.get(UNRUNNABLE).instance, http)
            assert result.status is Status.UNKNOWN, name
            codes[name] = result.reason.code
            assert not http.created  # nothing was probed
    assert codes == {"withheld": "agent.secret_withheld", "missing kind": "agent.kind_missing",
                     "invalid": "agent.check_invalid", "its own kind": "agent.kind_missing"}


def test_the_reasons_speak_both_languages(registry):
    check = build_check(spec(url="https://x.example/", basic_auth={"username": "u"}), registry)
    assert "agent_secrets: true" in check.options.fr and "agent_secrets: true" in check.options.en
    assert check.options.fr != check.options.en


def test_unreadable_specs_are_left_out_not_fatal(registry, caplog):
    answer = ChecksAnswer(location="lyon", agent="lyon-1", revision="r1", checks=[
        {"key": "web/a", "kind": "http", "interval": 30, "timeout": 5,
         "options": {"url": "https://a.example/"}},
        {"key": "not a key", "kind": "http", "interval": 30, "timeout": 5},
        {"key": "web/b", "kind": "http", "interval": -1, "timeout": 5},
        {"key": "web/a", "kind": "tcp", "interval": 30, "timeout": 5},
        {"key": "web/c", "kind": "tcp", "interval": 30, "timeout": 5, "later_field": 1,
         "options": {"host": "127.0.0.1", "port": 22}},
    ])
    assigned = assigned_checks(answer, registry)
    assert [c.key for c in assigned.checks] == ["web/a", "web/c"]
    assert "checks[1]: key" in caplog.text and "checks[2]: interval" in caplog.text
    assert "web/a twice" in caplog.text
    assert [s.id for s in assigned.services()] == ["web"]


def test_a_hostile_kind_name_is_made_safe_in_the_reason(registry):
    check = build_check(spec("x\x00\u202e" + "y" * 90), registry)
    assert "\x00" not in check.options.en and "\u202e" not in check.options.en
    assert "y" * 90 in check.options.en


async def test_a_spec_runs_through_the_runner_like_a_configured_check(registry):
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    app = web.Application()
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get("/", ok)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        check = build_check(spec(url=str(server.make_url("/")), keyword="ok"), registry)
        async with LazyHttpSession() as http:
            result = await run_check(check, registry.get("http").instance, http)
    finally:
        await server.close()
    assert result.status is Status.UP
