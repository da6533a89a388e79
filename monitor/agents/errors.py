"""The agents' API's refusals: a status, a stable code, a sentence (French and English),
and the field at fault when there is one.

Every refusal is answered as JSON ``{"error": code, "message": …, "message_fr": …,
"message_en": …}`` (``field`` added when one is named) and counted in
``vigie_agent_batches_refused_total{reason}`` when it refuses a push.
"""

from __future__ import annotations

from monitor.words import Words, _

#: every refusal code, in the order the metric lists them
CODES = ("token_unknown", "token_revoked", "wrong_location", "too_large", "rate_limited",
         "malformed", "unsupported_media_type", "unavailable", "method_not_allowed",
         "not_found")


class Refusal(Exception):
    """A request refused; nothing of it was stored."""

    def __init__(self, status: int, code: str, words: Words, *, field: str | None = None,
                 headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(words.en)
        assert code in CODES, code
        self.status = status
        self.code = code
        self.words = words
        self.field = field
        self.headers = headers


def unknown_token() -> Refusal:
    """401 ``token_unknown``: no token, or one Vigie does not know."""
    return Refusal(401, "token_unknown", _("Unknown agent token: send “Authorization: "
                                           "Bearer <token>” with the token “vigie "
                                           "agent-token add” printed."))


def revoked_token() -> Refusal:
    """401 ``token_revoked``."""
    return Refusal(401, "token_revoked", _("This agent token was revoked: ask the "
                                           "volunteers for a new one."))


__all__ = ["CODES", "Refusal", "revoked_token", "unknown_token"]
