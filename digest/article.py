"""What an item's own page adds to its listing line (digest.articles reads it): kept apart
from digest.model so that an Item can name it without importing what the model holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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
