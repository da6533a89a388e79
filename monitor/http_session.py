"""The process-wide HTTP session the probes share, created when first used.

:func:`make_http_session` builds aiohttp's client session as every probe wants it (no
cookies between runs, a new connection per check); :class:`LazyHttpSession` stands for it
until a probe needs it, so an instance whose checks all take the plain-HTTP fast path never
loads aiohttp's client. The runtime holds a lazy one; ``vigie check`` makes one.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from monitor import __version__

if TYPE_CHECKING:
    import aiohttp


#: headers of every request the process-wide session makes
SESSION_HEADERS = MappingProxyType({"User-Agent": f"Vigie/{__version__} (status monitoring)"})


def make_http_session(headers: Mapping[str, str] = SESSION_HEADERS) -> aiohttp.ClientSession:
    """The process-wide HTTP session: a new connection per check, no global limit
    (``headers``: its default headers)."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=0, force_close=True, ttl_dns_cache=300)
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),  # checks must not carry cookies between runs
        headers=dict(headers),
        auto_decompress=True,
    )


class LazyHttpSession:
    """Stands for the process-wide HTTP session (:func:`make_http_session`), created by
    the first probe that uses it.

    Plain-HTTP checks take the fast path (``plugins.http.fastpath``) and never touch the
    session; without HTTPS, redirects followed by aiohttp or an HTTP-based probe kind, an
    instance never needs aiohttp's session, connector and client machinery. Use it as
    ``async with LazyHttpSession() as http``: leaving closes the session if one was made.
    """

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._headers: Mapping[str, str] = SESSION_HEADERS

    def use_user_agent(self, text: str) -> None:
        """Say ``text`` as the User-Agent of the probes' requests from now on (an agent
        names its location: the targets' logs show where a request came from)."""
        self._headers = MappingProxyType({**self._headers, "User-Agent": text})
        if self._session is not None:
            self._session.headers["User-Agent"] = text

    @property
    def created(self) -> bool:
        """Whether a probe has used the session yet."""
        return self._session is not None

    @property
    def headers(self) -> Mapping[str, str]:
        """The session's default headers; the fast path reads its User-Agent here, which
        must not create the session."""
        session = self._session
        return self._headers if session is None else session.headers

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)  # copy/pickle probing must not create a session
        session = self._session
        if session is None:
            session = self._session = make_http_session(self._headers)
        return getattr(session, name)

    async def aclose(self) -> None:
        """Close the session if one was created."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def __aenter__(self) -> LazyHttpSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
