"""What staff do to a stored item: find it, embargo it, correct it."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

from digest.actions.common import Who, audit, require, utc_now
from digest.errors import DigestError
from digest.mailings import alert_sent_summary
from digest.model import Item
from digest.store import (
    add_correction_note,
    amend_item_text,
    embargo_of,
    find_item,
    find_item_by_entry_hash,
    latest_items,
    set_embargo,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from digest.config import Settings

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
    engine: Engine,
    item_key: str,
    until: datetime | None,
    who: Who,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> Item:
    """Hold an item back from every public path until `until` (None lifts the embargo at
    once: it is recorded as ending now, so the next publish sees the item as newly public
    and writes its feeds and page). With `settings`, the feeds and pages are written again
    at once, so the item leaves (or comes back to) every public page now, not at the web
    process's next refresh."""
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
    if settings is not None:
        republish(engine, settings, item)
        if current is not None and current > now and until != current:
            _tell_trusted(settings, engine, item, until, actor, now)
    return item


def _tell_trusted(
    settings: Settings, engine: Engine, item: Item, until: datetime | None, who: Who, now: datetime
) -> None:
    """When the item went out under embargo (digest.embargo), the copies not sent yet carry
    the new time and everyone it reached hears of the change at once; audited."""
    from digest.actions.delivery import send
    from digest.embargo import embargo_changed
    from digest.render import lift_times

    if until is None:
        notice = "Embargo lifted early: public now"
    else:
        local, utc = lift_times(settings, until)
        notice = f"Embargo moved to {local} ({utc})"
    mailing = embargo_changed(engine, settings, item, until or now, notice, now)
    if mailing is not None:
        audit(engine, who, "embargo notice", f"{item.title}: {notice} (mailing {mailing.id})", now)
        send(engine, settings, mailing.id)


def republish(engine: Engine, settings: Settings, item: Item) -> None:
    """Write again the feeds and pages an item is on (its type's, the all-items ones, its
    own page: removed when it is no longer public)."""
    from digest.actions.publish import publish_feeds

    pages = [item.page] if item.page else []
    publish_feeds(engine, settings, changed_types={None, item.type}, pages=pages)


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


def amend_item(
    engine: Engine,
    item_key: str,
    title: str | None,
    summary: str | None,
    note: str,
    who: Who,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> list[dict[str, str]]:
    """Correct an item's title and/or summary (None: leave it), with a note saying what
    was wrong: the old and new text, who and when are kept and shown on the item page,
    the feeds show the entry as updated (same id), the next digest lists the note, the
    correction email shows the amended text. The staff text stays until the source itself
    changes that field. With `settings`, the pages and feeds are written again at once."""
    now = now or utc_now()
    item = item_for(engine, item_key)
    if not note.strip():
        raise DigestError("a correction needs a note saying what was wrong (--note)")
    if title is not None and not title.strip():
        raise DigestError("the corrected title is empty; give the whole new title")
    changes = {
        name: text for name, text in (("title", title), ("summary", summary)) if text is not None
    }
    actor = require(who, "prepare")
    made = amend_item_text(engine, item.key, changes, note, actor.name, now)
    if not made:
        raise DigestError(
            f"{item.title!r}: the corrected text is the same as the item's; nothing changed "
            "(to add a note only: digest items correct ITEM --note …)"
        )
    fields = " and ".join(change["field"] for change in made)
    audit(engine, actor, "correction", f"{item.title}: {fields} amended: {note.strip()}", now)
    if settings is not None:
        republish(engine, settings, item)
    return made


def already_sent(settings: Settings, engine: Engine, item_key: str) -> str | None:
    """Why an item's alert is not sent again, when it already went out: when and to how
    many ("already sent at Mon 23 Nov 2026, 14:00 CET, to 3 recipients (mailing 4)")."""
    summary = alert_sent_summary(engine, item_key)
    if summary is None:
        return None
    mailing, at, count = summary
    local = at.astimezone(settings.timezone)
    return (
        f"already sent at {local:%a %d %b %Y, %H:%M %Z}, to {count} "
        f"recipient{'s' if count != 1 else ''} (mailing {mailing.id})"
    )


def find_items(engine: Engine, query: str = "", limit: int = 50) -> list[Item]:
    """The latest items (embargoed ones too) whose title, summary, type or address holds
    every word of `query` (case ignored), newest first: the console's item picker."""
    words = query.casefold().split()[:10]
    if not words:
        return latest_items(engine, None, limit, public=False)
    found = []
    for item in latest_items(engine, None, 2000, public=False):
        text = " ".join([item.title, item.summary or "", item.type or "", item.url or ""])
        if all(word in text.casefold() for word in words):
            found.append(item)
            if len(found) >= limit:
                break
    return found
