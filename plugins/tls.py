"""Probe kind ``tls``: a server's certificate, on any port, also behind STARTTLS.

The certificate must be valid for ``server_name`` (chain and hostname, unless
``verify: false``) and not expire within ``warn_days`` (default 14: degraded); an expired,
not yet valid, untrusted or misnamed certificate is down. The expiry time is reported
even for a refused certificate, read from a second, unverified handshake.
"""

from __future__ import annotations

import socket
from typing import Literal

from pydantic import Field, FilePath

from monitor.api import (
    Probe,
    ProbeConfig,
    ProbeContext,
    ProbeFailed,
    ProbeResult,
    SampleSpec,
    Status,
    _,
    hookimpl,
    reason,
)
from plugins._mailproto import (
    MAIL_WORDS,
    imap_prelude,
    pop3_prelude,
    smtp_prelude,
)
from plugins._mailstream import LineStream
from plugins._tlsinfo import (
    INFO_KEYS,
    PUBLIC_WORDS,
    TLSSettings,
    cert_info_fields,
    expiry_verdict,
    negotiate_tls,
)

EXPIRY = "tls_cert_expiry_timestamp_seconds"
HANDSHAKE = "tls_handshake_seconds"

_PRELUDES = {
    "smtp": lambda stream: smtp_prelude(stream, socket.gethostname()),
    "imap": imap_prelude,
    "pop3": pop3_prelude,
}


class TLSConfig(ProbeConfig):
    """Keys of a ``tls`` check."""

    host: str = Field(min_length=1)
    port: int = Field(default=443, ge=1, le=65535)
    #: name sent as SNI and checked against the certificate (default: ``host``)
    server_name: str | None = None
    #: speak this protocol up to its STARTTLS command before the handshake
    starttls: Literal["none", "smtp", "imap", "pop3"] = "none"
    #: check the chain and the name (off: only the dates are judged)
    verify: bool = True
    #: trust only this CA file (PEM) instead of the system's authorities
    ca_file: FilePath | None = None
    #: the certificate expiring within this many days makes the check degraded
    warn_days: float = Field(default=14, ge=0)

    def tls_settings(self) -> TLSSettings:
        """The TLS part of the config."""
        return TLSSettings(server_name=self.server_name or self.host, verify=self.verify,
                           ca_file=str(self.ca_file) if self.ca_file else None,
                           warn_days=self.warn_days)


class TLSProbe(Probe):
    """Checks the certificate a server presents: validity, name and expiry."""

    kind = "tls"
    Config = TLSConfig
    description = ("TLS certificate: chain, name and expiry, on any port "
                   "(also SMTP/IMAP/POP3 STARTTLS)")
    samples = (
        SampleSpec(EXPIRY, "Expiry time (Unix) of the server's TLS certificate"),
        SampleSpec(HANDSHAKE, "Duration of the TLS handshake"),
    )
    info_keys = INFO_KEYS
    public_words = {**MAIL_WORDS, **PUBLIC_WORDS}

    async def check(self, config: TLSConfig, ctx: ProbeContext) -> ProbeResult:
        """Connect, run the STARTTLS prelude if any, shake hands, judge the certificate."""
        settings = config.tls_settings()
        prelude = _PRELUDES.get(config.starttls)

        async def connect() -> LineStream:
            stream = await LineStream.open(config.host, config.port, ctx)
            if prelude is not None:
                try:
                    await prelude(stream)
                except BaseException:
                    await stream.close()
                    raise
            return stream

        stream = await connect()
        try:
            report = await negotiate_tls(stream, settings, connect, EXPIRY)
        finally:
            await stream.close()
        info = cert_info_fields(report)
        if report.cert is None:
            raise ProbeFailed(
                reason("tls.no_certificate", _("The server presented no certificate")),
                status=Status.UNKNOWN, info=info)
        samples: dict = {EXPIRY: report.cert.not_after, HANDSHAKE: report.handshake_seconds}
        verdict = expiry_verdict(report.cert, settings)
        if verdict is None:
            return ProbeResult.up(samples=samples, info=info)
        status, why = verdict
        if status == Status.DEGRADED:
            return ProbeResult.degraded(why, samples=samples, info=info)
        raise ProbeFailed(why, status=status, samples=samples, info=info)


@hookimpl
def vigie_register_probes() -> list[type[Probe]]:
    """The ``tls`` probe kind."""
    return [TLSProbe]
