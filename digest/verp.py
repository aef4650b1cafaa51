"""VERP: the envelope sender (Return-Path) of each delivery carries a signed token naming
the delivery (mailing and subscriber), so a bounce that comes back maps to it without
guessing from the DSN's text.

The token is `<mailing>-<subscriber>-<signature>`: digits, hyphens and lower-case hex only,
since some servers change the letter case of a local part and others refuse unusual
characters. The signature is an HMAC-SHA256 keyed with SECRET_KEY, cut to 12 hex digits:
nobody can make the program suppress an address by mailing it a forged bounce.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from digest.config import Settings

PLACEHOLDER = "{token}"
SIGNATURE_DIGITS = 12
TOKEN = re.compile(r"(\d{1,12})-(\d{1,12})-([0-9a-f]{12})", re.IGNORECASE)


def _signature(secret: str, mailing_id: int, subscriber_id: int) -> str:
    message = f"bounce\n{mailing_id}\n{subscriber_id}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:SIGNATURE_DIGITS]


def token(settings: Settings, mailing_id: int, subscriber_id: int) -> str:
    """The signed token of one delivery."""
    signature = _signature(settings.secret_key, mailing_id, subscriber_id)
    return f"{mailing_id}-{subscriber_id}-{signature}"


def envelope_sender(settings: Settings, mailing_id: int, subscriber_id: int) -> str:
    """The MAIL FROM of one delivery: the bounce address with its token when
    `email.bounce_address` is set, else the from address as before."""
    pattern = settings.email.bounce_address
    if not pattern:
        return settings.email.from_address
    return pattern.replace(PLACEHOLDER, token(settings, mailing_id, subscriber_id))


def delivery_of(settings: Settings, address: str) -> tuple[int, int] | None:
    """The (mailing id, subscriber id) a bounce address's token names, when its signature
    holds; None for any other address or a forged or damaged token."""
    pattern = settings.email.bounce_address
    if not pattern or not address:
        return None
    before, _, after = pattern.partition(PLACEHOLDER)
    shape = re.escape(before) + r"(?P<token>[^@\s<>]+)" + re.escape(after)
    found = re.search(shape, address.strip().strip("<>"), re.IGNORECASE)
    if not found:
        return None
    parts = TOKEN.fullmatch(found.group("token"))
    if not parts:
        return None
    mailing_id, subscriber_id = int(parts.group(1)), int(parts.group(2))
    expected = _signature(settings.secret_key, mailing_id, subscriber_id)
    if not hmac.compare_digest(expected, parts.group(3).lower()):
        return None
    return mailing_id, subscriber_id
