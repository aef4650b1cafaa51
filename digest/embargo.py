"""Sends under embargo: an item still embargoed goes to trusted contacts only (all of them or
one named group), each with a private link of their own; what those links are (revoked or
not, when opened), the notices when the embargo changes, the private pages and feeds.

Nothing here makes an item public: the private page and feed answer only a signed token
whose link the store still holds, and only until the lift (store.publishable stays the one
gate for everything public)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, and_, func, literal, select
from sqlalchemy.sql.elements import ColumnElement

from digest.config import Settings
from digest.links import item_page, item_page_url, private_feed_link, private_link
from digest.mailings import (
    AWAITING,
    CANCELLED,
    HELD,
    SCHEDULED,
    UNDER_EMBARGO,
    Mailing,
    cancel,
    create_deliveries,
    find_mailing,
    get_mailing,
    store_mailing,
)
from digest.model import Item
from digest.render import Rendered, embargo_subject, lift_times, render_embargoed
from digest.store import (
    deliveries,
    embargo_links,
    item_from_row,
    items,
    mailing_bodies,
    mailing_items,
    mailings,
    subscribers,
    with_articles,
)

SEND, NOTICE = UNDER_EMBARGO  # the kinds of mailing: the send, a notice of a change


def trusted(group: str | None = None) -> ColumnElement[bool]:
    """Active contacts an admin marked as trusted with embargoed material (of one named
    group, letter case ignored, when given)."""
    condition = and_(subscribers.c.status == "active", subscribers.c.embargo.is_(True))
    if group:
        cell = func.lower(literal("; ") + subscribers.c.press_groups + literal(";"))
        wanted = "; " + group.strip().casefold().replace("\\", "") + ";"
        escaped = wanted.replace("%", "\\%").replace("_", "\\_")
        condition = and_(condition, cell.like(f"%{escaped}%", escape="\\"))
    return condition


def trusted_count(engine: Engine, group: str | None = None) -> int:
    """How many contacts a send under embargo (to one group, when given) would reach."""
    with engine.connect() as conn:
        return conn.execute(select(func.count()).where(trusted(group))).scalar_one()


def group_names(engine: Engine) -> list[str]:
    """The named groups of trusted contacts, sorted (letter case ignored)."""
    from digest.subscribers import split_groups

    query = select(subscribers.c.press_groups).where(trusted()).distinct()
    with engine.connect() as conn:
        cells = conn.execute(query).scalars().all()
    names = {name.casefold(): name for cell in cells for name in split_groups(cell)}
    return [names[key] for key in sorted(names)]


def send_ident(item: Item) -> str:
    return f"{SEND}:{item.key}"


def create_send(
    engine: Engine,
    settings: Settings,
    item: Item,
    lift: datetime,
    now: datetime,
    status: str,
    send_after: datetime | None,
    requested_by: str,
    group: str | None = None,
) -> Mailing:
    """The send under embargo of an item, once: one body (the alert's item block, full text
    when its page was read, the lift time, the terms, a private link per recipient), one
    delivery and one private link per trusted contact; held deliveries while it waits for
    approval or its undo window."""
    if (existing := find_mailing(engine, send_ident(item))) is not None:
        return existing
    recipients = trusted(group)
    (full,) = with_articles(engine, [item])
    held = HELD if status in (AWAITING, SCHEDULED) else None
    with engine.begin() as conn:
        item_id = conn.execute(select(items.c.id).where(items.c.key == item.key)).scalar_one()
        mailing_id = conn.execute(
            mailings.insert().values(
                kind=SEND,
                ident=send_ident(item),
                item_key=item.key,
                subject=embargo_subject(settings, item, lift),
                status=status,
                created=now,
                send_after=send_after,
                requested_by=requested_by,
            )
        ).inserted_primary_key[0]
        conn.execute(mailing_items.insert().values(mailing_id=mailing_id, item_id=item_id))
        body = render_embargoed(settings, full, lift, mailing_id)
        conn.execute(mailing_bodies.insert().values(mailing_id=mailing_id, **_body(body, SEND)))
        create_deliveries(conn, mailing_id, [SEND], recipients, now, SEND, held)
        reached = select(
            deliveries.c.mailing_id, deliveries.c.subscriber_id, literal(item_id), literal(0)
        ).where(deliveries.c.mailing_id == mailing_id)
        conn.execute(
            embargo_links.insert().from_select(
                ["mailing_id", "subscriber_id", "item_id", "opens"], reached
            )
        )
    mailing = get_mailing(engine, mailing_id)
    assert mailing is not None
    return mailing


def _body(body: Rendered, key: str) -> dict[str, str]:
    return {"types_key": key, "subject": body.subject, "html": body.html, "text": body.text}


def send_of(engine: Engine, item_key: str) -> Mailing | None:
    """The item's send under embargo that was not cancelled, if any."""
    query = select(mailings.c.id).where(
        mailings.c.kind == SEND, mailings.c.item_key == item_key, mailings.c.status != CANCELLED
    )
    with engine.connect() as conn:
        found = conn.execute(query.order_by(mailings.c.id.desc())).scalar()
    return get_mailing(engine, found) if found is not None else None


