"""Why a member's sign-up, confirmation or change was not taken: one small vocabulary,
each with words the member can act on, in French and English (the catalogues).

The pages answer :class:`InvalidSubscription` with 400 and the message beside its field,
:class:`TooManyRequests` with 429, :class:`SubscriptionsUnavailable` with 503 and
:class:`UnknownToken` with 404.
"""

from __future__ import annotations

from monitor.words import Words, _


class SubscriptionError(Exception):
    """A refusal with a member-readable message (``str(exc)`` is the French)."""

    #: the HTTP status the pages answer with
    status = 400

    def __init__(self, words: Words, field: str | None = None) -> None:
        self.words = words
        #: the form field at fault (``email``, ``language``, ``services``), or None
        self.field = field
        super().__init__(words.say("fr"))

    def message(self, lang: str = "fr") -> str:
        """The message in ``lang`` (``fr`` or ``en``)."""
        return self.words.say(lang)

    @property
    def fr(self) -> str:
        """The message in French."""
        return self.words.say("fr")

    @property
    def en(self) -> str:
        """The message in English."""
        return self.words.say("en")


class InvalidSubscription(SubscriptionError, ValueError):
    """Something the member sent is not acceptable (an address, a language, a choice)."""


class TooManyRequests(SubscriptionError):
    """Too many sign-ups from this client or with this address in the last hour."""

    status = 429

    def __init__(self, words: Words | None = None) -> None:
        super().__init__(words or _(
            "Too many subscription requests in the last hour from this connection or "
            "for this address. Please try again in an hour."))


class SubscriptionsUnavailable(SubscriptionError):
    """Subscriptions are off, or Vigie sends no mail (no ``mail.host``)."""

    status = 503

    def __init__(self) -> None:
        super().__init__(_("Subscriptions by e-mail are not available on this site."))


class UnknownToken(SubscriptionError, LookupError):
    """A manage link that leads nowhere (unsubscribed, forgotten, or mistyped)."""

    status = 404

    def __init__(self) -> None:
        super().__init__(_("This link does not lead to a subscription any more: the address "
                           "may have been unsubscribed. You can subscribe again."))


__all__ = ["InvalidSubscription", "SubscriptionError", "SubscriptionsUnavailable",
           "TooManyRequests", "UnknownToken"]
