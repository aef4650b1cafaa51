"""Plain data that flows between the pipeline stages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from digest.item import Item as Item
from digest.item import ItemType as ItemType


@dataclass(frozen=True)
class Document:
    """A file the item's page links to (report, annex): its address, link text, media type
    and size in bytes (None when the server did not say)."""

    url: str
    title: str
    mime_type: str
    length: int | None = None


@dataclass(frozen=True)
class Contact:
    """Who to call about an item, as its page names them."""

    name: str = ""
    email: str = ""
    phone: str = ""


@dataclass(frozen=True)
class Article:
    """What an item's own page adds to its listing line: the full text (sanitised HTML and
    plain text for search and text email), the lead photo with its alt text, caption and
    credit kept apart, the documents it links to, the press contact, its language and the
    times the page gives. `fingerprint` changes when the page's content does."""

    body_html: str
    body_text: str
    image_url: str | None = None
    image_alt: str | None = None
    image_caption: str | None = None
    image_credit: str | None = None
    documents: tuple[Document, ...] = ()
    contact: Contact | None = None
    language: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    fingerprint: str = ""


@dataclass(frozen=True)
class IngestCounts:
    """What one ingest did to the store."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    changed_types: frozenset[str | None] = frozenset()

    def __add__(self, other: IngestCounts) -> IngestCounts:
        return IngestCounts(
            self.new + other.new,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
            self.changed_types | other.changed_types,
        )


ALL_TYPES = "*"


@dataclass(frozen=True)
class Subscriber:
    """A press contact on the list. `types` are type slugs; empty means every type."""

    email: str
    name: str = ""
    outlet: str = ""
    types: tuple[str, ...] = ()
    weekly: bool = True
    breaking: bool = True
    status: str = "active"
    id: int | None = None
    cadence: str = "weekly"
    # may receive embargoed material, and its named groups ("health reporters"); None
    # leaves what is stored (only an admin sets them)
    embargo: bool | None = None
    groups: tuple[str, ...] | None = None

    @property
    def types_key(self) -> str:
        """The chosen types as one comparable string: '*' for all, else sorted slugs."""
        return ",".join(sorted(set(self.types))) if self.types else ALL_TYPES


STATUSES = ("pending", "active", "unsubscribed", "bounced")
TRUSTED = "trusted"  # the press list's filter: contacts trusted with embargoed material
CADENCES = ("weekly", "daily")
