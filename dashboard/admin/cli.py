"""``vigie user`` and ``vigie token``: the volunteers' accounts, roles and API tokens.

A password is never a plain argument (it would stay in the shell history and be visible
in ``ps``): it is typed at a hidden prompt, or read from standard input with
``--password-stdin`` for scripts. A new token is printed once, alone on standard output
(the explanation goes to standard error), so ``TOKEN=$(vigie token add …)`` works.

These commands manage accounts: they act as ``--as USER`` (who must be an administrator)
or as the server operator (see :mod:`monitor.cli_identity`). The configuration, the
database and the role are checked before anything is asked or written; a refusal, like
a bad value, is one message in the command line's language and exit code 3
(:mod:`monitor.cli_common`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import click
from sqlalchemy.orm import Session

from dashboard.admin import accounts, tokens
from dashboard.admin.accounts import AccountError
from dashboard.admin.passwords import Passwords
from monitor.access import Actor, Forbidden, Permission, Role
from monitor.cli_common import CommandError
from monitor.cli_identity import acting, actor_of, refuse

ROLES = click.Choice([r.value for r in Role])


@contextmanager
def _session(ctx: click.Context) -> Iterator[tuple[Session, Actor]]:
    """A transaction on the configured store and who acts; exits with a message and 3
    when the store is not ready, the input is refused or the role does not allow it."""
    from monitor.cli import load_or_exit
    from monitor.store import SchemaOutOfDate, Store

    _, _, config = load_or_exit(Path(ctx.find_root().obj["config"]))
    store = Store(config.database_url)
    try:
        try:
            store.check_schema()
        except SchemaOutOfDate as exc:
            raise CommandError(None, str(exc)) from None
        with store.write_session() as session, session.begin():
            yield session, actor_of(ctx, session)
    except AccountError as exc:
        raise CommandError(exc.words) from None
    except Forbidden as exc:
        refuse(exc)
    finally:
        store.dispose()


def _allowed(ctx: click.Context) -> None:
    """Refuse now (before asking for a password) when the acting person may not."""
    with _session(ctx):
        pass


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _when(at: float | None) -> str:
    return datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M") if at else "-"


@click.group("user")
def user_group() -> None:
    """Manage the volunteers who may sign in to the admin area, and their roles."""


@user_group.command("add")
@click.argument("username")
@click.option("--role", type=ROLES, help="admin, editor or desk (default: admin for the "
              "first account, editor afterwards).")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input.")
@acting(Permission.ACCOUNTS)
@click.pass_context
def user_add(ctx: click.Context, username: str, role: str | None,
             password_stdin: bool) -> None:
    """Create the user USERNAME (asks for the password)."""
    try:  # say so before asking for a password
        accounts.normalize_username(username)
    except AccountError as exc:
        raise CommandError(exc.words) from None
    _allowed(ctx)
    password = _read_password(password_stdin)
    with _session(ctx) as (session, actor):
        user = accounts.create_user(session, username, password, role, actor=actor,
                                   passwords=Passwords())
        click.echo(f"user {user.username} created, role {user.role}")


@user_group.command("passwd")
@click.argument("username")
@click.option("--password-stdin", is_flag=True,
              help="Read the new password from the first line of standard input.")
@acting(Permission.ACCOUNTS)
@click.pass_context
def user_passwd(ctx: click.Context, username: str, password_stdin: bool) -> None:
    """Change USERNAME's password (their open sessions end)."""
    _allowed(ctx)
    password = _read_password(password_stdin)
    with _session(ctx) as (session, actor):
        user = accounts.set_password(session, username, password, actor=actor,
                                    passwords=Passwords())
        click.echo(f"password of {user.username} changed")


@user_group.command("role")
@click.argument("username")
@click.argument("role", type=ROLES)
@acting(Permission.ACCOUNTS)
@click.pass_context
def user_role(ctx: click.Context, username: str, role: str) -> None:
    """Give USERNAME the ROLE admin, editor or desk (at once, sessions and tokens too)."""
    with _session(ctx) as (session, actor):
        user = accounts.set_role(session, username, role, actor=actor)
        click.echo(f"user {user.username} is now {user.role}")


