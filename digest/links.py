"""Signed links for subscribers: preferences, unsubscribe and confirmation.

A token is `<subscriber id>.<expiry or 0>.<signature>`; the signature is an HMAC-SHA256,
keyed with SECRET_KEY, over the purpose, the id, the subscriber's current address and the
expiry. It cannot be guessed or forged, does not work for another purpose or address,
and stops working when the address changes. Comparison is in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime

from digest.config import Settings

PURPOSES = ("preferences", "unsubscribe", "confirm")


def _signature(secret: str, purpose: str, subscriber_id: int, email: str, expires: int) -> str:
    message = f"{purpose}\n{subscriber_id}\n{email.casefold()}\n{expires}".encode()
    mac = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def sign(
    secret: str, purpose: str, subscriber_id: int, email: str, expires: datetime | None = None
) -> str:
    """A token for one subscriber and one purpose, optionally expiring."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown link purpose {purpose!r}")
    stamp = int(expires.timestamp()) if expires else 0
    return f"{subscriber_id}.{stamp}.{_signature(secret, purpose, subscriber_id, email, stamp)}"


def token_subscriber(token: str) -> int | None:
    """The subscriber id a token claims (unverified), to look the address up."""
    head, _, _ = token.partition(".")
    return int(head) if head.isdigit() else None


def verify(
    secret: str, purpose: str, token: str, subscriber_id: int, email: str, now: datetime
) -> bool:
    """Whether the token was signed for this purpose, subscriber and address, and has not
    expired."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return False
    if int(parts[0]) != subscriber_id:
        return False
    expires = int(parts[1])
    expected = _signature(secret, purpose, subscriber_id, email, expires)
    if not hmac.compare_digest(expected.encode(), parts[2].encode()):
        return False
    return expires == 0 or now.timestamp() < expires


def signed_link(
    settings: Settings,
    purpose: str,
    subscriber_id: int,
    email: str,
    expires: datetime | None = None,
) -> str:
    """The page a subscriber's signed token opens: BASE_URL + preferences/<token>,
    unsubscribe/<token> or confirm/<token>."""
    token = sign(settings.secret_key, purpose, subscriber_id, email, expires)
    return f"{settings.base_url}{purpose}/{token}"
