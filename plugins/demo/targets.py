"""Local demo targets: small servers on 127.0.0.1 that behave like a cooperative's services.

Used by ``vigie demo``, the tests and the benchmarks. Each target listens on its own port,
``base_port + offset`` (see :data:`OFFSETS`):

========== ====== ===========================================================================
name       offset behaviour
========== ====== ===========================================================================
site       0      healthy web site: ``/`` answers 200 with "Bienvenue", ``/canary.php`` JSON
slow       1      member panel answering after ``slow_delay`` seconds (3 s by default)
flaky      2      forum: up for ``flap_period`` seconds, then 502 for as long, and so on
down       3      webmail answering 503 everywhere
nextcloud  4      Nextcloud in maintenance: ``/status.php`` 200 with ``"maintenance": true``,
                  other routes 503 with ``X-Nextcloud-Maintenance-Mode: 1``
echo       5      TCP: an SMTP-like greeting (``220 …``), then echoes lines; ``QUIT`` closes
web1       6      healthy web server: ``/fpm-status`` (PHP-FPM) and ``/server-status`` (Apache)
web2       7      the same pages for a saturated server (no idle worker, requests queued)
closed     8      TCP: a port bound but not listening, so connections are refused
sympa      9      Sympa 6.2: ``/sympa``, ``/sympa/wsdl``, SOAP daemon at ``/sympasoap``
smtp       10     SMTP greeter (plain text): 220, EHLO, QUIT
imap       11     IMAP greeter (plain text): ``* OK``, CAPABILITY, LOGOUT
dns        12     DNS (UDP and TCP) authoritative for ``demo.coop.test``
alerts     13     alert receiver: Apprise ``json://`` posts to ``/alertes``, page at ``/``
helpdesk   14     SMTP sink standing in for the helpdesk's intake address: keeps every
                  message (members' requests with their screenshots, incidents' tickets)
                  under ``helpdesk_dir`` and logs a line for each (:mod:`.mailsink`)
mailbox    15     SMTP sink standing in for the members' mailboxes: keeps every mail Vigie
                  sends members (subscriptions' confirmations, incidents' and maintenance
                  news, receipts) under ``mailbox_dir`` and logs a line for each (recipient
                  and subject, never a link: :mod:`.mailsink`)
========== ====== ===========================================================================
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from aiohttp import web

from plugins.demo.alerts import AlertInbox, alerts_app
from plugins.demo.dns_target import DNSTarget
from plugins.demo.hosting_targets import ServerLoad, web_server_app
from plugins.demo.mail_targets import BANNER, echo_session, imap_session, smtp_session
from plugins.demo.mailsink import HELPDESK, MAILBOX, MailSink, sink_session
from plugins.demo.streams import StreamTarget
from plugins.demo.sympa_target import sympa_app
from plugins.demo.web_targets import (
    NEXTCLOUD_STATUS,
    down_app,
    flaky_app,
    nextcloud_app,
    site_app,
    slow_app,
)

__all__ = ["BANNER", "DEFAULT_BASE_PORT", "NEXTCLOUD_STATUS", "OFFSETS", "DemoTargets",
           "start_demo_targets"]

DEFAULT_BASE_PORT = 8701
OFFSETS = {"site": 0, "slow": 1, "flaky": 2, "down": 3, "nextcloud": 4, "echo": 5,
           "web1": 6, "web2": 7, "closed": 8, "sympa": 9, "smtp": 10, "imap": 11, "dns": 12,
           "alerts": 13, "helpdesk": 14, "mailbox": 15}
"""Port of each target relative to the base port."""

_ADDRESS = {"nextcloud": "http://{a}/status.php", "sympa": "http://{a}/sympa",
            "web1": "http://{a}/server-status", "web2": "http://{a}/server-status",
            "echo": "tcp://{a}", "closed": "tcp://{a}", "smtp": "smtp://{a}",
            "imap": "imap://{a}", "dns": "dns://{a}", "helpdesk": "smtp://{a}",
            "mailbox": "smtp://{a}"}


class _Closable(Protocol):
    async def close(self) -> None: ...


@dataclass
class DemoTargets:
    """The running demo targets; :attr:`urls` maps a target name to its address."""

    host: str
    base_port: int
    urls: dict[str, str]
    #: the alerts received by the ``alerts`` target
    inbox: AlertInbox = field(default_factory=AlertInbox)
    #: the messages received by the ``helpdesk`` target
    helpdesk: MailSink = field(default_factory=lambda: MailSink(HELPDESK))
    #: the mails received by the ``mailbox`` target (what Vigie sent members)
    mailbox: MailSink = field(default_factory=lambda: MailSink(MAILBOX))
    _runners: list[web.AppRunner] = field(default_factory=list, repr=False)
    _servers: list[_Closable] = field(default_factory=list, repr=False)
    _closed_socket: socket.socket | None = field(default=None, repr=False)

    def port(self, name: str) -> int:
        """The port of target ``name``."""
        return self.base_port + OFFSETS[name]

    async def close(self) -> None:
        """Stop every target and free its port."""
        for server in reversed(self._servers):
            await server.close()
        self._servers.clear()
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        if self._closed_socket is not None:
            self._closed_socket.close()
            self._closed_socket = None


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def start_demo_targets(host: str = "127.0.0.1", base_port: int = DEFAULT_BASE_PORT, *,
                             slow_delay: float = 3.0, flap_period: float = 120.0,
                             helpdesk_dir: Path | None = None,
                             mailbox_dir: Path | None = None,
                             clock: Callable[[], float] | None = None) -> DemoTargets:
    """Start every demo target on ``host``, ports ``base_port + OFFSETS[name]``.

    :param slow_delay: seconds the ``slow`` target waits before answering.
    :param flap_period: seconds the ``flaky`` target stays up, then down, and so on.
    :param helpdesk_dir: where the ``helpdesk`` target writes what it receives (None:
        it keeps the last messages in memory only).
    :param mailbox_dir: the same for the ``mailbox`` target.
    :param clock: the ``flaky`` target's clock (the event loop's by default).
    :raises OSError: a port is already taken (the targets already started are stopped).
    """
    urls = {name: _ADDRESS.get(name, "http://{a}/").format(a=_address(host, base_port + offset))
            for name, offset in OFFSETS.items()}
    targets = DemoTargets(host, base_port, urls, helpdesk=MailSink(HELPDESK, helpdesk_dir),
                          mailbox=MailSink(MAILBOX, mailbox_dir))
    apps = {"site": site_app(), "slow": slow_app(slow_delay),
            "flaky": flaky_app(flap_period, clock), "down": down_app(),
            "nextcloud": nextcloud_app(),
            "web1": web_server_app(ServerLoad.healthy()),
            "web2": web_server_app(ServerLoad.saturated()),
            "sympa": sympa_app(), "alerts": alerts_app(targets.inbox)}
    streams = {"echo": StreamTarget(echo_session), "smtp": StreamTarget(smtp_session),
               "imap": StreamTarget(imap_session), "dns": DNSTarget(),
               "helpdesk": StreamTarget(sink_session(targets.helpdesk)),
               "mailbox": StreamTarget(sink_session(targets.mailbox))}
    try:
        for name, app in apps.items():
            # handler_cancellation: a probe that gives up on the slow target ends its handler
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5,
                                   handler_cancellation=True)
            await runner.setup()
            targets._runners.append(runner)
            await web.TCPSite(runner, host, targets.port(name)).start()
        for name, server in streams.items():
            targets._servers.append(server)
            await server.start(host, targets.port(name))
        # bound but not listening: the kernel refuses connections, nobody else can listen
        closed = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        with contextlib.ExitStack() as guard:
            guard.callback(closed.close)
            closed.bind((host, targets.port("closed")))
            guard.pop_all()
        targets._closed_socket = closed
    except BaseException:
        await targets.close()
        raise
    return targets
