"""Tests of the plugin system: building the manager, the registry, an outside plugin,
hookspec documentation and event dispatch."""

from __future__ import annotations

import asyncio
import inspect
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import tomllib
import types
from collections import Counter
from pathlib import Path

import aiohttp
import pluggy
import pytest

from monitor import hookspecs
from monitor.config_loader import ConfigError, load_config
from monitor.events import fire
from monitor.plugins import (
    PluginError,
    ProbeRegistry,
    build_plugin_manager,
    call_each,
    hookimpl,
    plugin_caller,
)
from monitor.probe import Probe, Status
from monitor.runner import run_check
from monitor.startup import StartupContext

OUTSIDE = Path(__file__).resolve().parents[1] / "fixtures" / "outside_plugin"


def probe_plugin(*kinds: str) -> object:
    """A plugin object registering one trivial probe class per kind."""
    classes = [type(f"Probe_{k}", (Probe,), {"kind": k}) for k in kinds]

    class Plugin:
        @hookimpl
        def vigie_register_probes(self):
            return classes

    return Plugin()


# Building the plugin manager ------------------------------------------------------------


def test_blocked_plugin_is_not_registered_and_its_kinds_are_absent():
    pm = build_plugin_manager(
        blocked=["beta"], load_entry_points=False,
        extra_plugins=[("alpha", probe_plugin("a1", "a2")), ("beta", probe_plugin("b1"))])
    assert pm.is_blocked("beta") and pm.get_plugin("beta") is None
    assert ProbeRegistry.from_plugin_manager(pm).names() == ["a1", "a2"]


def test_blocked_built_in_entry_point_is_not_loaded():
    loaded = build_plugin_manager()
    assert loaded.get_plugin("demo") is not None  # built-ins come through entry points
    pm = build_plugin_manager(blocked=["demo"])
    assert pm.get_plugin("demo") is None and pm.is_blocked("demo")
    assert pm.get_plugin("http") is not None


def test_misspelt_hookimpl_fails_at_build_naming_plugin_and_the_right_hook():
    class Typo:
        @hookimpl
        def vigie_register_probe(self):
            return []

    with pytest.raises(PluginError) as caught:
        build_plugin_manager(load_entry_points=False, extra_plugins=[("typo-plugin", Typo())])
    message = str(caught.value)
    assert "'typo-plugin'" in message
    assert "unknown hook 'vigie_register_probe'" in message
    assert "did you mean 'vigie_register_probes'?" in message


def test_hookimpl_with_an_argument_the_hook_does_not_have_is_a_plugin_error():
    class BadArgs:
        @hookimpl
        def vigie_cycle_completed(self, at, checks, duraton):
            pass

    with pytest.raises(PluginError) as caught:
        build_plugin_manager(load_entry_points=False, extra_plugins=[("bad-args", BadArgs())])
    message = str(caught.value)
    assert "'bad-args'" in message and "vigie_cycle_completed" in message
    assert "duraton" in message


def test_two_plugins_registering_the_same_kind_is_refused_naming_both():
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[
        ("first", probe_plugin("web")), ("second", probe_plugin("mail", "web"))])
    with pytest.raises(PluginError) as caught:
        ProbeRegistry.from_plugin_manager(pm)
    message = str(caught.value)
    assert "'web'" in message and "'first'" in message and "'second'" in message
    assert "blocked" in message  # tells how to get out of it


def test_probe_class_without_kind_is_refused():
    class NoKind(Probe):
        pass

    class Plugin:
        @hookimpl
        def vigie_register_probes(self):
            return [NoKind]

    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[("nokind", Plugin())])
    with pytest.raises(PluginError, match="'nokind'.*without a 'kind'"):
        ProbeRegistry.from_plugin_manager(pm)


# A plugin from outside the project ------------------------------------------------------


