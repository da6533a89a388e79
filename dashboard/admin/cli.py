"""``vigie user`` and ``vigie token``: the volunteers' accounts, from the command line.

A password is never a plain argument (it would stay in the shell history and be visible
in ``ps``): it is typed at a hidden prompt, or read from standard input with
``--password-stdin`` for scripts. A new token is printed once, alone on standard output
(the explanation goes to standard error), so ``TOKEN=$(vigie token add …)`` works.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import click
from sqlalchemy.orm import Session

from dashboard.admin import accounts
from dashboard.admin.accounts import AccountError


@contextmanager
def _session(ctx: click.Context) -> Iterator[Session]:
    """A transaction on the configured store; exits with a message when it is not ready."""
    from monitor.cli import load_or_exit
    from monitor.store import SchemaOutOfDate, Store

    _, _, config = load_or_exit(Path(ctx.find_root().obj["config"]))
    store = Store(config.database_url)
    try:
        try:
            store.check_schema()
        except SchemaOutOfDate as exc:
            raise click.ClickException(str(exc)) from None
        with store.write_session() as session, session.begin():
            yield session
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.dispose()


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _when(at: float | None) -> str:
    return datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M") if at else "-"


@click.group("user")
def user_group() -> None:
    """Manage the volunteers who may sign in to the admin area."""


@user_group.command("add")
@click.argument("username")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input.")
@click.pass_context
def user_add(ctx: click.Context, username: str, password_stdin: bool) -> None:
    """Create the user USERNAME (asks for the password)."""
    try:  # say so before asking for a password
        accounts.normalize_username(username)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    password = _read_password(password_stdin)
    with _session(ctx) as session:
        user = accounts.create_user(session, username, password)
        click.echo(f"user {user.username} created")


@user_group.command("passwd")
@click.argument("username")
@click.option("--password-stdin", is_flag=True,
              help="Read the new password from the first line of standard input.")
@click.pass_context
def user_passwd(ctx: click.Context, username: str, password_stdin: bool) -> None:
    """Change USERNAME's password (their open sessions end)."""
    password = _read_password(password_stdin)
    with _session(ctx) as session:
        user = accounts.set_password(session, username, password)
        click.echo(f"password of {user.username} changed")


@user_group.command("remove")
@click.argument("username")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def user_remove(ctx: click.Context, username: str, yes: bool) -> None:
    """Delete USERNAME and their API tokens."""
    if not yes:
        click.confirm(f"Remove the user {username} and their API tokens?", abort=True)
    with _session(ctx) as session:
        accounts.remove_user(session, username)
        click.echo(f"user {username.strip().lower()} removed")


@user_group.command("list")
@click.pass_context
def user_list(ctx: click.Context) -> None:
    """List the users."""
    with _session(ctx) as session:
        users = accounts.list_users(session)
        if not users:
            click.echo("no user yet: create one with 'vigie user add NAME'")
            return
        width = max(len(u.username) for u in users)
        click.echo(f"{'USER':<{width}}  {'CREATED':<16}  LAST LOGIN")
        for user in users:
            click.echo(f"{user.username:<{width}}  {_when(user.created_at):<16}  "
                       f"{_when(user.last_login_at)}")


@click.group("token")
def token_group() -> None:
    """Manage the bearer tokens of the JSON admin API."""


@token_group.command("add")
@click.option("--user", "username", required=True, help="The user the token acts as.")
@click.option("--name", required=True, help="What the token is for (e.g. 'backup script').")
@click.pass_context
def token_add(ctx: click.Context, username: str, name: str) -> None:
    """Create a token and print it once (it cannot be shown again)."""
    with _session(ctx) as session:
        new = accounts.create_token(session, username, name)
        token_id = new.token.id
    click.echo(f"token #{token_id} created for {username.strip().lower()}; it is shown "
               "once, keep it somewhere safe:", err=True)
    click.echo(new.secret)


@token_group.command("list")
@click.option("--user", "username", help="Only this user's tokens.")
@click.option("--all", "include_revoked", is_flag=True, help="Show revoked tokens too.")
@click.pass_context
def token_list(ctx: click.Context, username: str | None, include_revoked: bool) -> None:
    """List the tokens (never the secrets: only their first characters)."""
    with _session(ctx) as session:
        tokens = accounts.list_tokens(session, username, include_revoked)
        if not tokens:
            click.echo("no token")
            return
        click.echo(f"{'ID':>4}  {'USER':<16}  {'PREFIX':<14}  {'LAST USED':<16}  "
                   f"{'STATE':<7}  NAME")
        for token in tokens:
            state = "active" if token.active else "revoked"
            click.echo(f"{token.id:>4}  {token.user.username:<16}  {token.prefix + '…':<14}  "
                       f"{_when(token.last_used_at):<16}  {state:<7}  {token.name}")


@token_group.command("revoke")
@click.argument("token_id", type=int)
@click.pass_context
def token_revoke(ctx: click.Context, token_id: int) -> None:
    """Revoke the token TOKEN_ID (see 'vigie token list'); it stops working at once."""
    with _session(ctx) as session:
        accounts.revoke_token(session, token_id)
    click.echo(f"token #{token_id} revoked")


COMMANDS = [user_group, token_group]
