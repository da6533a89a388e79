"""TLS handshakes and certificate judgement; shared by the ``tls`` and mail probes.

Validity (chain, hostname) is decided by OpenSSL during a verifying handshake
(:func:`negotiate_tls`), exactly as a mail client or browser would. The certificate itself
is parsed with ``cryptography`` from its DER bytes, which Python hands over even when
verification is off: that is how the expiry of an expired or untrusted certificate is
still reported (:func:`peek_certificate`).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING

from monitor.api import ProbeFailed, Reason, Status, Words, _, n_, reason

if TYPE_CHECKING:
    from cryptography import x509

    from plugins._mailstream import LineStream

#: what members read for the certificate reasons (``tls.error`` and ``tls.verify`` are
#: the core's words); every probe that judges certificates declares these
PUBLIC_WORDS: dict[str, Words] = {
    "tls.expired": _("The service's security certificate has expired"),
    "tls.expiring": _("The service's security certificate expires soon"),
    "tls.hostname": _("The service's security certificate is refused"),
    "tls.no_certificate": _("The service's secure connection fails"),
    "tls.not_yet_valid": _("The service's security certificate is refused"),
    "tls.revoked": _("The service's security certificate is refused"),
    "tls.untrusted": _("The service's security certificate is refused"),
}

# OpenSSL X509_V_ERR_* codes we explain in plain words (see openssl-verify(1))
_NOT_YET_VALID = 9
_EXPIRED = 10
_SELF_SIGNED = 18
_SELF_SIGNED_IN_CHAIN = 19
_UNTRUSTED = frozenset({2, 20, 21, _SELF_SIGNED, _SELF_SIGNED_IN_CHAIN})
_REVOKED = 23
_NAME_MISMATCH = frozenset({62, 64})  # hostname, IP address

DAY = 86400.0


@dataclass(frozen=True, slots=True)
class CertInfo:
    """What the probes report about a server's (leaf) certificate."""

    #: end of validity, Unix time
    not_after: float
    #: start of validity, Unix time
    not_before: float
    #: subject common name (or the whole subject when it has none)
    subject: str
    #: issuer organisation and common name, e.g. ``Let's Encrypt R10``
    issuer: str


@dataclass(frozen=True, slots=True)
class TLSSettings:
    """How to open and judge one TLS session (from a probe's config)."""

    #: name sent as SNI and checked against the certificate
    server_name: str
    verify: bool = True
    ca_file: str | None = None
    #: the certificate is "expiring" (degraded) this many days before its end
    warn_days: float = 14.0


@dataclass(frozen=True, slots=True)
class TLSReport:
    """Outcome of a successful handshake."""

    version: str
    cert: CertInfo | None
    handshake_seconds: float


def _name_text(name: x509.Name, *oids: x509.ObjectIdentifier) -> str:
    parts = [attr.value for oid in oids for attr in name.get_attributes_for_oid(oid)]
    return " ".join(str(p) for p in parts) or name.rfc4514_string()


def parse_certificate(der: bytes) -> CertInfo:
    """Parse a DER certificate into a :class:`CertInfo`.

    :raises ValueError: the bytes are not a certificate.
    """
    # imported by the first certificate parsed rather than by every Vigie at start
    # (megabytes: docs/performance.md)
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    cert = x509.load_der_x509_certificate(der)
    return CertInfo(
        not_after=cert.not_valid_after_utc.timestamp(),
        not_before=cert.not_valid_before_utc.timestamp(),
        subject=_subject(cert),
        issuer=_name_text(cert.issuer, NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME),
    )


def _subject(cert: x509.Certificate) -> str:
    """The common name; for a certificate without one (allowed), its first DNS name."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    if cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        return _name_text(cert.subject, NameOID.COMMON_NAME)
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return cert.subject.rfc4514_string()
    dns_names = names.value.get_values_for_type(x509.DNSName)
    return dns_names[0] if dns_names else cert.subject.rfc4514_string()


@lru_cache(maxsize=64)
def client_context(verify: bool, ca_file: str | None) -> ssl.SSLContext:
    """A client SSL context, cached: loading the system trust store reads files.

    With ``verify`` the chain and the hostname are checked against ``ca_file`` alone when
    given (a private CA), else against the system trust store. Without ``verify`` any
    certificate is accepted (its expiry is still judged by :func:`expiry_verdict`).
    A changed ``ca_file`` is read again at the next start of Vigie.
    """
    if verify:
        return ssl.create_default_context(cafile=ca_file)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _date(timestamp: float) -> Words:
    """A day as each language writes it (23/11/2026, 2026-11-23), a reason's parameter."""
    day = datetime.fromtimestamp(timestamp, UTC)
    return _("{year}-{month}-{day}", year=day.strftime("%Y"), month=day.strftime("%m"),
             day=day.strftime("%d"))


def expired_reason(server_name: str, cert: CertInfo) -> Reason:
    """The certificate of ``server_name`` is past its end date."""
    return reason("tls.expired", _("The TLS certificate of {name} expired on {date}",
                                   name=server_name, date=_date(cert.not_after)))


