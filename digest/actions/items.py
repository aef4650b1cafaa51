"""What staff do to a stored item: find it, embargo it, correct it."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

from digest.actions.common import Who, audit, require, utc_now
from digest.errors import DigestError
from digest.model import Item
from digest.store import (
    add_correction_note,
    embargo_of,
    find_item,
    find_item_by_entry_hash,
    set_embargo,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine

ENTRY_ID = re.compile(r"tag:[^\s:]+:item/([0-9a-f]{32})")


def item_for(engine: Engine, key_or_url: str) -> Item:
    """The stored item with this key, URL or feed entry id (`tag:…:item/<hash>`, what feed
    readers show), or DigestError naming what was asked for."""
    item = find_item(engine, key_or_url)
    match = ENTRY_ID.fullmatch(key_or_url.strip())
    if item is None and match is not None:
        item = find_item_by_entry_hash(engine, match[1])
    if item is None:
        raise DigestError(f"no stored item has the key, URL or feed entry id {key_or_url!r}")
    return item


def embargo_item(
    engine: Engine, item_key: str, until: datetime | None, who: Who, now: datetime | None = None
) -> Item:
    """Hold an item back from every public path until `until` (None lifts the embargo at
    once: it is recorded as ending now, so the next publish sees the item as newly public
    and writes its feeds and page)."""
    now = now or utc_now()
    item = item_for(engine, item_key)
    if until is not None and until.tzinfo is None:
        raise DigestError(f"embargo time {until} has no time zone")
    actor = require(who, "prepare")
    if until is not None and until <= now:
        raise DigestError(f"embargo time {until.isoformat()} is in the past; nothing changed")
    current = embargo_of(engine, item.key)
    if until is None and (current is None or current <= now):
        raise DigestError(f"{item.title!r} has no embargo; nothing to lift")
    set_embargo(engine, item.key, until or now)
    detail = f"{item.title} until {until.isoformat()}" if until else f"{item.title}: lifted"
    audit(engine, actor, "embargo", detail, now)
    return item


def add_correction(
    engine: Engine, item_key: str, note: str, who: Who, now: datetime | None = None
) -> Item:
    """Attach a correction note to an item: the next digest lists it, the feeds show the
    item as updated."""
    now = now or utc_now()
    item = item_for(engine, item_key)
    if not note.strip():
        raise DigestError("a correction needs a note saying what was wrong")
    actor = require(who, "prepare")
    add_correction_note(engine, item.key, note, actor.name, now)
    audit(engine, actor, "correction", f"{item.title}: {note.strip()}", now)
    return item
