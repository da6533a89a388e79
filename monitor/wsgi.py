"""Calling a WSGI application from an aiohttp request, as waitress did.

:func:`environ_of` builds the WSGI environment the way waitress builds it (header names
containing ``_`` dropped so nobody can pose as a CGI variable, repeated headers joined
with ``, ``, ``PATH_INFO`` decoded as latin-1); :func:`call` runs an application to the
end and returns its whole response; :func:`to_response` turns that into an aiohttp
response, and :func:`respond` sends it (a large body in slices); :func:`refusal` is the
listener's own answer to a request it refuses. Every response carries :data:`ALWAYS`.
Used by :class:`monitor.web.WebServer`.
"""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable
from http import HTTPStatus
from typing import IO
from urllib.parse import unquote_to_bytes

from aiohttp.web_request import BaseRequest
from aiohttp.web_response import Response, StreamResponse
from multidict import CIMultiDict

log = logging.getLogger(__name__)

#: the ``Server`` header of every response (waitress's ``ident``): no version given away
SERVER_NAME = "vigie"
#: headers a WSGI application may not set (PEP 3333): the server owns the connection
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate",
                        "proxy-authorization", "te", "trailers", "transfer-encoding",
                        "upgrade"})
#: headers every response of the listener carries (/metrics, /healthz and /push too): the
#: browser must never guess another type than the one given
ALWAYS = {"X-Content-Type-Options": "nosniff"}
#: bodies larger than this are streamed in slices of SLICE bytes (see :func:`respond`)
STREAM_ABOVE = 1 << 20
SLICE = 256 << 10
_ERROR_BODY = b"The server encountered an unexpected internal server error"
_NO_INPUT = b""

#: ``(status line, headers, body)``: a whole WSGI response
Answer = tuple[str, list[tuple[str, str]], bytes]


def environ_of(request: BaseRequest, server_name: str, server_port: int) -> dict:
    """The WSGI environment of ``request`` (its body not read yet: ``wsgi.input`` is
    empty until :func:`set_body`)."""
    target = request.raw_path
    path, _, query = target.partition("?")
    path = unquote_to_bytes(path).decode("latin-1")
    if path.startswith("/"):
        path = "/" + path.lstrip("/")  # as waitress: "//x" is "/x", never another host
    peer = request.transport.get_extra_info("peername") if request.transport else None
    address, port = (peer[0], str(peer[1])) if peer else ("", "")
    version = request.version
    environ = {
        "REQUEST_METHOD": request.method, "SCRIPT_NAME": "", "PATH_INFO": path,
        "QUERY_STRING": query, "REQUEST_URI": target,
        "SERVER_NAME": server_name, "SERVER_PORT": str(server_port),
        "SERVER_PROTOCOL": f"HTTP/{version.major}.{version.minor}",
        "SERVER_SOFTWARE": SERVER_NAME,
        "REMOTE_ADDR": address, "REMOTE_HOST": address, "REMOTE_PORT": port,
        "wsgi.url_scheme": "http", "wsgi.version": (1, 0), "wsgi.errors": sys.stderr,
        "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
        "wsgi.input": io.BytesIO(_NO_INPUT), "wsgi.input_terminated": True,
    }
    for raw_name, raw_value in request.raw_headers:
        if b"_" in raw_name:
            continue
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        if name not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = "HTTP_" + name
        value = raw_value.decode("latin-1")
        environ[name] = f"{environ[name]}, {value}" if name in environ else value
    return environ


def set_body(environ: dict, stream: IO[bytes], size: int) -> None:
    """Give the application the request's body (``size`` bytes in ``stream``)."""
    environ["wsgi.input"] = stream
    environ["CONTENT_LENGTH"] = str(size)