@user_group.command("signout")
@click.argument("username")
@acting(Permission.ACCOUNTS)
@click.pass_context
def user_signout(ctx: click.Context, username: str) -> None:
    """End every session of USERNAME (a lost laptop, a shared computer)."""
    with _session(ctx) as (session, actor):
        count = accounts.sign_out(session, username, actor=actor)
    click.echo(f"{count} session(s) of {username.strip().lower()} ended")


@user_group.command("remove")
@click.argument("username")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@acting(Permission.ACCOUNTS)
@click.pass_context
def user_remove(ctx: click.Context, username: str, yes: bool) -> None:
    """Delete USERNAME, their API tokens and their sessions."""
    _allowed(ctx)
    if not yes:
        click.confirm(f"Remove the user {username} and their API tokens?", abort=True)
    with _session(ctx) as (session, actor):
        accounts.remove_user(session, username, actor=actor)
        click.echo(f"user {username.strip().lower()} removed")


@user_group.command("list")
@acting(Permission.ACCOUNTS)
@click.pass_context
def user_list(ctx: click.Context) -> None:
    """List the users and their roles."""
    with _session(ctx) as (session, _actor):
        users = accounts.list_users(session)
        if not users:
            click.echo("no user yet: create one with 'vigie user add NAME'")
            return
        width = max(len(u.username) for u in users)
        click.echo(f"{'USER':<{width}}  {'ROLE':<6}  {'CREATED':<16}  LAST LOGIN")
        for user in users:
            click.echo(f"{user.username:<{width}}  {user.role:<6}  {_when(user.created_at):<16}  "
                       f"{_when(user.last_login_at)}")


@click.group("token")
def token_group() -> None:
    """Manage the bearer tokens of the JSON admin API."""


@token_group.command("add")
@click.option("--user", "username", required=True, help="The user the token acts as.")
@click.option("--name", required=True, help="What the token is for (e.g. 'backup script').")
@click.option("--role", type=ROLES, help="A role narrower than the user's (default: the "
              "user's own role, following it when it changes).")
@acting(Permission.ACCOUNTS)
@click.pass_context
def token_add(ctx: click.Context, username: str, name: str, role: str | None) -> None:
    """Create a token and print it once (it cannot be shown again)."""
    with _session(ctx) as (session, actor):
        new = tokens.create_token(session, username, name, role, actor=actor)
        token_id = new.token.id
    click.echo(f"token #{token_id} created for {username.strip().lower()}; it is shown "
               "once, keep it somewhere safe:", err=True)
    click.echo(new.secret)


@token_group.command("list")
@click.option("--user", "username", help="Only this user's tokens.")
@click.option("--all", "include_revoked", is_flag=True, help="Show revoked tokens too.")
@acting(Permission.ACCOUNTS)
@click.pass_context
def token_list(ctx: click.Context, username: str | None, include_revoked: bool) -> None:
    """List the tokens (never the secrets: only their first characters)."""
    with _session(ctx) as (session, _actor):
        found = tokens.list_tokens(session, username, include_revoked)
        if not found:
            click.echo("no token")
            return
        click.echo(f"{'ID':>4}  {'USER':<16}  {'ROLE':<6}  {'PREFIX':<14}  {'LAST USED':<16}  "
                   f"{'STATE':<7}  NAME")
        for token in found:
            state = "active" if token.active else "revoked"
            click.echo(f"{token.id:>4}  {token.user.username:<16}  "
                       f"{token.role or token.user.role:<6}  {token.prefix + '…':<14}  "
                       f"{_when(token.last_used_at):<16}  {state:<7}  {token.name}")


@token_group.command("revoke")
@click.argument("token_id", type=int)
@acting(Permission.ACCOUNTS)
@click.pass_context
def token_revoke(ctx: click.Context, token_id: int) -> None:
    """Revoke the token TOKEN_ID (see 'vigie token list'); it stops working at once."""
    with _session(ctx) as (session, actor):
        tokens.revoke_token(session, token_id, actor=actor)
    click.echo(f"token #{token_id} revoked")


COMMANDS = [user_group, token_group]
