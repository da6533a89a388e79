"""Who acts on the command line, and whether their role allows the command.

Every command that reads or changes the volunteers' data (``vigie notice``,
``maintenance``, ``incident``, ``outbox``, ``user``, ``token``, ``audit``) declares what it
needs with :func:`acting`, which also gives it ``--as USER`` (or ``$VIGIE_USER``):

- **with ``--as USER``** the command acts as that volunteer, with their role: what the
  role does not allow is refused (exit code 3, the message in the command line's
  language, see :mod:`monitor.cli_common`), and
  what is done is recorded under their name;
- **without it** the command acts as the **server operator** — the Unix account running
  it, recorded as such (``root``, role ``operator``) — with every permission. Whoever
  can run ``vigie`` with the configuration file can read the database's password and
  change anything anyway: the operator's rights are those of the file's permissions,
  and the role check protects volunteers who share scripts from their own mistakes,
  not the server from its administrators.

No password is asked: the command line trusts the Unix account, as the database does.
"""

from __future__ import annotations

import functools
import getpass
import os
import socket
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.access import Actor, Forbidden, Permission
from monitor.cli_common import EXIT_UNKNOWN, CommandError, tell
from monitor.words import _
from monitor.store.accounts import User

F = TypeVar("F", bound=Callable[..., Any])

#: the environment variable ``--as`` reads
AS_ENV = "VIGIE_USER"
#: exit code of a command the role does not allow (like any command that cannot run)
EXIT_FORBIDDEN = EXIT_UNKNOWN
_META = "vigie.acting_as"


def acting(permission: Permission) -> Callable[[F], F]:
    """Declare that a command needs ``permission`` and give it ``--as USER``
    (put it under the command's options, above ``@click.pass_context``)."""
    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def run(*args: Any, acting_as: str | None = None, **kwargs: Any) -> Any:
            click.get_current_context().meta[_META] = acting_as
            return fn(*args, **kwargs)

        run.vigie_permission = permission  # type: ignore[attr-defined]  # a mark
        option = click.option(
            "--as", "acting_as", envvar=AS_ENV, metavar="USER",
            help=f"Act as this volunteer, with their role (or ${AS_ENV}); default: the "
                 "server operator, with every right.")
        return option(run)  # type: ignore[return-value]  # click's option

    return decorate


def operator() -> Actor:
    """The server operator: the Unix account running the command, every permission."""
    try:
        login = getpass.getuser()
    except Exception:  # no user name in a container: still say it came from the CLI
        login = os.environ.get("USER") or "cli"
    return Actor(login, "operator", frozenset(Permission), "cli", address=_where(login))


def _where(login: str) -> str:
    return f"{login}@{socket.gethostname()}"


def actor_of(ctx: click.Context, session: Session) -> Actor:
    """Who runs the current command (see the module's docstring), refused when their role
    does not allow it.

    :raises monitor.cli_common.CommandError: ``--as`` names nobody.
    :raises monitor.access.Forbidden: the role does not allow the command.
    """
    name = ctx.meta.get(_META)
    permission: Permission = ctx.command.callback.vigie_permission  # type: ignore[union-attr]  # marked
    if not name:
        return operator()
    wanted = name.strip().lower()
    user = session.scalars(select(User).where(User.username == wanted)).first()
    if user is None:
        raise CommandError(
            f"--as {name} : aucun utilisateur de ce nom (voir « vigie user list »).",
            f"--as {name}: no user of that name (see 'vigie user list').")
    actor = Actor.user(user.username, user.role, "cli", address=_where(operator().name))
    actor.require(permission, ctx.command_path)
    return actor


def refuse(exc: Forbidden) -> None:
    """Print a refusal in the command line's language and exit with
    :data:`EXIT_FORBIDDEN`."""
    click.echo(tell(_("Refused: {message}", message=exc.words)), err=True)
    sys.exit(EXIT_FORBIDDEN)


__all__ = ["AS_ENV", "EXIT_FORBIDDEN", "actor_of", "acting", "operator", "refuse"]
