"""What the assistance hooks exchange: a member's question, the suggestions found for it,
and the request delivered to the helpdesk.

These frozen dataclasses are the contract between the core, the dashboard's
``/assistance/`` pages and the plugins: :class:`AssistanceQuery` goes to
``vigie_assistance_suggestions`` (guides and forum threads that may answer the member);
:class:`AssistanceRequest` is the payload of the durable ``vigie_assistance_request`` hook,
stored in the outbox as JSON (:func:`request_to_json` / :func:`request_from_json`) so a
plugin sees exactly the same request after a restart. Text in them was made safe at the
boundary (:mod:`monitor.safetext`) before they were built.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

#: categories a member can pick besides a service
ACCOUNT_CATEGORY = "account"
OTHER_CATEGORY = "other"


@dataclass(frozen=True, slots=True)
class AssistanceQuery:
    """What a member wrote, for the plugins that look for an answer to it.

    ``service_id`` is None when the member chose "my account" or "other" (``category``
    says which); ``text`` is the title and the description together.
    """

    category: str
    service_id: str | None
    service_name: str
    group: str | None
    text: str
    language: str = "fr"


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A guide or a public forum thread that may answer the member.

    ``kind`` is ``guide`` or ``forum``; ``excerpt`` is one line of plain text; ``opened``
    is set on the delivered request when the member followed the link.
    """

    kind: str
    title: str
    url: str
    excerpt: str = ""
    plugin: str = ""
    opened: bool = False


@dataclass(frozen=True, slots=True)
class Screenshot:
    """One screenshot, already decoded and re-encoded without metadata, waiting on disk
    until its request is delivered.

    ``filename`` is the member's file name made safe (shown to volunteers and used as the
    attachment's name); ``path`` is the re-encoded file under Vigie's data folder.
    """

    filename: str
    path: str
    media_type: str
    size: int
    sha256: str

    def read(self) -> bytes:
        """The re-encoded image's bytes (what a desk adapter attaches)."""
        with open(self.path, "rb") as handle:
            return handle.read()


@dataclass(frozen=True, slots=True)
class AssistanceRequest:
    """A member's request for help, delivered once to the helpdesk.

    ``reference`` (e.g. ``DEM-20261206-7KQ2``) is what the member is shown and what a desk
    adapter puts in the ticket title to find it again; ``idempotency_key`` is the same on
    every retry. The context for volunteers (``status_at_send``, ``incident_reference``,
    ``failing_reasons``, ``suggestions`` and which were opened, ``user_agent``) goes to an
    internal note, never to the member.
    """

    reference: str
    idempotency_key: str
    at: float
    language: str
    category: str
    service_id: str | None
    service_name: str
    title: str
    description: str
    name: str
    email: str
    member_id: str | None = None
    user_agent: str = ""
    status_at_send: str = ""
    incident_reference: str | None = None
    failing_reasons: tuple[str, ...] = ()
    suggestions: tuple[Suggestion, ...] = ()
    screenshots: tuple[Screenshot, ...] = ()
    status_page_url: str | None = None


_NESTED = {"suggestions": Suggestion, "screenshots": Screenshot}


def request_to_json(request: AssistanceRequest) -> str:
    """Serialise a request for the outbox."""
    return json.dumps({"type": "AssistanceRequest", "data": dataclasses.asdict(request)},
                      ensure_ascii=False, separators=(",", ":"))


def request_from_json(text: str) -> AssistanceRequest:
    """Rebuild a request written by :func:`request_to_json`."""
    raw: dict[str, Any] = json.loads(text)
    if raw.get("type") != "AssistanceRequest":
        raise ValueError(f"not an assistance request: {raw.get('type')!r}")
    data = dict(raw["data"])
    for key, item_cls in _NESTED.items():
        data[key] = tuple(item_cls(**item) for item in data.get(key) or ())
    data["failing_reasons"] = tuple(data.get("failing_reasons") or ())
    return AssistanceRequest(**data)
