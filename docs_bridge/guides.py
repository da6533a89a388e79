"""What every guide source produces: :class:`Guide`, and how it becomes a :class:`Link`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from docs_bridge.text import fold
from monitor.api import Link, clean_line

#: Link.kind of a guide
GUIDE_LINK_KIND = "guide"
#: how much of a guide's text is kept (ranking needs words, not whole books)
MAX_TEXT = 8000
#: longest guide title kept (what an incident's link can store)
MAX_TITLE = 300
#: the tag that says which service a page is about (``service=nextcloud``); BookStack
#: sources may name another (``service_tag``)
SERVICE_TAG = "service"


@dataclass(frozen=True, slots=True)
class Guide:
    """One guide (a page of documentation) from one source.

    ``id`` is unique across sources (``<source>:<native id>``); ``slug`` is the short
    name a configuration may use in an explicit mapping; ``tags`` are ``name`` or
    ``name=value`` strings (BookStack tags, front-matter tags).

    What the guide is about, as its site says it (see :mod:`docs_bridge.subjects`):
    ``services`` are the service ids it declares (a BookStack tag ``service=nextcloud``,
    a front matter ``service: nextcloud``); ``sections`` are the places it sits in (its
    BookStack book, the folders of its Markdown file or MkDocs page).
    """

    id: str
    source: str
    title: str
    url: str
    slug: str = ""
    text: str = ""
    tags: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    sections: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for the disk cache)."""
        data = asdict(self)
        for key in ("tags", "services", "sections"):
            data[key] = list(data[key])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Guide:
        """The guide :meth:`to_dict` wrote (a cache written before ``services`` and
        ``sections`` existed reads as guides that declare none)."""
        return cls(id=str(data["id"]), source=str(data["source"]), title=str(data["title"]),
                   url=str(data["url"]), slug=str(data.get("slug", "")),
                   text=str(data.get("text", "")), tags=tuple(data.get("tags", ())),
                   services=tuple(str(s) for s in data.get("services", ())),
                   sections=tuple(str(s) for s in data.get("sections", ())))

    def has_tag(self, wanted: str) -> bool:
        """True when a tag's name, value or ``name=value`` equals ``wanted`` (folded)."""
        want = fold(wanted).strip()
        for tag in self.tags:
            name, _, value = fold(tag).partition("=")
            if want in (fold(tag), name.strip(), value.strip()):
                return True
        return False

    def answers_to(self, ref: str) -> bool:
        """True when ``ref`` (from an explicit mapping) names this guide: its id, its
        native id, its slug or its URL."""
        if ref in (self.id, self.url):
            return True
        native = self.id.partition(":")[2]
        return ref == native or (bool(self.slug) and fold(ref) == fold(self.slug))

    def link(self, plugin: str = "") -> Link:
        """The public link attached to an incident (``plugin`` left empty, Vigie stamps
        the name the plugin is registered under)."""
        # no external_id: a guide is not an object the plugin follows up on (and the core
        # lists links without one first)
        return Link(kind=GUIDE_LINK_KIND, title=self.title, url=self.url, public=True,
                    plugin=plugin)


def tagged_services(tags: Iterable[str], tag: str = SERVICE_TAG) -> tuple[str, ...]:
    """The values of the ``<tag>=<value>`` tags: the services a page declares."""
    want = fold(tag).strip()
    out = []
    for item in tags:
        name, sep, value = item.partition("=")
        if sep and fold(name).strip() == want and value.strip():
            out.append(value.strip())
    return tuple(dict.fromkeys(out))


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """A guide site's ``text`` made safe (one line, see :mod:`monitor.safetext`), cut to
    ``limit`` characters."""
    return clean_line(text, limit)
