"""What every ``vigie`` command shares: its exit codes and its language.

**Exit codes** are a monitoring plugin's, for every command, so a script or a cron job
reads them the same way whatever it runs:

- 0: done (``vigie check``: every check up);
- 1: ``vigie check`` only, a check is degraded;
- 2: ``vigie check``, a check is down; ``vigie cluster status``, no node leads;
- 3: unknown: the command could not do what was asked (a usage error, an invalid
  configuration or value, a refusal of the volunteer's role, a database not ready,
  Vigie unable to start, an aborted prompt). Nothing was changed.

**Language**: the command line speaks the user's language, from the locale (``LC_ALL``,
else ``LC_MESSAGES``, else ``LANG``, the first one set, as POSIX orders them): French when
it names French (``fr``, ``fr_FR.UTF-8``, ``fr_BE``…), English otherwise (``C``, unset,
any other language). Each message is written once, in that language.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import click

from monitor.words import Bilingual, Words

#: exit code: done; every check up
EXIT_OK = 0
#: exit code of ``vigie check``: a check is degraded
EXIT_DEGRADED = 1
#: exit code of ``vigie check``: a check is down (``vigie cluster status``: no leader)
EXIT_DOWN = 2
#: exit code: the command could not do what was asked, nothing was changed
EXIT_UNKNOWN = 3

#: the locale variables that choose the language, strongest first
LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")


def cli_language(environ: Mapping[str, str] | None = None) -> str:
    """``fr`` or ``en``: the language of the command line (see the module)."""
    environ = os.environ if environ is None else environ
    for name in LOCALE_VARIABLES:
        value = environ.get(name)
        if value:
            return "fr" if value.lower().startswith("fr") else "en"
    return "en"


def say(fr: str, en: str) -> str:
    """The text in the command line's language (texts not in the catalogues yet; prefer
    :func:`tell`)."""
    return fr if cli_language() == "fr" else en


def tell(words: Words) -> str:
    """Catalogue words (:mod:`monitor.words`) in the command line's language."""
    return words.say(cli_language())


class CommandError(click.ClickException):
    """The command cannot do what was asked: one message, in the command line's language
    when it exists in both (catalogue words, a Bilingual text, or ``fr`` and ``en``;
    ``fr`` None: an English-only text, said in English), exit 3."""

    exit_code = EXIT_UNKNOWN

    def __init__(self, fr: str | Words | Bilingual | None, en: str | None = None) -> None:
        if isinstance(fr, (Words, Bilingual)):  # said in the command line's language
            self.lang = cli_language()
            super().__init__(fr.say(self.lang))
            return
        self.lang = cli_language() if fr is not None else "en"
        super().__init__(fr if self.lang == "fr" and fr is not None else (en or ""))

    def show(self, file: Any = None) -> None:
        """``Erreur : …`` or ``Error: …`` on standard error."""
        prefix = "Erreur :" if self.lang == "fr" else "Error:"
        click.echo(f"{prefix} {self.format_message()}", file=file, err=file is None)


class VigieGroup(click.Group):
    """The ``vigie`` group: click's own errors (a misspelt option, a missing argument…)
    exit with :data:`EXIT_UNKNOWN` like Vigie's, not with click's 2 (``vigie check``'s
    "down"), and so does a prompt aborted (click's 1, "degraded")."""

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        """Parse the group's own options (their errors exit with 3)."""
        with _unknown_on_error():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand (its errors exit with 3)."""
        with _unknown_on_error():
            return super().invoke(ctx)


class _Aborted(CommandError):
    def __init__(self) -> None:
        super().__init__("abandon, rien n'a été fait.", "aborted, nothing was done.")


@contextmanager
def _unknown_on_error() -> Iterator[None]:
    try:
        yield
    except click.ClickException as exc:
        exc.exit_code = EXIT_UNKNOWN
        raise
    except click.Abort:
        raise _Aborted() from None


__all__ = ["EXIT_DEGRADED", "EXIT_DOWN", "EXIT_OK", "EXIT_UNKNOWN", "LOCALE_VARIABLES",
           "CommandError", "VigieGroup", "cli_language", "say", "tell"]
