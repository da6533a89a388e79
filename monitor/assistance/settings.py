"""The ``assistance:`` section: members' requests for help (see docs/configuration.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from monitor.config import IDENT, LocalizedText
from monitor.schema import Duration, StrictModel

#: image formats a screenshot may have (Pillow's format names, lower case)
ImageFormat = Literal["png", "jpeg", "webp"]

MB = 1024 * 1024


class ScreenshotLimits(StrictModel):
    """What members may attach to a request."""

    #: screenshots per request
    max_files: int = Field(default=5, ge=0, le=20)
    #: largest screenshot in bytes (as uploaded)
    max_file_size: int = Field(default=5 * MB, ge=1024, le=100 * MB)
    #: all the screenshots of one request together, in bytes (as uploaded)
    max_total_size: int = Field(default=15 * MB, ge=1024, le=500 * MB)
    #: accepted formats, checked by decoding the image (never by name or declared type)
    formats: list[ImageFormat] = ["png", "jpeg", "webp"]
    #: largest image in pixels (width × height); a larger one, or a decompression bomb,
    #: is refused
    max_pixels: int = Field(default=40_000_000, ge=10_000, le=200_000_000)
    #: re-encoded images are scaled down so that their longer side is at most this
    long_side: int = Field(default=2560, ge=200, le=10_000)

    @model_validator(mode="after")
    def _total_holds_one(self) -> ScreenshotLimits:
        if self.max_total_size < self.max_file_size:
            raise ValueError("max_total_size is smaller than max_file_size")
        return self


class TextLimits(StrictModel):
    """Sizes of what members write."""

    #: characters of the request's title
    title: int = Field(default=200, ge=20, le=1000)
    #: characters of the description
    description: int = Field(default=10_000, ge=200, le=100_000)


class RateLimits(StrictModel):
    """How many requests one sender may send."""

    #: requests per hour from one address (an IPv6 /64 counts as one; not counted for the
    #: reverse proxy's own address, which every member shares when its X-Forwarded-For
    #: is not trusted: then only per_email applies)
    per_address: int = Field(default=5, ge=1, le=10_000)
    #: requests per hour with one e-mail address
    per_email: int = Field(default=3, ge=1, le=10_000)
    #: proof of work the page computes before sending (leading zero bits of a SHA-256;
    #: 0 turns it off; each bit doubles the work, about 1 s of a phone's time at 18)
    proof_of_work: int = Field(default=0, ge=0, le=26)


class Category(StrictModel):
    """A choice on the first step besides the services ("my account", "other"…)."""

    #: its id (lower case letters, digits, ``-`` and ``_``); a service of the same id
    #: hides it
    id: str = Field(pattern=IDENT)
    #: what members read
    label: LocalizedText


class AssistanceSettings(StrictModel):
    """Members' requests for help: the path through the status, the guides and the forum,
    then one helpdesk ticket with screenshots."""

    #: offer ``/assistance/`` ("Un problème ?" on every public page)
    enabled: bool = False
    #: the plugin that delivers requests to the helpdesk (its entry-point name; the
    #: ``tickets`` plugin uses the ``helpdesk:`` section)
    desk: str = "tickets"
    #: choices besides the services, in this order after them
    categories: list[Category] = [
        Category(id="account", label=LocalizedText(fr="Mon compte", en="My account")),
        Category(id="other", label=LocalizedText(fr="Autre chose", en="Something else")),
    ]
    #: the consent text shown above the send button (what is done with the member's data)
    consent: LocalizedText = LocalizedText(
        fr="Vos nom, adresse et captures sont transmis aux bénévoles du support pour "
           "traiter votre demande, puis effacés.",
        en="Your name, address and screenshots go to the support volunteers to handle "
           "your request, then are deleted.")
    #: requests (and undelivered screenshots) are deleted this long after they were sent;
    #: delivered screenshots are deleted at once
    retention: Duration = 30 * 86400.0
    #: time the guides and forum searches have, all together, to answer a member's page
    suggest_timeout: Duration = 2.0
    #: send the member an e-mail receipt with the reference (when mail is configured)
    receipt: bool = True
    screenshots: ScreenshotLimits = ScreenshotLimits()
    text: TextLimits = TextLimits()
    limits: RateLimits = RateLimits()

    @model_validator(mode="after")
    def _unique_categories(self) -> AssistanceSettings:
        ids = [c.id for c in self.categories]
        if len(set(ids)) != len(ids):
            raise ValueError("a category id is used twice")
        return self
