"""What an idle ``vigie run`` loads: only what its configuration uses.

A real runtime (every installed plugin but the demo, the dashboard mounted, SQLite) is
started in a fresh interpreter from a configuration, then ``sys.modules`` is read once it
is ready. Without a ``notifications:`` section Apprise stays out; without a helpdesk or
guides the bridges' heavy modules stay out; Markdown and nh3 wait for a text to render;
the XML parser waits for a Nextcloud or Sympa answer. Configured, they load and work.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

#: modules an idle Vigie without notifications, helpdesk, guides or recurring maintenance
#: never needs
NOT_WHEN_IDLE = (
    "apprise",
    "plugins.notify_apprise.notifier",
    "plugins.notify_apprise.targets",
    "markdown",
    "nh3",
    "Stemmer",
    "docs_bridge.guide_pages",
    "tickets_bridge.mail",
    "smtplib",
    "xml.etree.ElementTree",
    "pyexpat",
    "croniter",
    "dateutil.rrule",
    "icalendar",
)

#: the runtime, started in a fresh interpreter; prints what it loaded once ready
RUN_IDLE = r"""
import asyncio, json, sys
from pathlib import Path

from monitor.runtime import run_from_path
from monitor.plugins import build_plugin_manager

async def main(path):
    ready, stop = asyncio.Event(), asyncio.Event()
    pm = build_plugin_manager(blocked=["demo"])
    task = asyncio.create_task(run_from_path(Path(path), ready=ready, stop=stop,
                                             plugin_manager=pm))
    waiting = asyncio.create_task(ready.wait())
    await asyncio.wait([waiting, task], timeout=60, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()  # start-up failed: show why
    assert ready.is_set(), "not ready within 60 s"
    notifier = pm.get_plugin("apprise").notifier
    out = {"modules": sorted(sys.modules),
           "notifier": type(notifier).__name__ if notifier else None,
           "receivers": len(notifier.targets) if notifier else 0}
    stop.set()
    await asyncio.wait_for(task, 60)
    print(json.dumps(out))

asyncio.run(main(sys.argv[1]))
"""


def _config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "vigie.yaml"
    path.write_text(
        "data_dir: data\n"
        "server: {listen: '127.0.0.1:0'}\n"
        "scheduler: {spread_first_runs: true}\n"
        "defaults: {interval: 1h}\n"
        "plugins: {blocked: [demo]}\n"
        + extra +
        "services:\n"
        "  - id: web\n"
        "    name: Web\n"
        "    checks:\n"
        "      - {id: home, kind: http, url: 'http://127.0.0.1:9/'}\n",
        encoding="utf-8")
    return path


def _run_idle(config: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", RUN_IDLE, str(config)], capture_output=True,
                          text=True, check=False, timeout=180, cwd=config.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_an_idle_runtime_loads_no_notifier_bridge_markdown_or_xml(tmp_path):
    out = _run_idle(_config(tmp_path))
    loaded = set(out["modules"])
    assert [m for m in NOT_WHEN_IDLE if m in loaded] == []
    assert out["notifier"] is None
    # the plugins themselves are registered (their sections and hooks are there)
    assert {"plugins.notify_apprise", "tickets_bridge.plugin", "docs_bridge.guides_plugin",
            "dashboard.plugin"} <= loaded
    # the public plugin API only re-exports what an idle Vigie has loaded anyway
    assert sorted(_imported_by("monitor.api") - loaded) == []


def _imported_by(module: str) -> set[str]:
    """The modules a fresh interpreter holds after importing ``module``."""
    code = f"import json, sys, {module}\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout))


def test_a_configured_notifier_loads_apprise_and_builds_its_receivers(tmp_path):
    extra = ("notifications:\n"
             "  urls:\n"
             "    - {url: 'json://127.0.0.1:9/hook', name: webhook}\n")
    out = _run_idle(_config(tmp_path, extra))
    assert "apprise" in out["modules"]
    assert out["notifier"] == "Notifier"
    assert out["receivers"] == 1


def test_the_notifier_classes_are_still_importable_from_the_plugin():
    code = ("import sys\n"
            "import plugins.notify_apprise as p\n"
            "print('apprise' in sys.modules)\n"
            "from plugins.notify_apprise import DeliveryFailed, Notifier\n"
            "print(Notifier.__module__, issubclass(DeliveryFailed, Exception), "
            "'apprise' in sys.modules)\n"
            "try:\n"
            "    p.nothing_here\n"
            "except AttributeError as exc:\n"
            "    print('AttributeError', 'nothing_here' in str(exc))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "plugins.notify_apprise.notifier", "True", "True",
                                   "AttributeError", "True"]


def test_markdown_is_rendered_once_asked(tmp_path):
    code = ("import sys\nfrom monitor.markup import render\n"
            "import monitor.incidents.models\n"
            "print('markdown' in sys.modules, 'nh3' in sys.modules)\n"
            "print(render('') == '', 'markdown' in sys.modules)\n"
            "print(render('# Hi <script>x</script>'))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == ["False False", "True False"]
    assert "<h3>Hi" in lines[2] and "<script>" not in lines[2]
