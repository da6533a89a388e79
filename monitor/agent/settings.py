"""What ``vigie agent`` is told (flags or ``VIGIE_AGENT_*``), checked before anything runs.

The token is read from a file, never from the command line (where ``ps`` shows it to
every user of the machine), and never logged: only its length and the file's name may
appear in a message.
"""

from __future__ import annotations

import ipaddress
import logging
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from monitor.agent.spool import DEFAULT_MAX_BUFFERED

log = logging.getLogger(__name__)

#: exit code when the server refuses the token (unknown, revoked, another location):
#: EX_CONFIG of sysexits.h; the systemd unit does not restart the agent on it
EXIT_REFUSED = 78
#: the longest token accepted (the server's are ``vga_`` and 43 characters)
TOKEN_LIMIT = 512
#: plugins of Vigie itself that register no probe kind an agent can run: the dashboard,
#: the bridges, the notifiers, the dead man's switch, the demo, and ``heartbeat``, whose
#: results come from jobs calling the server's own listener
BUILT_IN_SERVER_ONLY = ("dashboard", "dashboard_admin", "guides", "forum", "tickets",
                        "apprise", "deadman", "demo", "heartbeat")
#: default seconds between two fetches of the checks
DEFAULT_REFRESH = 60.0
#: default longest wait between two attempts to reach an unreachable server
DEFAULT_MAX_BACKOFF = 60.0
#: default runs at the same time
DEFAULT_CONCURRENCY = 64


class SettingsError(Exception):
    """A flag or a file the agent was given cannot be used; the message says which and
    what to do."""


@dataclass(frozen=True, slots=True)
class AgentSettings:
    """Everything one agent process needs (see ``vigie agent --help``)."""

    #: the server's base address, without a trailing slash
    server: str
    token_file: Path
    data_dir: Path
    ca_file: Path | None = None
    #: a name for this agent in its own log lines (the server knows its location's label)
    location_label: str | None = None
    max_buffered: int = DEFAULT_MAX_BUFFERED
    concurrency: int = DEFAULT_CONCURRENCY
    refresh_every: float = DEFAULT_REFRESH
    max_backoff: float = DEFAULT_MAX_BACKOFF
    #: plugins not loaded (besides :data:`BUILT_IN_SERVER_ONLY`)
    blocked: tuple[str, ...] = ()

    @property
    def spool_dir(self) -> Path:
        """Where results wait for the server."""
        return self.data_dir / "spool"

    @property
    def checks_file(self) -> Path:
        """The last list of checks received (the agent starts on it when the server is
        away)."""
        return self.data_dir / "checks.json"


def server_url(value: str) -> str:
    """The server's base address, checked: ``https://``, or ``http://`` to this machine
    only (the token would otherwise cross the network in clear).

    :raises SettingsError: with what to write instead.
    """
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"--server {value!r}: expected the Vigie server's address, "
                            "e.g. https://status.example.coop")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise SettingsError("--server: give the server's address only, without a query, "
                            "a fragment or credentials (the token goes in --token-file)")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise SettingsError(f"--server {value!r}: the agent sends its token with every "
                            "request; use https:// (plain http:// is only for an address "
                            "of this machine, e.g. a local TLS tunnel)")
    return value.strip().rstrip("/")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(path: Path) -> str:
    """The agent's token, read from ``path`` (one line; the final newline is ignored).

    Warns when the file can be read by other users of the machine.

    :raises SettingsError: the file cannot be read or does not hold one token.
    """
    try:
        info = path.stat()
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"--token-file {path}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise SettingsError(f"--token-file {path}: not a text file") from None
    token = text.strip()
    if not token:
        raise SettingsError(f"--token-file {path}: the file is empty; put the token "
                            "`vigie agent-token add` printed in it")
    if len(token) > TOKEN_LIMIT or not token.isascii() or not token.isprintable() \
            or any(c.isspace() for c in token):
        raise SettingsError(f"--token-file {path}: the file must hold the token alone, "
                            "on one line")
    if info.st_mode & stat.S_IROTH:
        log.warning("the token file %s can be read by every user of this machine; "
                    "chmod 600 it", path)
    return token
