"""The optional proof of work of the request form (``assistance.limits.proof_of_work``).

The page gets a signed challenge bound to the form's token (:func:`challenge`); its script
(``assistance.js``, a file: the Content-Security-Policy stays ``script-src 'self'``)
looks for a ``nonce`` such that ``sha256(challenge + nonce)`` starts with that many zero
bits, and sends it in the ``pow`` field; the server checks it with one hash
(:func:`verify`). A request costs a sender about ``2**bits`` hashes: nothing for a member,
a lot for a machine sending thousands. No third party, no outside script, no cookie.

Without JavaScript no nonce can be found: when the proof is asked for, the page says that
sending needs JavaScript (the default, 0, asks for none).
"""

from __future__ import annotations

import hashlib
import re

from flask import current_app
from itsdangerous import BadSignature, TimestampSigner

from dashboard.assistance.csrf import ClockedSigner

#: a challenge stays valid as long as the form's state (dashboard.assistance.formstate)
MAX_AGE = 24 * 3600
_NONCE = re.compile(r"^[0-9]{1,20}$")


def _signer() -> TimestampSigner:
    return ClockedSigner(current_app.secret_key, salt="vigie.assistance.pow")


def challenge(token: str, bits: int) -> str:
    """A challenge for the form ``token`` asking ``bits`` zero bits."""
    return _signer().sign(f"{token}.{bits}").decode()


def leading_zero_bits(digest: bytes) -> int:
    """How many zero bits ``digest`` starts with."""
    count = 0
    for byte in digest:
        if byte:
            return count + 8 - byte.bit_length()
        count += 8
    return count


def verify(sent_challenge: str, nonce: str, token: str, bits: int) -> bool:
    """Whether ``nonce`` solves ``sent_challenge``, a challenge signed here for the form
    ``token`` asking at least ``bits`` zero bits."""
    if bits <= 0:
        return True
    if not _NONCE.match(nonce or ""):
        return False
    try:
        value = _signer().unsign(sent_challenge or "", max_age=MAX_AGE).decode()
    except BadSignature:
        return False
    signed_token, _, signed_bits = value.rpartition(".")
    if signed_token != token or not signed_bits.isdigit() or int(signed_bits) < bits:
        return False
    digest = hashlib.sha256((sent_challenge + nonce).encode()).digest()
    return leading_zero_bits(digest) >= bits
