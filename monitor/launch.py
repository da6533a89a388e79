"""The ``vigie`` script: ``vigie agent`` on its own, every other command through
:mod:`monitor.cli`.

An agent runs on a small machine with no database: started here, it imports only its
command (:mod:`monitor.agent.command`) and what running probes needs, never the rest of
the command line (the store, the dashboard, the bridges' commands) nor the plugins that
add commands. ``vigie --help`` still lists it, and ``vigie --log-level debug agent …``
(an option of the group first) goes through :mod:`monitor.cli`, to the same command.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``vigie`` script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["agent"]:
        from monitor.agent.command import agent

        agent.main(args=args[1:], prog_name="vigie agent")
        return
    from monitor.cli import main as cli_main

    cli_main(argv)
