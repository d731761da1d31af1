"""Webhook signatures, checked in constant time.

- **Standard Webhooks**: headers ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and
  ``webhook-signature`` (space-separated ``v1,<base64 HMAC-SHA256>``) over
  ``"{id}.{timestamp}.{body}"``; secrets look like ``whsec_<base64>``. A timestamp more than
  the tolerance (5 minutes) from now is refused, which bounds replays to that window; the
  inbox refuses the same id twice inside it.
- **HMAC hex**, as several vendors send it: one header holds ``sha256=<hex>`` (or the bare
  hex) of HMAC-SHA256 over the raw body.

Several secrets may be active at once so that a sender can rotate keys without downtime.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from andon.errors import AuthenticationError

TOLERANCE_S = 300.0
STANDARD = "standard-webhooks"
HMAC_HEX = "hmac-sha256-hex"
SCHEMES = (STANDARD, HMAC_HEX)


@dataclass(frozen=True, slots=True)
class Verified:
    message_id: str | None
    """The sender's id of the message (``webhook-id``), if the scheme has one."""


class SignatureError(AuthenticationError):
    """Why a delivery is refused (always a 401 to the sender)."""


def secret_bytes(secret: str) -> bytes:
    """The key behind a ``whsec_`` secret (base64), or the UTF-8 bytes of any other."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except binascii.Error as exc:
            raise SignatureError("a whsec_ secret must be base64") from exc
    return secret.encode()


def sign_standard(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value for a message (used for outbound deliveries)."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify_standard(
    secrets: Sequence[str], headers: Mapping[str, str], body: bytes, now: float
) -> Verified:
    message_id = headers.get("webhook-id", "")
    stamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not message_id or not stamp or not signatures:
        raise SignatureError("webhook-id, webhook-timestamp and webhook-signature are required")
    try:
        timestamp = int(stamp)
    except ValueError as exc:
        raise SignatureError("webhook-timestamp is not a Unix time") from exc
    if abs(now - timestamp) > TOLERANCE_S:
        raise SignatureError("webhook-timestamp is outside the 5 minute tolerance")
    offered = [s.removeprefix("v1,") for s in signatures.split() if s.startswith("v1,")]
    for secret in secrets:
        expected = sign_standard(secret, message_id, timestamp, body).removeprefix("v1,")
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return Verified(message_id)
    raise SignatureError("no signature matches an active secret")


def verify_hmac_hex(secrets: Sequence[str], header_value: str, body: bytes) -> Verified:
    offered = header_value.strip().removeprefix("sha256=").lower()
    if not offered:
        raise SignatureError("the signature header is missing")
    for secret in secrets:
        expected = hmac.new(secret_bytes(secret), body, hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected, offered):
            return Verified(None)
    raise SignatureError("no signature matches an active secret")
