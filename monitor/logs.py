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


def setup_logging(level: str | int = "info", verbose: bool = False) -> None:
    """Log Vigie's events at ``level`` on standard error, the libraries' warnings only
    (or at ``level`` too when ``verbose``), never a secret-quoting library below its
    floor."""
    numeric = level if isinstance(level, int) else logging.getLevelName(level.upper())
    libraries = numeric if verbose else max(numeric, LIBRARIES_LEVEL)
    logging.basicConfig(format=FORMAT)  # a handler on the root, unless one is there
    # the root's level is the libraries' (any logger without its own level follows it)
    logging.getLogger().setLevel(libraries)
    for package in own_packages():
        logging.getLogger(package).setLevel(numeric)
    for name, floor in SECRET_FLOORS.items():
        logging.getLogger(name).setLevel(max(floor, libraries))


__all__ = ["FORMAT", "LIBRARIES_LEVEL", "OWN_PACKAGES", "SECRET_FLOORS", "own_packages",
           "setup_logging"]