@pytest.fixture
def outside_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A sys.path entry where the outside plugin looks installed.

    Entry points are discovered from ``*.dist-info/entry_points.txt`` on sys.path, which
    is what ``pip install`` writes; the file is built from the fixture's own
    ``pyproject.toml``, so that declaration is what is tested.
    """
    project = tomllib.loads((OUTSIDE / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    site = tmp_path / "site"
    shutil.copytree(OUTSIDE / "vigie_outside_probe", site / "vigie_outside_probe",
                    ignore=shutil.ignore_patterns("__pycache__"))
    dist = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n",
        encoding="utf-8")
    entry_points = ["[vigie]", *(f"{name} = {target}" for name, target
                                 in project["entry-points"]["vigie"].items())]
    (dist / "entry_points.txt").write_text("\n".join(entry_points) + "\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("vigie_outside_probe", None)


def write_outside_config(tmp_path: Path) -> Path:
    """A configuration using the outside kind: one fresh file, one stale."""
    fresh, stale = tmp_path / "fresh.stamp", tmp_path / "stale.stamp"
    fresh.write_text("ok\n")
    stale.write_text("ok\n")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    config = tmp_path / "vigie.yaml"
    config.write_text(textwrap.dedent(f"""\
        data_dir: {tmp_path / 'data'}
        services:
          - id: backups
            name: Sauvegardes
            checks:
              - id: fresh
                kind: file_age
                path: {fresh}
                max_age: 1h
              - id: stale
                kind: file_age
                path: {stale}
                max_age: 1h
        """), encoding="utf-8")
    return config


async def test_outside_plugin_kind_is_found_validated_and_run(outside_site, tmp_path):
    assert "vigie_outside_probe" not in sys.modules
    registry = ProbeRegistry.from_plugin_manager(build_plugin_manager())
    kind = registry.get("file_age")
    assert kind is not None and kind.plugin == "outside"
    assert "http" in registry  # the built-ins are still there beside it

    config = load_config(write_outside_config(tmp_path), registry)
    checks = {c.ref.check_id: c for c in config.checks}
    assert checks["fresh"].options.max_age == 3600.0
    async with aiohttp.ClientSession() as http:
        fresh = await run_check(checks["fresh"], kind.instance, http)
        stale = await run_check(checks["stale"], kind.instance, http)
    assert fresh.status == Status.UP and fresh.samples["file_age_seconds"] < 60
    assert stale.status == Status.DOWN
    assert stale.reason.code == "file_age.stale"
    assert stale.samples["file_age_seconds"] == pytest.approx(7200, abs=60)


def test_outside_plugin_options_are_validated_strictly(outside_site, tmp_path):
    registry = ProbeRegistry.from_plugin_manager(build_plugin_manager())
    bad = tmp_path / "bad.yaml"
    bad.write_text(textwrap.dedent("""\
        services:
          - id: backups
            name: Sauvegardes
            checks:
              - id: nightly
                kind: file_age
                path: /var/backups/stamp
                max_agee: 26h
        """), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(bad, registry)
    assert str(caught.value) == (f"{bad}:8: services[0].checks[0].max_agee: unknown key "
                                 "'max_agee' (did you mean 'max_age'?)")


def test_blocking_the_outside_plugin_by_name(outside_site):
    registry = ProbeRegistry.from_plugin_manager(build_plugin_manager(blocked=["outside"]))
    assert "file_age" not in registry


def test_vigie_command_lists_and_runs_the_outside_kind(outside_site, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(outside_site), "VIGIE_CONFIG": ""}
    probes = subprocess.run([sys.executable, "-m", "monitor", "probes"], env=env,
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert probes.returncode == 0, probes.stderr
    assert re.search(r"^file_age\s+outside\s+A local file was modified", probes.stdout, re.M)

    config = write_outside_config(tmp_path)
    run = subprocess.run([sys.executable, "-m", "monitor", "-c", str(config), "check"],
                         env={**env, "LC_ALL": "fr_FR.UTF-8"}, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert run.returncode == 2, run.stdout + run.stderr  # one check down
    assert re.search(r"^backups\s+fresh\s+file_age\s+OK\b", run.stdout, re.M)
    assert re.search(r"^backups\s+stale\s+file_age\s+EN PANNE\b.*n'a pas été modifié depuis 2h",
                     run.stdout, re.M)


# Wrapper hookimpls -----------------------------------------------------------------------

WRAPPING_PLUGIN = textwrap.dedent("""\
    import pluggy

    hookimpl = pluggy.HookimplMarker("vigie")


    @hookimpl(wrapper=True)
    def vigie_incident_opened(event):
        links = yield
        return links
    """)


@pytest.fixture
def wrapping_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A third-party plugin, installed as pip would (dist-info with a ``vigie`` entry
    point), that declares a new-style wrapper."""
    site = tmp_path / "site"
    (site / "vigie_wrapping").mkdir(parents=True)
    (site / "vigie_wrapping" / "__init__.py").write_text(WRAPPING_PLUGIN, encoding="utf-8")
    dist = site / "vigie_wrapping-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: vigie-wrapping\n"
                                   "Version: 0.1.0\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text("[vigie]\nwrapping = vigie_wrapping\n",
                                           encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("vigie_wrapping", None)


def test_an_outside_plugin_declaring_a_wrapper_is_refused_at_start(wrapping_site):
    with pytest.raises(PluginError) as refused:
        build_plugin_manager()
    message = str(refused.value)
    assert message.startswith("plugin 'wrapping': hook 'vigie_incident_opened' is declared "
                              "as a wrapper (wrapper=True or hookwrapper=True)")
    assert "plain @hookimpl" in message
    # blocking it by name is the way out, as for any plugin
    assert build_plugin_manager(blocked=["wrapping"]).get_plugin("wrapping") is None


