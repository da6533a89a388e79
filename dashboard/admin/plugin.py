"""The admin area as a Vigie plugin: the ``vigie user`` and ``vigie token`` commands.

The blueprint itself is registered by the dashboard's ``create_app``; this plugin only
adds the account commands to the ``vigie`` command line.
"""

from __future__ import annotations

from monitor.plugins import hookimpl


@hookimpl
def vigie_register_commands():
    """``vigie user add|list|remove|passwd`` and ``vigie token add|list|revoke``."""
    from dashboard.admin.cli import COMMANDS

    return list(COMMANDS)
