"""The ``demo`` plugin: ``vigie demo`` runs Vigie against local demo services.

:mod:`plugins.demo.targets` holds the demo target servers (reused by tests and benchmarks),
:mod:`plugins.demo.command` the click command, and ``vigie-demo.yaml`` the bundled
configuration.
"""

from __future__ import annotations

from monitor.api import hookimpl


@hookimpl
def vigie_register_commands() -> list:
    """The ``vigie demo`` command."""
    from plugins.demo.command import demo_command

    return [demo_command]