def test_vigie_names_the_wrapping_plugin_instead_of_starting(wrapping_site, tmp_path):
    config = tmp_path / "vigie.yaml"
    config.write_text("services: []\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(wrapping_site), "VIGIE_CONFIG": str(config)}
    answer = subprocess.run([sys.executable, "-m", "monitor", "probes"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert answer.returncode != 0
    assert "plugin 'wrapping': hook 'vigie_incident_opened' is declared as a wrapper" in (
        answer.stderr)
    assert "Traceback" not in answer.stderr


def test_an_old_style_hookwrapper_is_refused_too():
    class Timing:
        @hookimpl(hookwrapper=True)
        def vigie_cycle_completed(self, at):
            yield

    with pytest.raises(PluginError, match="plugin 'timing': hook 'vigie_cycle_completed' is "
                                          "declared as a wrapper"):
        build_plugin_manager(load_entry_points=False, extra_plugins=[("timing", Timing())])


def test_a_wrapper_registered_at_run_time_is_refused_and_leaves_the_manager_unchanged():
    pm = build_plugin_manager(load_entry_points=False)

    class Late:
        @hookimpl(wrapper=True)
        def vigie_system_alert(self, alert):
            return (yield)

    with pytest.raises(PluginError, match="plugin 'late'"):
        pm.register(Late(), name="late")
    assert pm.get_plugin("late") is None and not pm.hook.vigie_system_alert.get_hookimpls()


# Calling hooks through pluggy --------------------------------------------------------------


def test_call_each_goes_on_past_a_failing_plugin_in_pluggy_order(caplog):
    calls = []

    def plugin(name: str, fails: bool = False, **opts) -> object:
        class Plugin:
            @hookimpl(**opts)
            def vigie_register_config_sections(self):
                calls.append(name)
                if fails:
                    raise RuntimeError(f"{name} broke")
                return {name: object}

        return Plugin()

    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[
        ("first", plugin("first")), ("broken", plugin("broken", fails=True)),
        ("last", plugin("last")), ("eager", plugin("eager", tryfirst=True))])
    failures: Counter[tuple[str, str]] = Counter()
    answers = list(call_each(pm, "vigie_register_config_sections", {}, failures=failures))
    # pluggy's order: tryfirst, then the last registered first
    assert calls == ["eager", "last", "broken", "first"]
    assert answers == [("eager", {"eager": object}), ("last", {"last": object}),
                       ("first", {"first": object})]
    assert failures == Counter({("broken", "vigie_register_config_sections"): 1})
    assert "plugin broken failed in vigie_register_config_sections" in caplog.text


def test_one_plugin_caller_calls_that_plugin_only():
    heard = []

    def listener(name: str) -> object:
        class Listener:
            @hookimpl
            def vigie_system_alert(self, alert):
                heard.append(name)
                return name

        return Listener()

    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[
        ("a", listener("a")), ("b", listener("b")), ("c", listener("c"))])
    caller = plugin_caller(pm, "vigie_system_alert", "b")
    assert isinstance(caller, pluggy.HookCaller)
    assert caller(alert=None) == ["b"] and heard == ["b"]
    assert plugin_caller(pm, "vigie_system_alert", "nobody") is None
    assert plugin_caller(pm, "vigie_incident_opened", "a") is None


def test_no_code_calls_hook_implementations_by_hand():
    """Hooks are called through pluggy's hook callers: only monitor/plugins.py reads
    hookimpls (to name the implementers), and nothing calls ``impl.function``."""
    root = Path(__file__).resolve().parents[2]
    offenders = []
    for package in ("monitor", "plugins", "docs_bridge", "tickets_bridge", "dashboard"):
        for path in (root / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            relative = path.relative_to(root).as_posix()
            if re.search(r"\.function\s*\(", text) or (
                    "get_hookimpls" in text and relative != "monitor/plugins.py"):
                offenders.append(relative)
    assert offenders == []


# What start-up gives plugins ---------------------------------------------------------------


async def test_startup_gives_the_context_and_the_runtime_argument_is_deprecated():
    got = {}

    class Current:
        @hookimpl
        def vigie_startup(self, ctx):
            got["current"] = ctx

    class Old:
        @hookimpl
        def vigie_shutdown(self, runtime):
            got["old"] = runtime

    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[("current", Current())])
    with pytest.warns(DeprecationWarning, match="'runtime' argument of vigie_startup and "
                                                "vigie_shutdown is deprecated: take 'ctx'"):
        pm.register(Old(), name="old")
    ctx, runtime = StartupContext(config=None, state=None), object()
    await fire(pm, "vigie_startup", ctx=ctx, runtime=runtime)
    await fire(pm, "vigie_shutdown", ctx=ctx, runtime=runtime)
    assert got == {"current": ctx, "old": runtime}  # the old plugin still works
    with pytest.raises(RuntimeError, match=r"mount\(\) is only available inside `vigie run`"):
        ctx.mount("/x", None)


def test_no_in_repo_plugin_asks_for_the_whole_runtime():
    root = Path(__file__).resolve().parents[2]
    askers = [path.relative_to(root).as_posix()
              for package in ("plugins", "docs_bridge", "tickets_bridge", "dashboard")
              for path in (root / package).rglob("*.py")
              if re.search(r"def vigie_(startup|shutdown)\((self, )?runtime",
                           path.read_text(encoding="utf-8"))]
    assert askers == []


# Hookspec documentation -----------------------------------------------------------------


def hookspec_problems(module: types.ModuleType) -> list[str]:
    """What is missing from the docstrings of the hookspecs in ``module``."""
    problems = []
    specs = [f for _, f in inspect.getmembers(module, inspect.isfunction)
             if hasattr(f, f"{hookspecs.PROJECT}_spec")]
    if not specs:
        return ["no hookspec found"]
    for func in specs:
        name, doc = func.__name__, inspect.getdoc(func) or ""
        if not doc.strip():
            problems.append(f"{name}: no docstring")
            continue
        for param in inspect.signature(func).parameters:
            if f":param {param}:" not in doc:
                problems.append(f"{name}: parameter {param!r} not documented")
        if ":return" not in doc:
            problems.append(f"{name}: return value not documented (':return:')")
        if not re.search(r"\b(Synchronous|May be a coroutine function)\b", doc):
            problems.append(f"{name}: does not say whether it is synchronous or may be async")
        if not re.search(r"\b(fires|called)\b", doc, re.I):
            problems.append(f"{name}: does not say when it fires")
    return problems


def test_every_hookspec_documents_when_params_return_and_sync_or_async():
    names = {f for f in dir(hookspecs) if hasattr(getattr(hookspecs, f), "vigie_spec")}
    assert {"vigie_register_probes", "vigie_check_status_changed"} <= names
    assert hookspec_problems(hookspecs) == []


def test_hookspec_doc_check_catches_an_undocumented_hook():
    bad = types.ModuleType("bad_hookspecs")
    spec = pluggy.HookspecMarker(hookspecs.PROJECT)

    def vigie_thing_happened(thing):
        """Fires when a thing happens.

        :return: nothing.
        """

    def vigie_silent():
        pass

    bad.vigie_thing_happened = spec(vigie_thing_happened)
    bad.vigie_silent = spec(vigie_silent)
    assert hookspec_problems(bad) == [
        "vigie_silent: no docstring",
        "vigie_thing_happened: parameter 'thing' not documented",
        "vigie_thing_happened: does not say whether it is synchronous or may be async",
    ]


# Event dispatch -------------------------------------------------------------------------


async def test_fire_calls_every_impl_awaits_async_and_counts_failures(caplog):
    failures: Counter[tuple[str, str]] = Counter()
    calls = []

    class Broken:
        @hookimpl
        def vigie_cycle_completed(self, at, checks, duration):
            calls.append("broken")
            raise RuntimeError("boom")

    class SyncOk:
        @hookimpl
        def vigie_cycle_completed(self, checks):
            calls.append("sync")
            return ("sync", checks)

    class AsyncBroken:
        @hookimpl
        async def vigie_cycle_completed(self, at):
            await asyncio.sleep(0)
            calls.append("async-broken")
            raise ValueError("late boom")

    class AsyncOk:
        @hookimpl
        async def vigie_cycle_completed(self, at, duration):
            await asyncio.sleep(0)
            calls.append("async")
            return ("async", at, duration)

    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[
        ("broken", Broken()), ("sync-ok", SyncOk()), ("async-broken", AsyncBroken()),
        ("async-ok", AsyncOk())])
    results = await fire(pm, "vigie_cycle_completed", failures=failures, at=5.0, checks=3,
                         duration=1.5)

    assert sorted(calls) == ["async", "async-broken", "broken", "sync"]
    assert sorted(results) == [("async", 5.0, 1.5), ("sync", 3)]
    assert failures == Counter({("broken", "vigie_cycle_completed"): 1,
                                     ("async-broken", "vigie_cycle_completed"): 1})
    assert "plugin broken failed in vigie_cycle_completed" in caplog.text
    assert "plugin async-broken failed in vigie_cycle_completed" in caplog.text


async def test_fire_with_no_implementation_returns_nothing():
    pm = build_plugin_manager(load_entry_points=False)
    assert await fire(pm, "vigie_cycle_completed", at=1.0, checks=0, duration=0.0) == []

