"""Guides from a folder of Markdown files.

Each ``*.md`` file (sub-folders included, ``README.md`` and files starting with ``_``
left out) is one guide. Its title is the ``title`` of an optional YAML front matter,
else its first ``#`` heading, else its file name; ``tags`` may be listed in the front
matter. Its slug is its path without ``.md`` (``nextcloud/maintenance``) and its address
``<base_url>/<slug>``. The services it is about are the front matter's ``service`` or
``services`` (and ``service=<id>`` tags); its folders are where it sits
(:mod:`docs_bridge.subjects`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from docs_bridge.guides import MAX_TITLE, Guide, clip, tagged_services
from monitor.api import clean_line

log = logging.getLogger(__name__)

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)
_HEADING = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.MULTILINE)
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MARKUP = re.compile(r"[`*_>#|~]+")


@dataclass(frozen=True, slots=True)
class MarkdownPage:
    """One parsed Markdown file."""

    slug: str
    title: str
    body: str
    tags: tuple[str, ...]
    services: tuple[str, ...] = ()

    @property
    def folders(self) -> tuple[str, ...]:
        """The folders the file sits in (``nextcloud/maintenance`` → ``("nextcloud",)``)."""
        return tuple(self.slug.split("/")[:-1])


def parse_page(text: str, slug: str) -> MarkdownPage:
    """Title, body and tags of a Markdown document (see the module's docstring)."""
    meta: dict[str, Any] = {}
    match = _FRONT_MATTER.match(text)
    if match:
        try:
            loaded = yaml.safe_load(match.group(1))
        except yaml.YAMLError:
            loaded = None
        meta = loaded if isinstance(loaded, dict) else {}
        text = text[match.end():]
    heading = _HEADING.search(text)
    title = str(meta.get("title") or (heading.group(1) if heading else "")
                or slug.rsplit("/", 1)[-1].replace("-", " ").capitalize())
    tags = _strings(meta.get("tags"))
    services = tuple(dict.fromkeys(
        _strings(meta.get("services") or meta.get("service")) + tagged_services(tags)))
    return MarkdownPage(slug, clean_line(title, MAX_TITLE), text, tags, services)


def _strings(value: Any) -> tuple[str, ...]:
    """A front-matter list (``[a, b]`` or ``"a, b"``) as safe one-line strings."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple):
        return ()
    return tuple(item for item in (clean_line(v, 100) for v in value) if item)


def plain_text(markdown: str) -> str:
    """Words of a Markdown body (link texts kept, addresses and markup dropped)."""
    return clip(_MARKUP.sub(" ", _LINK.sub(r"\1", markdown)))


def read_folder(folder: Path) -> list[MarkdownPage]:
    """Every guide page under ``folder``, sorted by slug.

    :raises OSError: the folder cannot be read (a missing folder is an error: a typo in
        the configuration must not look like "no guides").
    """
    if not folder.is_dir():
        raise FileNotFoundError(f"guide folder {folder} does not exist")
    pages = []
    for path in sorted(folder.rglob("*.md")):
        relative = path.relative_to(folder)
        if (path.name.lower() == "readme.md"
                or any(p.startswith(("_", ".")) for p in relative.parts)):
            continue
        slug = relative.with_suffix("").as_posix()
        try:
            pages.append(parse_page(path.read_text(encoding="utf-8"), slug))
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("guides: skipping %s: %s", path, exc)
    return pages


class MarkdownReader:
    """A :class:`docs_bridge.sources.GuideSource` over a local folder."""

    def __init__(self, source_id: str, folder: Path, base_url: str) -> None:
        self.id = source_id
        self.folder = folder
        self.base_url = base_url.rstrip("/")

    async def fetch(self, session: aiohttp.ClientSession | None = None,
                    services: list | None = None) -> list[Guide]:
        """Read the folder (in a thread: file reads block)."""
        pages = await asyncio.to_thread(read_folder, self.folder)
        return [Guide(id=f"{self.id}:{p.slug}", source=self.id, title=p.title,
                      url=f"{self.base_url}/{p.slug}", slug=p.slug,
                      text=plain_text(p.body), tags=p.tags, services=p.services,
                      sections=p.folders)
                for p in pages]
