"""The ``guides:`` and ``forum:`` configuration sections (validated strictly at load)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from monitor.api import IDENT, Duration, ServiceStatus, StrictModel, http_url

#: impacts that may open a forum topic or a ticket (ranked by :mod:`monitor.status`)
ImpactLevel = Literal["degraded", "partial_outage", "major_outage"]


def impact_reaches(impact: str, threshold: str) -> bool:
    """True when an incident of ``impact`` is at least as bad as ``threshold`` by the one
    order of :mod:`monitor.status` (an impact that names no status reaches nothing)."""
    status = ServiceStatus.of(impact)
    return status is not None and status >= ServiceStatus.from_label(threshold)


class BookStackSource(StrictModel):
    """Guides from a BookStack site, found through its search API (words and tags)."""

    type: Literal["bookstack"]
    #: short name of the source, in guide ids (``doc:123``) and logs
    id: str = Field(default="bookstack", pattern=IDENT)
    #: the site's address, e.g. https://doc.example.coop
    url: str
    #: API token (BookStack: My account → Access & security → API tokens)
    token_id: SecretStr
    token_secret: SecretStr
    #: results kept per search
    count: int = Field(default=20, ge=1, le=100)
    #: tag searched for each service, ``[<tag>=<service id>]``; a page carrying it is about
    #: that service (its guides come first for the service's incidents)
    service_tag: str = "service"
    timeout: Duration = 15.0

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return http_url(value)


class MkDocsSource(StrictModel):
    """Guides from an MkDocs site's search index (``search/search_index.json``)."""

    type: Literal["mkdocs"]
    id: str = Field(default="mkdocs", pattern=IDENT)
    #: the site's address; pages link to ``<url>/<location>``
    url: str
    #: the index's address, when it is not ``<url>/search/search_index.json``
    index_url: str | None = None
    timeout: Duration = 15.0

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return http_url(value)


class MarkdownSource(StrictModel):
    """Guides from a folder of Markdown files (title: first heading or front matter)."""

    type: Literal["markdown"]
    id: str = Field(default="guides", pattern=IDENT)
    #: the folder (relative paths start at the configuration file's folder)
    path: str
    #: where the folder is published (``<base_url>/<path without .md>``); when absent,
    #: Vigie serves the guides itself under ``/guides/<id>/``
    base_url: str | None = None

    @field_validator("base_url")
    @classmethod
    def _base(cls, value: str | None) -> str | None:
        return None if value is None else http_url(value)


GuideSource = Annotated[BookStackSource | MkDocsSource | MarkdownSource,
                        Field(discriminator="type")]


class ServiceGuides(StrictModel):
    """Explicit guide choices for one service, shown before any ranked match."""

    #: guide ids (``doc:123``), native ids, slugs (``nextcloud/maintenance``) or URLs
    guides: list[str] = []
    #: every guide carrying one of these tags
    tags: list[str] = []
    #: the cooperative's own names for the service: searched for, and a book or folder
    #: named with them holds the service's guides
    keywords: str = ""


class GuidesSettings(StrictModel):
    """The ``guides:`` section: where guides come from and how they are matched."""

    sources: list[GuideSource] = Field(min_length=1)
    #: how often the sources are read again
    refresh: Duration = 3600.0
    #: after a failed refresh, try again this soon
    retry: Duration = 300.0
    #: guides linked to one incident, at most (an update replaces them)
    limit: int = Field(default=3, ge=1, le=10)
    #: guides about another service (shown only when the incident's service has none)
    #: scoring below this are noise and never shown
    min_score: float = Field(default=2.0, ge=0)
    #: ranked guides below this share of the best one's score are dropped
    relative_score: float = Field(default=0.4, ge=0, le=1)
    #: per service id: explicit guides, tags and keywords
    services: dict[str, ServiceGuides] = {}
    #: extra vocabulary: a word (service id, check kind, term of a reason) → words the
    #: guides use for it (added to the built-in table)
    synonyms: dict[str, str] = {}

    @field_validator("sources")
    @classmethod
    def _unique_ids(cls, sources: list) -> list:
        ids = [s.id for s in sources]
        for source_id in ids:
            if ids.count(source_id) > 1:
                raise ValueError(f"two guide sources have the id {source_id!r}: give each "
                                 "an 'id'")
        return sources


class ForumSettings(StrictModel):
    """The ``forum:`` section: a Discourse forum where incidents get a topic."""

    #: the forum's address, e.g. https://forum.example.coop
    url: str
    #: an API key (Discourse admin → API → New key; scope: topics write, search)
    api_key: SecretStr
    #: the user the posts are made as (a bot account)
    api_username: str = "system"
    #: the category id topics are created in
    category: int = Field(ge=1)
    tags: list[str] = []
    #: incidents at least this bad get a topic
    min_impact: ImpactLevel = "partial_outage"
    #: reply on the topic when the incident is updated
    reply_on_update: bool = True
    #: close the topic when the incident is resolved (after a last reply)
    close_on_resolve: bool = False
    #: recent topics about the service shown as discussions (0: none)
    related_max: int = Field(default=3, ge=0, le=10)
    #: how far back related topics are searched, in days
    related_days: int = Field(default=14, ge=1, le=365)
    #: category ids related topics are taken from (their subcategories are not included:
    #: list them too); empty: every category anonymous visitors can read. Topics of
    #: read-restricted categories and private messages are never shown, whatever this says
    related_categories: list[Annotated[int, Field(ge=1)]] = []
    #: public threads proposed to a member who asks for help (``/assistance/``; 0: none).
    #: Searched as an anonymous visitor: only what anyone can read comes back
    suggestions: int = Field(default=3, ge=0, le=5)
    #: time that search may take (the member's page waits for it)
    suggestions_timeout: Duration = Field(default=2.0, gt=0, le=10.0)
    #: prefix of the topics' external ids (``<prefix>-<incident reference>``)
    external_id_prefix: str = Field(default="vigie", pattern=r"^[A-Za-z0-9_-]{1,20}$")
    timeout: Duration = 15.0

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return http_url(value)

    @model_validator(mode="after")
    def _username(self) -> ForumSettings:
        if not self.api_username.strip():
            raise ValueError("api_username must not be empty")
        return self
