"""The bundled demo configuration and how ``vigie demo`` renders it before loading it.

``vigie-demo.yaml`` is valid as it is (``vigie config check plugins/demo/vigie-demo.yaml``)
and uses the default target ports. ``vigie demo`` writes a rendered copy into its data
directory, so that ``vigie -c <that copy> user add NAME`` works on the demo's database:

- the demo targets' ports (``8701`` + :data:`~plugins.demo.targets.OFFSETS`) are moved to
  the chosen base port, wherever they appear (``127.0.0.1:PORT``, ``port:``,
  ``smtp_port:``, a Nagios ``command:``);
- the guides folder (``path: guides``, relative to the bundled file) becomes absolute,
  since the copy lives elsewhere;
- ``site.public_url`` follows Vigie's listener (links in alerts and guides);
- blocks between ``# demo:requires <file>`` and ``# demo:end`` are left out when that file
  is not an executable on this machine (the Nagios check needs monitoring-plugins);
- ``data_dir: .`` is added on top: the copy's folder is the data directory.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

from plugins.demo.targets import DEFAULT_BASE_PORT, OFFSETS

DEMO_CONFIG = Path(__file__).with_name("vigie-demo.yaml")
"""The bundled demo configuration."""
GUIDES_DIR = Path(__file__).with_name("guides")
"""The demo's Markdown guides (installed with the package)."""
CHECK_TCP = Path("/usr/lib/nagios/plugins/check_tcp")
"""The Nagios plugin the demo's ``nagios`` check runs, when installed."""

_TARGET_ADDRESS = re.compile(r"127\.0\.0\.1:(\d+)")
_PORT_KEY = re.compile(r"(?m)^(\s+(?:smtp_)?port: )(\d+)[ \t]*$")
_COMMAND = re.compile(r"(?m)^(\s+command: .*)$")
_OPTIONAL = re.compile(r"(?ms)^[ \t]*# demo:requires (\S+)[ \t]*\n(.*?)^[ \t]*# demo:end[ \t]*\n")
_GUIDES = re.compile(r"(?m)^(\s+path: )guides\b")
_PUBLIC_URL = re.compile(r"(?m)^(\s+public_url: )\S+")


def executable(path: str) -> bool:
    """True when ``path`` is an executable file."""
    return os.path.isfile(path) and os.access(path, os.X_OK)


def render_demo_config(base_port: int = DEFAULT_BASE_PORT, *, public_url: str | None = None,
                       available: Callable[[str], bool] = executable) -> str:
    """The demo configuration's text, ready to be written into the data directory.

    :param base_port: the first port of the demo targets.
    :param public_url: Vigie's address as a visitor opens it (default: as bundled).
    :param available: tells whether a ``# demo:requires`` file is there.
    """
    text = DEMO_CONFIG.read_text(encoding="utf-8")
    text = _OPTIONAL.sub(lambda m: m.group(2) if available(m.group(1)) else "", text)
    shift = {DEFAULT_BASE_PORT + offset: base_port + offset for offset in OFFSETS.values()}

    def moved(port: str) -> str:
        return str(shift.get(int(port), int(port)))

    text = _TARGET_ADDRESS.sub(lambda m: f"127.0.0.1:{moved(m.group(1))}", text)
    text = _PORT_KEY.sub(lambda m: f"{m.group(1)}{moved(m.group(2))}", text)
    text = _COMMAND.sub(lambda m: re.sub(r"\b\d+\b", lambda n: moved(n.group(0)), m.group(1)),
                        text)
    # a JSON string is a valid YAML scalar, whatever the path holds
    text = _GUIDES.sub(lambda m: m.group(1) + json.dumps(str(GUIDES_DIR.resolve())), text)
    if public_url is not None:
        text = _PUBLIC_URL.sub(lambda m: m.group(1) + json.dumps(public_url), text)
    return ("# Rendered by `vigie demo` from the bundled plugins/demo/vigie-demo.yaml: "
            "edit that one.\n"
            "data_dir: .   # this folder: `vigie -c <this file> …` uses the demo's database\n"
            + text)
