"""An item and its type, as every source yields them. digest.model re-exports both with
the rest of the plain data; they live here so that reading a page (`digest parse`) does not
define the store's, the article reader's and the press list's classes too."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from digest.article import Article


@dataclass(frozen=True)
class ItemType:
    """A kind of newsroom item, as configured: label on the page, slug in URLs, feed title."""

    label: str
    slug: str
    feed_title: str
    plural: str = ""

    @property
    def plural_label(self) -> str:
        return self.plural or self.label.lower() + "s"


@dataclass(frozen=True)
class Item:
    """One newsroom entry as read from a source, before or after it is stored.

    `key` identifies the item for ever (see DESIGN.md, Identity); `type` is an
    ItemType slug or None when the source does not say; `label` is the type as the page
    words it; `undated` marks an item the source gave no date, dated when first seen;
    `month_only` one dated only to a month (listed under a heading such as `April 2013`);
    `article` is what the item's own page adds, once read.
    """

    key: str
    title: str
    published: datetime
    type: str | None = None
    summary: str | None = None
    url: str | None = None
    image_caption: str | None = None
    source: str = ""
    updated: datetime | None = None
    categories: tuple[str, ...] = field(default_factory=tuple)
    page: str | None = None
    first_seen: datetime | None = None
    embargo_until: datetime | None = None
    corrections: tuple[str, ...] = ()
    label: str | None = None
    image: str | None = None
    undated: bool = False
    month_only: bool = False
    article: Article | None = None