def embargo_changed(
    engine: Engine, settings: Settings, item: Item, lift: datetime, notice: str, now: datetime
) -> Mailing | None:
    """The embargo of an item sent under embargo moved or ended: the copies not sent yet
    carry the new time, and everyone the send reached gets a notice now (`notice` says what
    happened: "Embargo moved", "Embargo lifted"). None when nobody was reached yet; a send
    still waiting (undo window, approval) when the embargo ends is cancelled."""
    send = send_of(engine, item.key)
    if send is None:
        return None
    if lift <= now and send.status in (AWAITING, SCHEDULED):
        cancel(engine, send.id, now)  # public now: what had not gone need not go
        return None
    (full,) = with_articles(engine, [item])
    with engine.begin() as conn:
        conn.execute(
            mailing_bodies.update()
            .where(mailing_bodies.c.mailing_id == send.id)
            .values(**_body(render_embargoed(settings, full, lift, send.id), SEND))
        )
        conn.execute(
            mailings.update()
            .where(mailings.c.id == send.id)
            .values(subject=embargo_subject(settings, item, lift))
        )
    reached = select(deliveries.c.subscriber_id).where(
        deliveries.c.mailing_id == send.id, deliveries.c.status == "sent"
    )
    recipients = and_(subscribers.c.id.in_(reached), subscribers.c.status == "active")
    with engine.connect() as conn:
        if not conn.execute(select(func.count()).where(recipients)).scalar_one():
            return None
    body = render_embargoed(settings, full, lift, send.id, notice)
    values = {
        "kind": NOTICE,
        "ident": f"{NOTICE}:{send.id}:{now.isoformat()}",
        "item_key": item.key,
        "subject": body.subject,
        "status": "sending",
        "created": now,
    }
    return store_mailing(engine, values, [], {NOTICE: body}, recipients, now, NOTICE)


@dataclass(frozen=True)
class Opened:
    """What a private link leads to now: the item (before the lift), the public page (after
    it), or nothing (no such link, or revoked)."""

    item: Item | None = None
    public_url: str | None = None
    lift: datetime | None = None
    email: str = ""
    first: bool = False


def open_link(
    engine: Engine, settings: Settings, mailing_id: int, subscriber_id: int, now: datetime
) -> Opened:
    """Follow one recipient's private link (its token already verified): before the lift
    the item, and the open is counted (when, how often; no address kept); after it the
    public page; a revoked or unknown link, or one of a send that never went, nothing."""
    link = and_(
        embargo_links.c.mailing_id == mailing_id, embargo_links.c.subscriber_id == subscriber_id
    )
    query = (
        select(items, embargo_links.c.revoked_at, embargo_links.c.first_opened, subscribers.c.email)
        .join(embargo_links, embargo_links.c.item_id == items.c.id)
        .join(subscribers, subscribers.c.id == embargo_links.c.subscriber_id)
        .join(deliveries, and_(deliveries.c.mailing_id == mailing_id,
                               deliveries.c.subscriber_id == subscriber_id))
        .where(link, deliveries.c.status == "sent", embargo_links.c.revoked_at.is_(None))
    )  # fmt: skip
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return Opened()
    item = item_from_row(row)
    if row.embargo_until is None or row.embargo_until <= now:
        return Opened(public_url=item_page_url(settings, item_page(item)))
    with engine.begin() as conn:
        conn.execute(
            embargo_links.update()
            .where(link)
            .values(
                opens=embargo_links.c.opens + 1,
                first_opened=func.coalesce(embargo_links.c.first_opened, now),
                last_opened=now,
            )
        )
    (full,) = with_articles(engine, [item])
    return Opened(full, lift=row.embargo_until, email=row.email, first=row.first_opened is None)


def revoke(engine: Engine, mailing_id: int, email: str, by: str, now: datetime) -> bool:
    """Revoke one recipient's private link of an embargoed send; False when that send has
    no link for the address, or it was revoked already."""
    person = select(subscribers.c.id).where(func.lower(subscribers.c.email) == email.lower())
    with engine.begin() as conn:
        done = conn.execute(
            embargo_links.update()
            .where(
                embargo_links.c.mailing_id == mailing_id,
                embargo_links.c.subscriber_id.in_(person),
                embargo_links.c.revoked_at.is_(None),
            )
            .values(revoked_at=now, revoked_by=by)
        )
    return bool(done.rowcount)


@dataclass(frozen=True)
class Recipient:
    """One recipient of an embargoed send, as the accountability view shows them."""

    email: str
    name: str
    outlet: str
    delivery: str
    sent_at: datetime | None
    first_opened: datetime | None
    last_opened: datetime | None
    opens: int
    revoked_at: datetime | None
    revoked_by: str | None


