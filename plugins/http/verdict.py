"""Judging an HTTP answer, and explaining a failed request (volunteers' words, from the
catalogues; members read :data:`PUBLIC_WORDS`)."""

from __future__ import annotations

import json
import socket
import ssl
from typing import Any

import aiohttp
from yarl import URL

from monitor.api import Number, Reason, Words, _, clean_line, reason
from plugins import _tlsinfo
from plugins.http.config import JsonCondition, format_status_ranges
from plugins.http.jsonpath import MISSING, lookup, same_value
from plugins.http.plan import Plan


def _short(text: str, limit: int = 60) -> str:
    return clean_line(text, limit)


#: what members read for the http kind's own reason codes (the core words ``http.status``,
#: ``connection.*``, ``timeout``, ``dns.*``; ``tls.*`` are :data:`plugins._tlsinfo.PUBLIC_WORDS`)
PUBLIC_WORDS: dict[str, Words] = {
    "http.json": _("The service answers with unexpected content"),
    "http.json_invalid": _("The service answers with unexpected content"),
    "http.keyword_missing": _("The page does not show what it should"),
    "http.keyword_present": _("The page shows an error"),
    "http.redirect_invalid": _("The site sends visitors to a wrong address"),
    "http.redirects": _("The site sends visitors round in circles"),
    "http.regex_missing": _("The page does not show what it should"),
    "http.regex_present": _("The page shows an error"),
    "http.slow": _("The site is slow: pages may take a while to load"),
}


def judge(plan: Plan, status: int, body: bytes, charset: str | None) -> Reason | None:
    """The first rule the answer breaks (status, text, JSON), or None."""
    if status not in plan.accepted:
        return reason("http.status", _("The server answered {got} instead of {expected}",
                                       got=status, expected=format_status_ranges(plan.expected)))
    if plan.needs_text:
        text = _decode(body, charset)
        if plan.keyword and plan.keyword not in text:
            return reason("http.keyword_missing", _("The text “{kw}” is missing from the page",
                                                    kw=_short(plan.keyword)))
        if plan.keyword_absent and plan.keyword_absent in text:
            return reason("http.keyword_present",
                          _("The page contains “{kw}”, a sign of trouble",
                            kw=_short(plan.keyword_absent)))
        if plan.regex and plan.regex.search(text) is None:
            return reason("http.regex_missing", _("The page does not match the pattern “{re}”",
                                                  re=_short(plan.regex.pattern)))
        if plan.regex_absent and plan.regex_absent.search(text) is not None:
            return reason("http.regex_present",
                          _("The page matches the pattern “{re}”, a sign of trouble",
                            re=_short(plan.regex_absent.pattern)))
    if plan.json:
        return judge_json(plan.json, body)
    return None


def _decode(body: bytes, charset: str | None) -> str:
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset name in Content-Type
        return body.decode("utf-8", errors="replace")


def judge_json(conditions: tuple[JsonCondition, ...], body: bytes) -> Reason | None:
    """The first JSON condition the body breaks, or None."""
    try:
        document = json.loads(body)
    except ValueError:
        return reason("http.json_invalid", _("The answer is not valid JSON"))
    for cond in conditions:
        value = lookup(document, cond.steps)
        if value is MISSING:
            return reason("http.json", _("The value {path} is missing from the JSON answer",
                                         path=cond.path))
        given = cond.model_fields_set
        if "equals" in given and not same_value(value, cond.equals):
            # ``got`` is the server's answer: volunteers only (see monitor.probe.Reason)
            return reason("http.json", _("{path} is {got} instead of {expected}", path=cond.path,
                                         got=_show(value), expected=_show(cond.equals)),
                          public=False)
        if "not_equals" in given and same_value(value, cond.not_equals):
            # quotes the configured value (the answer equals it): nothing from outside
            return reason("http.json", _("{path} is {got}, a sign of trouble", path=cond.path,
                                         got=_show(cond.not_equals)))
    return None


def _show(value: Any) -> str:
    return _short(json.dumps(value, ensure_ascii=False), 40)


def slow_reason(elapsed: float, threshold: float) -> Reason:
    """The answer came, but later than ``degraded_after``."""
    took = Number(elapsed, ".1f" if elapsed < 10 else ".0f")
    return reason("http.slow", _("Slow answer: {took} s (threshold {limit} s)",
                                 took=took, limit=Number(threshold)))


def too_many_redirects(limit: int) -> Reason:
    """More redirects than ``max_redirects``."""
    return reason("http.redirects", _("Too many redirects (more than {max})", max=limit))


def timeout_reason(url: URL, timeout: float, reading_body: bool) -> Reason:
    """No (complete) answer from ``url`` within the check's timeout."""
    host = url.host or "?"
    if reading_body:
        return reason("timeout", _("The page from {host} was not fully received within {s} s",
                                   host=host, s=Number(timeout)))
    return reason("timeout", _("No answer from {host} within {s} s", host=host,
                               s=Number(timeout)))


def failure_reason(exc: BaseException, url: URL, tls_name: str | None,
                   family: int) -> Reason | None:
    """A precise reason for a request to ``url`` that raised ``exc``, or None.

    ``tls_name`` is the name the certificate was checked against; ``family`` the address
    family asked by ``ip_version`` (0 for any). None lets the runner judge the exception.
    """
    host = url.host or "?"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        cert_error = exc.certificate_error
        if isinstance(cert_error, ssl.SSLCertVerificationError):
            return _tlsinfo.verify_failure_reason(cert_error, tls_name or host, None)
        return _tlsinfo.handshake_failure_reason(tls_name or host, exc.port or 0)
    if isinstance(exc, (aiohttp.ClientSSLError, ssl.SSLError)):
        return _tlsinfo.handshake_failure_reason(tls_name or host, url.port or 0)
    if isinstance(exc, (aiohttp.ClientConnectorDNSError, socket.gaierror)):
        if family and isinstance(exc, socket.gaierror):
            return reason("dns.error", _("No IPv{v} address found for {host} (DNS)", host=host,
                                         v=4 if family == socket.AF_INET else 6))
        return reason("dns.error", _("The name {host} could not be resolved (DNS)", host=host))
    if isinstance(exc, aiohttp.ClientConnectorError):
        where = f"{exc.host}:{exc.port}"
        if isinstance(exc.os_error, ConnectionRefusedError):
            return reason("connection.refused", _("Connection refused by {where}", where=where))
        return reason("connection.error", _("Could not connect to {where} ({err})", where=where,
                                            err=exc.os_error.strerror
                                            or type(exc.os_error).__name__))
    where = f"{host}:{url.port}"
    if isinstance(exc, ConnectionRefusedError):  # from the plain-HTTP fast path
        return reason("connection.refused", _("Connection refused by {where}", where=where))
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return reason("connection.closed", _("{host} closed the connection without answering",
                                             host=host))
    if isinstance(exc, ConnectionResetError):
        return reason("connection.reset", _("{host} reset the connection", host=host))
    if isinstance(exc, (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError)):
        return reason("http.redirect_invalid", _("Redirect to an invalid address"))
    if isinstance(exc, (aiohttp.ClientResponseError, aiohttp.ClientPayloadError)):
        return reason("http.protocol", _("Invalid HTTP answer from {host}", host=host))
    if isinstance(exc, OSError) and not isinstance(exc, ssl.SSLError) and exc.strerror:
        return reason("connection.error", _("Could not connect to {where} ({err})",
                                            where=where, err=exc.strerror))
    return None