def call(app: Callable, environ: dict) -> Answer:
    """Run the WSGI ``app`` to the end; a failure is logged and answered with a 500."""
    started: list = []

    def start_response(status: str, headers: list, exc_info=None):
        if exc_info and started:
            # nothing was sent yet (the body is collected first): the error response wins
            started.clear()
        started.append((status, headers))
        return _no_write

    try:
        result = app(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers = started[-1]
    except Exception:
        log.exception("error while serving %s %s", environ.get("REQUEST_METHOD"),
                      environ.get("PATH_INFO"))
        return error_answer()
    return status, headers, body


def error_answer() -> Answer:
    """The answer to a request whose application failed (a 500 saying nothing more)."""
    return ("500 Internal Server Error",
            [("Content-Type", "text/plain; charset=utf-8"),
             ("Content-Length", str(len(_ERROR_BODY)))], _ERROR_BODY)


#: what the listener says when it refuses a request, French first
_REFUSALS = {
    408: ("Requête trop lente : la connexion est fermée.",
          "Request too slow: the connection is closed."),
    413: ("Requête trop volumineuse ({limit} octets au plus).",
          "Request too large (at most {limit} bytes)."),
    431: ("En-têtes de la requête trop volumineux.", "Request headers too large."),
    503: ("Serveur occupé : réessayez dans un instant.", "Server busy: try again in a moment."),
    400: ("Requête invalide.", "Bad request."),
}
#: the code of each refusal in a JSON answer (``{"error": code, …}``)
_REFUSAL_CODES = {408: "timeout", 413: "too_large", 431: "headers_too_large", 503: "busy",
                  400: "bad_request"}
#: seconds a client refused with 503 is asked to wait
RETRY_AFTER = "10"


def refusal(status: int, limit: int = 0, as_json: bool = False) -> Answer:
    """The listener's own answer refusing a request (``limit``: for a 413): plain text in
    both languages, or, ``as_json`` (a client that accepts JSON, an API's),
    ``{"error", "message", "message_fr", "message_en"}`` as the APIs answer errors."""
    fr, en = (text.format(limit=limit) for text in _REFUSALS[status])
    if as_json:
        body = json.dumps({"error": _REFUSAL_CODES[status], "message": en, "message_fr": fr,
                           "message_en": en}, ensure_ascii=False).encode()
        kind = "application/json"
    else:
        body = (fr + "\n" + en + "\n").encode()
        kind = "text/plain; charset=utf-8"
    headers = [("Content-Type", kind), ("Cache-Control", "no-store"),
               ("Content-Length", str(len(body)))]
    if status == 503:
        headers.append(("Retry-After", RETRY_AFTER))
    return f"{status} {HTTPStatus(status).phrase}", headers, body


def accepts_json(accept: str | None) -> bool:
    """Whether an ``Accept`` header asks for JSON (``application/json`` among its types,
    not refused with ``q=0``)."""
    for item in (accept or "").split(","):
        kind, *params = (part.strip().lower() for part in item.split(";"))
        if kind == "application/json":
            return not any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000")
                           for p in params)
    return False


def raw_refusal(status: int) -> bytes:
    """:func:`refusal` as bytes to write on a connection, closing it."""
    line, headers, body = refusal(status)
    head = "".join(f"{name}: {value}\r\n" for name, value in
                   [*headers, ("Connection", "close"), ("Server", SERVER_NAME),
                    *ALWAYS.items()])
    return f"HTTP/1.1 {line}\r\n{head}\r\n".encode("latin-1") + body


def _no_write(data: bytes) -> None:
    raise NotImplementedError("the write() of start_response is not supported")


def to_response(answer: Answer) -> Response:
    """An aiohttp response with the application's status, headers and body."""
    status, headers, body = answer
    code, reason, out = _head(status, headers)
    return Response(status=code, reason=reason, headers=out, body=body or None)


async def respond(request: BaseRequest, answer: Answer) -> StreamResponse:
    """Send ``answer`` to ``request``'s client.

    A body over :data:`STREAM_ABOVE` (``/metrics`` of a large configuration: tens of MB
    at 100,000 checks) is sent in slices of :data:`SLICE`, each written once the socket took
    the previous ones, so the transport never holds a second copy of it.
    """
    status, headers, body = answer
    if len(body) <= STREAM_ABOVE or request.method == "HEAD":
        return to_response(answer)
    code, reason, out = _head(status, headers)
    response = StreamResponse(status=code, reason=reason, headers=out)
    response.content_length = len(body)
    await response.prepare(request)
    view = memoryview(body)
    for start in range(0, len(view), SLICE):
        await response.write(view[start:start + SLICE])
    await response.write_eof()
    return response


def _head(status: str, headers: list[tuple[str, str]]) -> tuple[int, str | None, CIMultiDict]:
    code, _, reason = status.partition(" ")
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers:
        if name.lower() not in HOP_BY_HOP:
            out.add(name, value)
    out["Server"] = SERVER_NAME
    out.update(ALWAYS)
    return int(code), reason or None, out
