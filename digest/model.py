"""Plain data that flows between the pipeline stages."""

from __future__ import annotations

from dataclasses import dataclass

from digest.article import Article as Article
from digest.article import Contact as Contact
from digest.article import Document as Document
from digest.item import Item as Item
from digest.item import ItemType as ItemType


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
