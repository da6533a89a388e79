"""Receivers (one Apprise URL each) and one delivery to one receiver.

Each receiver is its own delivery unit: one :class:`apprise.Apprise` object holding one
service. A delivery to several receivers can then succeed for some and fail for others,
and a retry skips the ones already served (see :mod:`plugins.notify_apprise.memo`).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import apprise

from plugins.notify_apprise.messages import Message
from plugins.notify_apprise.settings import NotifierSettings, make_asset

log = logging.getLogger(__name__)

#: how Apprise's HTTP-based services report a refused request in their log lines
_HTTP_ERROR = re.compile(r"\berror=(\d{3})\b")


class ReceiverConfigError(Exception):
    """The receivers cannot be built (an unreadable or empty Apprise config file)."""


@dataclass(frozen=True, eq=False)
class Target:
    """One receiver: an Apprise service and the tags it listens to.

    ``id`` is a digest of the label and URL (stable, reveals nothing); ``label`` is what
    logs and errors show instead of the URL, which may hold a password.
    """

    id: str
    label: str
    tags: frozenset[str]
    apprise: apprise.Apprise


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one delivery to one receiver went."""

    target: Target
    ok: bool
    #: the HTTP status a web receiver answered with, when it refused
    http_status: int | None = None
    timed_out: bool = False

    def describe(self) -> str:
        """A short, secret-free account of a failure, for errors and logs."""
        if self.ok:
            return f"{self.target.label}: delivered"
        if self.timed_out:
            return f"{self.target.label}: no answer in time"
        if self.http_status is not None:
            return f"{self.target.label}: answered HTTP {self.http_status}"
        return f"{self.target.label}: delivery failed"


def _target(service: apprise.NotifyBase, label: str,
            tags: frozenset[str]) -> Target:
    unit = apprise.Apprise(asset=service.asset)
    unit.add(service)
    # the label keeps apart two receivers given the same URL
    digest = hashlib.sha256(f"{label}\n{service.url(privacy=False)}".encode()).hexdigest()[:16]
    return Target(id=digest, label=label, tags=tags, apprise=unit)


def load_targets(settings: NotifierSettings, base_dir: Path,
                 public_url: str | None = None) -> list[Target]:
    """Build every receiver: the inline ``urls`` then those of ``config_file``.

    :param base_dir: the folder of ``vigie.yaml`` (a relative ``config_file`` starts there).
    :param public_url: the status page, the link some services add to a message.
    :raises ReceiverConfigError: the Apprise config file is missing, unreadable or empty.
    """
    asset = make_asset(public_url)
    targets = []
    for index, receiver in enumerate(settings.urls):
        service = apprise.Apprise.instantiate(receiver.url.get_secret_value(), asset=asset,
                                              tag=receiver.tags or None)
        if service is None:  # validated at load; only a plugin that vanished gets here
            raise ReceiverConfigError(f"notifications.urls[{index}]: not a usable Apprise URL")
        label = receiver.name or f"urls[{index}] ({service.service_name})"
        targets.append(_target(service, label, frozenset(receiver.tags)))
    if settings.config_file is not None:
        targets += _file_targets(settings.config_file, base_dir, asset)
    return targets


def _file_targets(name: str, base_dir: Path, asset: apprise.AppriseAsset) -> list[Target]:
    path = Path(name)
    if not path.is_absolute():
        path = base_dir / path
    if not path.is_file():
        raise ReceiverConfigError(f"notifications.config_file: {path} is not a readable file")
    config = apprise.AppriseConfig(asset=asset)
    # Apprise reads the file lazily and only logs what it could not understand
    if not config.add(str(path)) or not (services := config.services()):
        raise ReceiverConfigError(f"notifications.config_file: {path} holds no usable "
                                  "Apprise URL (see Apprise's log for the line)")
    return [_target(service, f"{path.name}[{index}] ({service.service_name})",
                    frozenset(str(tag) for tag in service.tags))
            for index, service in enumerate(services)]


async def send(target: Target, message: Message, timeout: float) -> Outcome:
    """Deliver ``message`` to ``target``; never raises (the outcome says how it went)."""
    try:
        result = await target.apprise.async_notify(
            body=message.body, title=message.title, notify_type=message.notify_type,
            body_format=apprise.NotifyFormat.TEXT, timeout=timeout)
    except Exception:  # a crash inside an Apprise service is one failed receiver
        log.warning("notifier: %s: Apprise failed", target.label, exc_info=True)
        return Outcome(target, ok=False)
    try:
        if result:
            return Outcome(target, ok=True)
        statuses = [int(m.group(1)) for entry in result.logs()
                    if (m := _HTTP_ERROR.search(entry.message))]
        timed_out = result.status == apprise.AppriseResultStatus.TIMEOUT
        return Outcome(target, ok=False, http_status=statuses[-1] if statuses else None,
                       timed_out=timed_out)
    finally:
        result.close()
