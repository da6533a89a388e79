"""The web addresses plugins hand to the core (incident links, guides, tickets): which
are kept, in a module free of database code, so that a probe plugin importing
:mod:`monitor.api` loads no SQLAlchemy (``vigie agent`` runs probes without a database)."""

from __future__ import annotations

from monitor.safetext import is_clean_line
from monitor.schema import http_url_problem

#: longest link URL stored
URL_LENGTH = 2000


def web_address(url: object) -> str | None:
    """``url`` when it is an ``http``/``https`` address with a host, or a path on this
    site (``/guides/…``), at most :data:`URL_LENGTH` characters; else None."""
    if not isinstance(url, str) or not url or len(url) > URL_LENGTH \
            or not is_clean_line(url, URL_LENGTH) or any(c.isspace() for c in url):
        return None
    if url.startswith("/"):
        return url if not url.startswith(("//", "/\\")) else None
    return url if http_url_problem(url) is None else None