def recipients_of(engine: Engine, mailing_id: int) -> list[Recipient]:
    """Who an embargoed send went to, whether their private link was opened and when,
    and whether it was revoked (by whom)."""
    query = (
        select(
            subscribers.c.email, subscribers.c.name, subscribers.c.outlet,
            deliveries.c.status, deliveries.c.sent_at, embargo_links.c.first_opened,
            embargo_links.c.last_opened, embargo_links.c.opens, embargo_links.c.revoked_at,
            embargo_links.c.revoked_by,
        )
        .join(subscribers, subscribers.c.id == embargo_links.c.subscriber_id)
        .join(deliveries, and_(deliveries.c.mailing_id == embargo_links.c.mailing_id,
                               deliveries.c.subscriber_id == embargo_links.c.subscriber_id))
        .where(embargo_links.c.mailing_id == mailing_id)
        .order_by(subscribers.c.email)
    )  # fmt: skip
    with engine.connect() as conn:
        return [Recipient(*row) for row in conn.execute(query)]


def sends(engine: Engine, limit: int = 50) -> list[Mailing]:
    """The latest sends under embargo, newest first."""
    query = select(mailings.c.id).where(mailings.c.kind == SEND)
    with engine.connect() as conn:
        ids = conn.execute(query.order_by(mailings.c.id.desc()).limit(limit)).scalars().all()
    return [m for i in ids if (m := get_mailing(engine, i)) is not None]


def feed_entries(
    engine: Engine, subscriber_id: int, now: datetime
) -> tuple[str, list[tuple[Item, int]]] | None:
    """A trusted journalist's private feed: their address, and the items sent to them under
    embargo that are still embargoed (with the send's id, for their private link), newest
    first. None when the address is not (or no longer) trusted."""
    person = select(subscribers.c.email).where(subscribers.c.id == subscriber_id, trusted())
    query = (
        select(items, embargo_links.c.mailing_id)
        .join(embargo_links, embargo_links.c.item_id == items.c.id)
        .join(deliveries, and_(deliveries.c.mailing_id == embargo_links.c.mailing_id,
                               deliveries.c.subscriber_id == subscriber_id))
        .where(embargo_links.c.subscriber_id == subscriber_id, deliveries.c.status == "sent",
               embargo_links.c.revoked_at.is_(None), items.c.embargo_until > now)
        .order_by(items.c.published.desc(), items.c.id.desc())
    )  # fmt: skip
    with engine.connect() as conn:
        email = conn.execute(person).scalar()
        if email is None:
            return None
        rows = conn.execute(query).all()
    found = with_articles(engine, [item_from_row(row) for row in rows])
    return email, [(item, row.mailing_id) for item, row in zip(found, rows, strict=True)]


def render_private_page(settings: Settings, opened: Opened, mailing_id: int, sid: int) -> bytes:
    """One recipient's private page of an embargoed item: the lift time (newsroom zone and
    UTC), the terms, the item with its full text and documents; never indexed."""
    from digest.site import render_page

    assert opened.item is not None and opened.lift is not None
    local, utc = lift_times(settings, opened.lift)
    return render_page(
        settings,
        "embargoed.html",
        item=opened.item,
        lift_local=local,
        lift_utc=utc,
        terms=settings.breaking.embargo_terms,
        feed=private_feed_link(settings, sid),
    )


def render_private_feed(
    settings: Settings, subscriber_id: int, email: str, entries: Sequence[tuple[Item, int]]
) -> bytes:
    """A trusted journalist's private Atom feed: each embargoed item sent to them, linking
    to their private page, with the lift time and the terms."""
    from feedgen.feed import FeedGenerator

    feed = FeedGenerator()
    feed.id(f"tag:{settings.tag_authority},{settings.tag_date}:embargoed/{subscriber_id}")
    feed.title(f"{settings.newsroom_name}: under embargo, for {email}")
    feed.link(href=private_feed_link(settings, subscriber_id), rel="self")
    feed.author({"name": settings.newsroom_name})
    feed.language(settings.language)
    for item, mailing_id in reversed(entries):
        entry = feed.add_entry()
        assert item.embargo_until is not None
        local, utc = lift_times(settings, item.embargo_until)
        entry.id(f"tag:{settings.tag_authority},{settings.tag_date}:embargoed/{mailing_id}")
        entry.title(f"{embargo_subject(settings, item, item.embargo_until)}")
        entry.link(href=private_link(settings, mailing_id, subscriber_id))
        entry.published(item.published)
        entry.updated(item.updated or item.published)
        text = item.article.body_text if item.article else (item.summary or "")
        entry.summary(f"Under embargo until {local} ({utc}). {settings.breaking.embargo_terms}")
        if text:
            entry.content(text, type="text")
    return feed.atom_str(pretty=True)
