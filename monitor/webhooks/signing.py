"""Secrets and signatures as the Standard Webhooks specification (1.0) writes them.

A secret is shown as ``whsec_<base64>``; the key is the base64-decoded part after the
prefix. A signature is ``v1,<base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>"))>``;
the ``webhook-signature`` header lists one per secret in use, separated by spaces (two
during a rotation).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Iterable

#: what every secret starts with
PREFIX = "whsec_"
#: random bytes of a new secret (the specification asks for 24 to 64)
KEY_BYTES = 32


def new_secret() -> str:
    """A fresh signing secret, ``whsec_`` and the base64 of 32 random bytes."""
    return PREFIX + base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def key_of(secret: str) -> bytes:
    """The HMAC key of a ``whsec_…`` secret.

    :raises ValueError: not a secret of this form.
    """
    if not secret.startswith(PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    try:
        key = base64.b64decode(secret[len(PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret is whsec_ followed by base64") from None
    if not key:
        raise ValueError("a webhook secret may not be empty")
    return key


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<base64>`` signature of one message with one secret."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key_of(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_header(secrets_in_use: Iterable[str], message_id: str, timestamp: int,
                     body: bytes) -> str:
    """The ``webhook-signature`` value: one signature per secret, space-separated."""
    return " ".join(sign(s, message_id, timestamp, body) for s in secrets_in_use)