def verify_failure_reason(
    exc: ssl.SSLCertVerificationError, server_name: str, cert: CertInfo | None
) -> Reason:
    """Explain why OpenSSL refused the certificate of ``server_name``.

    ``cert`` is the leaf certificate fetched without verification (None when it could
    not be fetched); it gives the date of an expiry.
    """
    code = getattr(exc, "verify_code", None)
    name = server_name
    if cert is not None and cert.not_after <= time.time():
        # OpenSSL reports one error; an expired leaf is the one to fix first, whatever else
        return expired_reason(name, cert)
    if code == _EXPIRED:
        return reason("tls.expired", _("A certificate in the TLS chain of {name} has expired",
                                       name=name))
    if code == _NOT_YET_VALID:
        return _not_yet_valid(name)
    if code in _NAME_MISMATCH:
        return reason("tls.hostname", _("The TLS certificate is not issued for {name}",
                                        name=name))
    if code == _SELF_SIGNED:
        return reason("tls.untrusted", _("The TLS certificate of {name} is self-signed",
                                         name=name))
    if code in _UNTRUSTED:
        return reason("tls.untrusted",
                      _("The TLS certificate of {name} is not signed by a trusted authority",
                        name=name))
    if code == _REVOKED:
        return reason("tls.revoked", _("The TLS certificate of {name} has been revoked",
                                       name=name))
    # OpenSSL's own message comes from a fixed vocabulary: safe to show
    detail = getattr(exc, "verify_message", None) or "?"
    return reason("tls.verify", _("TLS certificate of {name} rejected ({detail})", name=name,
                                  detail=detail))


def _not_yet_valid(name: str) -> Reason:
    return reason("tls.not_yet_valid", _("The TLS certificate of {name} is not valid yet",
                                         name=name))


def handshake_failure_reason(host: str, port: int) -> Reason:
    """The TLS handshake itself failed (no common protocol, not TLS at all, reset…)."""
    return reason("tls.error", _("TLS handshake with {host}:{port} failed", host=host,
                                 port=port))


def expiry_verdict(
    cert: CertInfo, settings: TLSSettings, now: float | None = None
) -> tuple[Status, Reason] | None:
    """DOWN when expired or not yet valid, DEGRADED within ``warn_days`` of the end, else None."""
    now = time.time() if now is None else now
    name = settings.server_name
    if now >= cert.not_after:
        return Status.DOWN, expired_reason(name, cert)
    if now < cert.not_before:
        return Status.DOWN, _not_yet_valid(name)
    left = cert.not_after - now
    if left < settings.warn_days * DAY:
        days = int(left // DAY)
        return Status.DEGRADED, reason(
            "tls.expiring", n_("The TLS certificate of {name} expires in {n} day, on {date}",
                               "The TLS certificate of {name} expires in {n} days, on {date}",
                               days, name=name, date=_date(cert.not_after)))
    return None


def cert_info_fields(report: TLSReport | None = None,
                     cert: CertInfo | None = None) -> dict[str, str]:
    """The ``info`` entries the TLS-aware probes report (see their ``info_keys``)."""
    cert = cert if cert is not None else (report.cert if report else None)
    info: dict[str, str] = {}
    if report is not None:
        info["tls_version"] = report.version
    if cert is not None:
        info["cert_subject"] = cert.subject[:200]
        info["cert_issuer"] = cert.issuer[:200]
    return info


Reconnect = Callable[[], Awaitable["LineStream"]]
"""Opens a fresh stream positioned just before the TLS handshake (prelude done)."""


async def negotiate_tls(stream: LineStream, settings: TLSSettings, reconnect: Reconnect,
                        expiry_sample: str) -> TLSReport:
    """Upgrade ``stream`` to TLS with the settings' verification and read the certificate.

    When verification fails the result is DOWN with the reason OpenSSL gave, and a second
    connection (made by ``reconnect``, without verification) reads the refused
    certificate so its expiry is still reported as ``expiry_sample``. This is diagnosis,
    not a retry: the outcome is already decided.
    """
    context = client_context(settings.verify, settings.ca_file)
    started = time.perf_counter()
    try:
        ssl_object = await stream.start_tls(context, settings.server_name)
    except ssl.SSLCertVerificationError as exc:
        cert = await peek_certificate(reconnect, settings.server_name)
        samples = {expiry_sample: cert.not_after} if cert else {}
        raise ProbeFailed(verify_failure_reason(exc, settings.server_name, cert),
                          samples=samples, info=cert_info_fields(cert=cert)) from None
    except (ssl.SSLError, OSError):
        raise ProbeFailed(handshake_failure_reason(stream.host, stream.port)) from None
    elapsed = time.perf_counter() - started
    der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
    try:
        cert = parse_certificate(der) if der else None
    except ValueError:
        cert = None
    version = (ssl_object.version() if ssl_object else None) or "?"
    return TLSReport(version=version, cert=cert, handshake_seconds=elapsed)


async def peek_certificate(reconnect: Reconnect, server_name: str) -> CertInfo | None:
    """The server's certificate read without verification, or None if that fails too."""
    stream = None
    try:
        stream = await reconnect()
        ssl_object = await stream.start_tls(client_context(False, None), server_name)
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        return parse_certificate(der) if der else None
    except (ProbeFailed, ssl.SSLError, OSError, ValueError):
        return None
    finally:
        if stream is not None:
            await stream.close()


INFO_KEYS = ("tls_version", "cert_subject", "cert_issuer")
"""``info`` keys of the TLS-aware probes."""
