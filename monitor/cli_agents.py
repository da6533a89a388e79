"""``vigie agent-token``: the tokens of remote agents, from the command line
(administrators).

- ``vigie agent-token add NAME --location L`` — make a token for the agent ``NAME`` at
  the remote location ``L``; the token is printed once (only its SHA-256 is kept);
- ``vigie agent-token list`` — the tokens, their location and the agents' last news
  (never a token);
- ``vigie agent-token revoke NAME`` — the agent's next request is refused.
"""

from __future__ import annotations

import time
from typing import Any

import click

from monitor.access import Permission
from monitor.agents import assignments, service
from monitor.cli_common import tell
from monitor.cli_identity import acting
from monitor.words import _


def _ops(admin) -> service.AgentOperations:
    """The operations, with the configured locations."""
    return service.AgentOperations(assignments.assignments_of(admin.config))


@click.group("agent-token")
def agent_token_group() -> None:
    """Tokens of the remote agents (vigie agent)."""


@agent_token_group.command("add")
@click.argument("name")
@click.option("--location", required=True,
              help="The remote location the agent runs at (locations.remote).")
@acting(Permission.AGENTS)
@click.pass_context
def agent_token_add(ctx, name, location) -> None:
    """Make a token for the agent NAME (letters, digits, - _ .); prints it once."""
    from monitor.cli_admin import Admin

    admin = Admin(ctx)
    ops: Any = _ops(admin)  # the decorator adds the ``actor`` keyword
    with admin.change() as s:
        new = ops.add_token(s, name=name, location=location, actor=admin.actor)
    click.echo(tell(_("Agent token “{name}” added for the location “{location}”. Give it "
                      "to the agent now (e.g. in its --token-file): it is shown this once.",
                      name=new.agent.name, location=new.agent.location)))
    click.echo(new.token)


def _age(at: float | None, now: float) -> str:
    return "-" if at is None else f"{max(0.0, now - at):.0f}s"


@agent_token_group.command("list")
@acting(Permission.AGENTS)
@click.pass_context
def agent_token_list(ctx) -> None:
    """List the agent tokens and the agents' last news (no token is ever shown again)."""
    from monitor.cli_admin import Admin, _table

    admin = Admin(ctx)
    with admin.read() as s:
        rows = service.agents(s)
    now = time.time()
    _table([(a.name, a.location, a.state, _age(a.last_batch_at, now), a.buffered, a.dropped,
             a.last_seen_address or "-", admin.when(a.created_at)) for a in rows],
           ("NAME", "LOCATION", "STATE", "LAST BATCH", "BUFFERED", "DROPPED", "ADDRESS",
            "CREATED"))


@agent_token_group.command("revoke")
@click.argument("name")
@acting(Permission.AGENTS)
@click.pass_context
def agent_token_revoke(ctx, name) -> None:
    """Revoke the token of the agent NAME: its next request is refused."""
    from monitor.cli_admin import Admin

    admin = Admin(ctx)
    ops: Any = _ops(admin)
    with admin.change() as s:
        ops.revoke_token(s, name, actor=admin.actor)
    click.echo(tell(_("Agent token “{name}” revoked: the agent's next request is refused.",
                      name=name)))
