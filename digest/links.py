"""Links: signed links for subscribers (preferences, unsubscribe, confirmation), and the
public URLs of items and of the web versions of emails; only http(s) URLs leave here.

A token is `<subscriber id>.<expiry or 0>.<signature>`; the signature is an HMAC-SHA256,
keyed with SECRET_KEY, over the purpose, the id, the subscriber's current address and the
expiry. It cannot be guessed or forged, does not work for another purpose or address,
and stops working when the address changes. Comparison is in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import unicodedata
from datetime import datetime
from functools import lru_cache
from urllib.parse import quote, urlsplit, urlunsplit

from digest.config import Settings
from digest.model import Item

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


PAGE_HASH_LENGTH = 12
SLUG_WORDS_MAX = 60
WEB_SCHEMES = ("http", "https")


def page_hash(key: str) -> str:
    """The fixed first part of an item's page path: a short hash of its key, which never
    changes (an edit keeps the key)."""
    return hashlib.sha256(key.encode()).hexdigest()[:PAGE_HASH_LENGTH]


def slugify(text: str, limit: int = SLUG_WORDS_MAX) -> str:
    """Lower-case ASCII words joined by hyphens, cut at a word boundary: 'Café opens — 2026'
    becomes 'cafe-opens-2026'."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    words = re.findall(r"[a-z0-9]+", folded)
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > limit:
            break
        slug = candidate
    return slug or (words[0][:limit] if words else "")


def page_name(key: str, title: str) -> str:
    """An item's page name, fixed when the item is first stored: `<hash>-<title slug>`.
    A later title edit keeps the name (the page stays where it is)."""
    slug = slugify(title)
    return f"{page_hash(key)}-{slug}" if slug else page_hash(key)


NOT_IN_LINKS = re.compile('[\r\n\t\x00 "<>]')


@lru_cache(maxsize=4096)  # an archive page asks for each of its 100 items' links twice
def web_url(url: str | None) -> str | None:
    """The URL when it is an absolute http(s) URL with a host, else None: nothing else
    (javascript:, data:, mailto:, relative paths) is ever emitted as a link."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in WEB_SCHEMES or not parts.hostname:
        return None
    if NOT_IN_LINKS.search(url) or not url.isprintable():
        return None
    return as_uri(url.strip())


# Characters left as they are when a URL is percent-encoded: RFC 3986's reserved and
# unreserved ones, and '%' (an escape already there stays one).
URI_SAFE = "/?#[]@!$&'()*+,;=:-._~%"


def as_uri(url: str) -> str:
    """An IRI written as a URI, as feeds and email want it: the host in IDNA (xn--) form,
    non-ASCII in the path, query and fragment percent-encoded as UTF-8. An ASCII URL is
    returned as it is; a host with no IDNA form is left as given."""
    if url.isascii():
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        ascii_host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        ascii_host = host
    netloc = parts.netloc.rsplit("@", 1)
    hostport = netloc[-1].replace(host, ascii_host, 1) if host else netloc[-1]
    userinfo = quote(netloc[0], safe=URI_SAFE) + "@" if len(netloc) == 2 else ""
    return urlunsplit(
        (
            parts.scheme,
            userinfo + hostport,
            quote(parts.path, safe=URI_SAFE),
            quote(parts.query, safe=URI_SAFE),
            quote(parts.fragment, safe=URI_SAFE),
        )
    )


def item_page_url(settings: Settings, page: str) -> str:
    """The absolute URL of an item's own page (a directory URL, with the trailing slash)."""
    return f"{settings.base_url}items/{page}/"


def item_link(settings: Settings, item: Item) -> str:
    """Where an item's title links in feeds, emails and pages: its original URL when it has
    a usable one, else its own page."""
    return web_url(item.url) or item_page_url(settings, item_page(item))


def item_page(item: Item) -> str:
    """An item's page name: the stored one, or (an item not stored yet) the one it would
    get."""
    return item.page or page_name(item.key, item.title)


def digest_page(kind: str, ident: str) -> str:
    """The page name of a mailing's web version: `weekly-<day>` for a weekly digest,
    `daily-<day>` for a daily one, `breaking-<item hash>` for a breaking alert."""
    if kind in ("weekly", "daily"):
        return f"{kind}-" + ident.removeprefix(f"{kind}:")
    return "breaking-" + page_hash(ident.removeprefix("breaking:"))


def digest_url(settings: Settings, kind: str, ident: str) -> str:
    """The absolute URL of a mailing's web version."""
    return f"{settings.base_url}digests/{digest_page(kind, ident)}/"


def image_url(item: Item) -> str | None:
    """The item's photo URL when it is a usable http(s) URL."""
    return web_url(item.image)


# Private links of material sent under embargo: `<mailing id>.<subscriber id>.<signature>`
# for one recipient's page of the item an embargoed send carried, `<subscriber id>.<signature>`
# for a trusted journalist's private feed. Signed like the subscriber links (HMAC-SHA256 with
# SECRET_KEY, per purpose); whether a link was revoked is the store's to say.
PRIVATE_TOKEN = re.compile(r"(\d{1,12})\.(\d{1,12})\.([A-Za-z0-9_-]{43})")
FEED_TOKEN = re.compile(r"(\d{1,12})\.([A-Za-z0-9_-]{43})")


def _private_signature(secret: str, *parts: object) -> str:
    message = "\n".join(str(part) for part in parts).encode()
    mac = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def private_link(settings: Settings, mailing_id: int, subscriber_id: int) -> str:
    """One recipient's private page of the item an embargoed send (mailing) carried."""
    signature = _private_signature(settings.secret_key, "embargo", mailing_id, subscriber_id)
    return f"{settings.base_url}embargoed/{mailing_id}.{subscriber_id}.{signature}/"


def read_private_token(secret: str, token: str) -> tuple[int, int] | None:
    """(mailing id, subscriber id) of a private page token, or None when it was not
    signed here (a changed character, another purpose)."""
    match = PRIVATE_TOKEN.fullmatch(token)
    if match is None:
        return None
    mailing_id, subscriber_id = int(match[1]), int(match[2])
    expected = _private_signature(secret, "embargo", mailing_id, subscriber_id)
    if not hmac.compare_digest(expected.encode(), match[3].encode()):
        return None
    return mailing_id, subscriber_id


def private_feed_link(settings: Settings, subscriber_id: int) -> str:
    """A trusted journalist's private Atom feed of the embargoed items sent to them."""
    signature = _private_signature(settings.secret_key, "embargo-feed", subscriber_id)
    return f"{settings.base_url}embargoed/feed/{subscriber_id}.{signature}.atom"


def read_feed_token(secret: str, token: str) -> int | None:
    """The subscriber id of a private feed token, or None when it was not signed here."""
    match = FEED_TOKEN.fullmatch(token.removesuffix(".atom"))
    if match is None:
        return None
    expected = _private_signature(secret, "embargo-feed", int(match[1]))
    return int(match[1]) if hmac.compare_digest(expected.encode(), match[2].encode()) else None
