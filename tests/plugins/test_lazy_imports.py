"""Heavy drivers are imported when a check of their kind needs them, not by every Vigie:
loading every installed plugin leaves psycopg, aiomysql, dnspython, cryptography and
Alembic out of the process."""

from __future__ import annotations

import subprocess
import sys

from plugins._lazy import LazyModule

HEAVY = ("psycopg", "aiomysql", "pymysql", "dns", "cryptography", "alembic", "mako")


def test_loading_every_plugin_imports_no_heavy_driver():
    code = ("import sys, monitor.runtime\n"
            "from monitor.plugins import ProbeRegistry, build_plugin_manager\n"
            "ProbeRegistry.from_plugin_manager(build_plugin_manager(blocked=[]))\n"
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_a_lazy_module_imports_on_first_use():
    code = ("import sys\nfrom plugins._lazy import LazyModule\n"
            "m = LazyModule('json', 'decoder')\nprint('json.decoder' in sys.modules)\n"
            "print(m.dumps([1]), m.decoder.JSONDecodeError.__name__, 'json.decoder' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "[1]", "JSONDecodeError", "True"]


def test_a_lazy_module_says_what_it_stands_for():
    module = LazyModule("colorsys")
    assert "not imported yet" in repr(module)
    assert module.rgb_to_hsv(1, 0, 0) == (0.0, 1.0, 1)
    assert "imported" in repr(module) and "not" not in repr(module)
