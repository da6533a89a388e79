"""Vigie's log, set up in one place: one line per meaningful event by default.

Vigie's own loggers (its packages, and those of every plugin installed under the ``vigie``
entry-point group) log at the level asked, ``--log-level`` (default ``info``): a service
changing status, Vigie listening, a delivery failing. Every other library logs only its
warnings and errors, so its own chatter stays out: SQLAlchemy's pool ("Pool disposed"),
Alembic's set-up and migrations, Apprise's "Sent … notification" beside each alert.
``--verbose`` (``-v``) lets the libraries log at the asked level too.

Whatever is asked, the libraries that quote secrets below a level never log below it
(:data:`SECRET_FLOORS`).
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

#: Vigie's own packages (plugins add theirs, see :func:`own_packages`)
OWN_PACKAGES = ("monitor", "plugins", "dashboard", "docs_bridge", "tickets_bridge")

#: the level libraries log at unless ``--verbose``
LIBRARIES_LEVEL = logging.WARNING

#: libraries whose debug (or info) messages quote secrets, with the lowest level they may
#: log at whatever is asked: Apprise and urllib3 print the URLs they post to (a Telegram
#: bot token is in the path), requests-oauthlib the tokens, httpx every URL at INFO,
#: SQLAlchemy every statement with its parameters (password hashes, API tokens)
SECRET_FLOORS = {
    "apprise": logging.INFO,
    "urllib3": logging.INFO,
    "requests": logging.INFO,
    "requests_oauthlib": logging.INFO,
    "oauthlib": logging.INFO,
    "httpx": logging.WARNING,
    "httpcore": logging.INFO,
    "sqlalchemy.engine": logging.WARNING,
    "sqlalchemy.pool": logging.INFO,
    "charset_normalizer": logging.INFO,
    "MARKDOWN": logging.INFO,
}

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def own_packages() -> set[str]:
    """The top-level packages whose loggers are Vigie's: the core's and the plugins'."""
    packages = set(OWN_PACKAGES)
    for entry in entry_points(group="vigie"):
        packages.add(entry.module.split(".")[0])
    return packages


class LibrariesFilter(logging.Filter):
    """Lets through every record of Vigie's loggers, and the libraries' from ``level``."""

    def __init__(self, own: set[str], level: int) -> None:
        super().__init__()
        self.own = frozenset(own)
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether ``record`` is written."""
        return record.levelno >= self.level or record.name.partition(".")[0] in self.own


def setup_logging(level: str | int = "info", verbose: bool = False) -> None:
    """Log Vigie's events at ``level`` on standard error, the libraries' warnings only
    (or at ``level`` too when ``verbose``), never a secret-quoting library below its
    floor.

    The libraries are held back by a filter on the handler, not by their loggers' levels,
    so the loggers keep following the root's level (what ``--log-level`` sets, and what
    a test's log capture sets). As with :func:`logging.basicConfig`, a root logger that
    already has handlers (an application embedding Vigie, a test runner) keeps them, and
    gets no handler of Vigie's.
    """
    numeric = level if isinstance(level, int) else logging.getLevelName(level.upper())
    root = logging.getLogger()
    root.setLevel(numeric)
    handler = next((h for h in root.handlers if getattr(h, "vigie", False)), None)
    if handler is None and not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.vigie = True  # type: ignore[attr-defined]  # our handler's mark
        root.addHandler(handler)
    if handler is not None:
        libraries = numeric if verbose else max(numeric, LIBRARIES_LEVEL)
        handler.filters = [LibrariesFilter(own_packages(), libraries)]
    for name, floor in SECRET_FLOORS.items():
        logging.getLogger(name).setLevel(max(floor, numeric))


__all__ = ["FORMAT", "LIBRARIES_LEVEL", "OWN_PACKAGES", "SECRET_FLOORS", "LibrariesFilter",
           "own_packages", "setup_logging"]
