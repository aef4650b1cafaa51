"""Mailings: what to send and to whom. A mailing is a row identified by its period (a weekly
digest) or its item (a breaking alert); creating it twice returns the first. Its bodies are
rendered once per distinct set of chosen types, and it gets one delivery row per recipient,
created in the database with one INSERT … SELECT so the list is never loaded into memory."""

from __future__ import annotations

import time as timer
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine, and_, exists, func, literal, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from digest.config import Settings
from digest.model import ALL_TYPES, Item, Subscriber
from digest.render import (
    Rendered,
    breaking_subject,
    render_breaking,
    render_correction,
    render_weekly,
    render_welcome,
    weekly_subject,
)
from digest.store import (
    UTCDateTime,
    corrections,
    deliveries,
    item_from_row,
    items,
    mailing_bodies,
    mailing_items,
    mailings,
    publishable,
    subscribers,
    with_articles,
)

EMPTY, SENDING, DONE = "empty", "sending", "done"
AWAITING, SCHEDULED, PAUSED, CANCELLED = "awaiting approval", "scheduled", "paused", "cancelled"
HELD = "held"
# The sender found the relay down: deliveries wait, no attempt spent (digest.sender).
RELAY_WAIT = "waiting for relay"


@dataclass(frozen=True)
class Mailing:
    """A mailing as stored."""

    id: int
    kind: str
    ident: str
    subject: str
    status: str
    item_key: str | None
    period_start: datetime | None
    period_end: datetime | None
    created: datetime
    send_after: datetime | None = None
    requested_by: str | None = None
    approved_by: str | None = None
    paused_by: str | None = None
    paused_at: datetime | None = None


def _mailing(row: Any) -> Mailing:
    return Mailing(
        id=row.id,
        kind=row.kind,
        ident=row.ident,
        subject=row.subject,
        status=row.status,
        item_key=row.item_key,
        period_start=row.period_start,
        period_end=row.period_end,
        created=row.created,
        send_after=row.send_after,
        requested_by=row.requested_by,
        approved_by=row.approved_by,
        paused_by=row.paused_by,
        paused_at=row.paused_at,
    )


def find_mailing(engine: Engine, ident: str) -> Mailing | None:
    """The mailing with this identity, if it was created."""
    with engine.connect() as conn:
        row = conn.execute(select(mailings).where(mailings.c.ident == ident)).first()
        return _mailing(row) if row else None


def weekly_ident(as_of: date) -> str:
    return f"weekly:{as_of.isoformat()}"


def breaking_ident(item: Item) -> str:
    return f"breaking:{item.key}"


@dataclass(frozen=True)
class CorrectionEntry:
    """A correction as a digest lists it."""

    id: int
    title: str
    url: str | None
    note: str
    at: datetime


@dataclass(frozen=True)
class WeeklyPlan:
    """What a digest (weekly or daily) as of a day would hold, before anything is stored:
    its items, which of them already went out as breaking alerts, and the corrections
    to list."""

    ident: str
    period_start: datetime
    period_end: datetime
    items: list[Item]
    item_ids: list[int]
    alerted: frozenset[str] = frozenset()
    corrections: tuple[CorrectionEntry, ...] = ()
    kind: str = "weekly"


def weekly_period_end(settings: Settings, as_of: date) -> datetime:
    return datetime.combine(as_of + timedelta(days=1), time(0), tzinfo=settings.timezone)


def daily_period_end(settings: Settings, as_of: date) -> datetime:
    at = time(settings.cadence.daily_hour, settings.cadence.daily_minute)
    return datetime.combine(as_of, at, tzinfo=settings.timezone)


def daily_ident(as_of: date) -> str:
    return f"daily:{as_of.isoformat()}"


def plan_weekly(
    engine: Engine, settings: Settings, as_of: date, now: datetime | None = None
) -> WeeklyPlan:
    """The items a weekly digest as of `as_of` covers: dated up to the end of that day and
    in no earlier weekly digest, back to `lookback_days` before the previous digest's day
    (or before this one's, for the first digest): a skipped week loses nothing, and an
    item that turns up late with an earlier date still goes out once.
    Once the digest is created, its plan is what it holds."""
    return plan_digest(engine, settings, "weekly", as_of, now)


def _listed_in(kind: str) -> Any:
    """The column that says which digest of this cadence listed a correction."""
    return corrections.c.digest_mailing_id if kind == "weekly" else corrections.c.daily_mailing_id


def plan_digest(
    engine: Engine, settings: Settings, kind: str, as_of: date, now: datetime | None = None
) -> WeeklyPlan:
    """The plan of a weekly or daily digest as of a day (see plan_weekly)."""
    now = now or datetime.now(UTC)
    if kind == "weekly":
        ident, period_end = weekly_ident(as_of), weekly_period_end(settings, as_of)
    else:
        ident, period_end = daily_ident(as_of), daily_period_end(settings, as_of)
    lookback = timedelta(days=settings.email.lookback_days)
    with engine.connect() as conn:
        created = conn.execute(
            select(mailings.c.id, mailings.c.period_start).where(mailings.c.ident == ident)
        ).first()
        if created is not None:
            start = created.period_start
            query = (
                select(items)
                .join(mailing_items, mailing_items.c.item_id == items.c.id)
                .where(mailing_items.c.mailing_id == created.id)
            )
            listed = _listed_in(kind) == created.id
        else:
            previous = conn.execute(
                select(func.max(mailings.c.period_end)).where(
                    mailings.c.kind == kind, mailings.c.period_end < period_end
                )
            ).scalar()
            start = (previous or period_end) - lookback
            already = (
                select(mailing_items.c.item_id)
                .join(mailings, mailings.c.id == mailing_items.c.mailing_id)
                .where(mailings.c.kind == kind)
            )
            query = select(items).where(
                items.c.published >= start,
                items.c.published < period_end,
                items.c.id.not_in(already),
                publishable(now),
            )
            listed = and_(_listed_in(kind).is_(None), corrections.c.at < now)
        rows = conn.execute(query.order_by(items.c.published.desc(), items.c.id.desc())).all()
        alerted = set(
            conn.execute(
                select(mailings.c.item_key).where(
                    mailings.c.kind == "breaking",
                    mailings.c.status.in_((SENDING, PAUSED, RELAY_WAIT, DONE)),
                    mailings.c.item_key.in_([row.key for row in rows]),
                )
            ).scalars()
        )
        fixes = list(
            conn.execute(
                select(corrections, items.c.title, items.c.url)
                .join(items, items.c.id == corrections.c.item_id)
                .where(listed, publishable(now))
                .order_by(corrections.c.at, corrections.c.id)
            )
        )
    return WeeklyPlan(
        ident=ident,
        period_start=start,
        period_end=period_end,
        items=with_articles(engine, [item_from_row(row) for row in rows]),
        item_ids=[row.id for row in rows],
        alerted=frozenset(alerted),
        corrections=tuple(
            CorrectionEntry(row.id, row.title, row.url, row.note, row.at) for row in fixes
        ),
        kind=kind,
    )


def _weekly_recipients() -> ColumnElement[bool]:
    return _digest_recipients("weekly")


def _digest_recipients(kind: str) -> ColumnElement[bool]:
    """Active subscribers who get digests, at this cadence."""
    return and_(
        subscribers.c.status == "active",
        subscribers.c.weekly.is_(True),
        subscribers.c.cadence == kind,
    )


def _breaking_recipients(item_type: str | None) -> ColumnElement[bool]:
    wanted = subscribers.c.types_key == ALL_TYPES
    if item_type is not None:
        wanted = or_(wanted, ("," + subscribers.c.types_key + ",").like(f"%,{item_type},%"))
    return and_(subscribers.c.status == "active", subscribers.c.breaking.is_(True), wanted)


def count_recipients(engine: Engine, condition: ColumnElement[bool]) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).where(condition)).scalar_one()


def weekly_recipient_count(engine: Engine) -> int:
    """How many subscribers get the weekly digest (before matching their types)."""
    return count_recipients(engine, _weekly_recipients())


def breaking_recipient_count(engine: Engine, item: Item) -> int:
    """How many subscribers a breaking alert for this item goes to (not those its send
    under embargo reached, as create_breaking leaves them out)."""
    reached = subscribers.c.id.not_in(embargo_reached(item.key))
    return count_recipients(engine, and_(_breaking_recipients(item.type), reached))


def create_weekly(engine: Engine, settings: Settings, as_of: date, now: datetime) -> Mailing:
    """Create the weekly digest as of a day, or return the one already created. An empty
    period is recorded as an `empty` mailing with no deliveries."""
    return create_digest(engine, settings, "weekly", as_of, now)


def create_digest(
    engine: Engine, settings: Settings, kind: str, as_of: date, now: datetime
) -> Mailing:
    """Create the weekly or daily digest as of a day, once; items already sent as alerts
    are listed apart (or left out), and corrections not yet listed at this cadence are."""
    ident = weekly_ident(as_of) if kind == "weekly" else daily_ident(as_of)
    if (existing := find_mailing(engine, ident)) is not None:
        return existing
    plan = plan_digest(engine, settings, kind, as_of, now)
    recipients = _digest_recipients(kind)
    keys = _types_keys(engine, recipients)
    bodies = {key: body for key in keys if (body := render_plan(settings, plan, key)) is not None}
    subject = weekly_subject(settings, plan.items, as_of, ALL_TYPES, kind, plan.alerted)
    values = {
        "kind": kind,
        "ident": ident,
        "period_start": plan.period_start,
        "period_end": plan.period_end,
        "subject": subject or "",
        "status": SENDING if plan.items else EMPTY,
        "created": now,
    }
    listed = [entry.id for entry in plan.corrections] if plan.items else []

    def list_corrections(conn: Connection, mailing_id: int) -> None:
        if listed:
            conn.execute(
                corrections.update()
                .where(corrections.c.id.in_(listed), _listed_in(kind).is_(None))
                .values({_listed_in(kind): mailing_id})
            )

    return _store_mailing(
        engine, values, plan.item_ids, bodies, recipients, now, after=list_corrections
    )


def render_plan(settings: Settings, plan: WeeklyPlan, types_key: str) -> Rendered | None:
    """A digest plan rendered for readers of `types_key` (None when nothing is theirs)."""
    as_of = (plan.period_end - timedelta(seconds=1)).astimezone(settings.timezone).date()
    if plan.kind == "daily":
        as_of = plan.period_end.astimezone(settings.timezone).date()
    return render_weekly(
        settings,
        plan.items,
        as_of,
        types_key,
        alerted=plan.alerted,
        corrections=plan.corrections,
        kind=plan.kind,
    )


def create_breaking(
    engine: Engine,
    settings: Settings,
    item: Item,
    now: datetime,
    status: str = SENDING,
    send_after: datetime | None = None,
    requested_by: str | None = None,
) -> Mailing:
    """Create the breaking alert for one item, or return the one already created; it carries
    what the item's page holds (full text, photo, documents, press contact). A held alert
    (awaiting approval, or scheduled) gets its deliveries as `held` rows that no sender
    claims until the clock releases them."""
    ident = breaking_ident(item)
    if (existing := find_mailing(engine, ident)) is not None:
        return existing
    if item.article is None:
        item = with_articles(engine, [item])[0]
    condition = and_(
        _breaking_recipients(item.type), subscribers.c.id.not_in(embargo_reached(item.key))
    )
    bodies = {key: render_breaking(settings, item, key) for key in _types_keys(engine, condition)}
    with engine.connect() as conn:
        row = conn.execute(
            select(items.c.id, items.c.embargo_until).where(items.c.key == item.key)
        ).one()
    item_id = row.id
    if row.embargo_until is not None and row.embargo_until > now:
        send_after = max(send_after or row.embargo_until, row.embargo_until)
        status = SCHEDULED if status == SENDING else status
    values = {
        "kind": "breaking",
        "ident": ident,
        "item_key": item.key,
        "subject": breaking_subject(settings, item),
        "status": status,
        "created": now,
        "send_after": send_after,
        "requested_by": requested_by,
    }
    held = status in (AWAITING, SCHEDULED)
    return _store_mailing(
        engine, values, [item_id], bodies, condition, now, delivery_status=HELD if held else None
    )


def _types_keys(engine: Engine, condition: ColumnElement[bool]) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(select(subscribers.c.types_key).where(condition).distinct()).scalars()
        )


def _store_mailing(
    engine: Engine,
    values: dict[str, Any],
    item_ids: Sequence[int],
    bodies: dict[str, Rendered],
    recipients: ColumnElement[bool],
    now: datetime,
    body_key: str | None = None,
    delivery_status: str | None = None,
    after: Callable[[Connection, int], None] | None = None,
) -> Mailing:
    try:
        with engine.begin() as conn:
            mailing_id = conn.execute(mailings.insert().values(**values)).inserted_primary_key[0]
            if item_ids:
                conn.execute(
                    mailing_items.insert(),
                    [{"mailing_id": mailing_id, "item_id": item_id} for item_id in item_ids],
                )
            if values["status"] != EMPTY and bodies:
                conn.execute(
                    mailing_bodies.insert(),
                    [
                        {
                            "mailing_id": mailing_id,
                            "types_key": key,
                            "subject": body.subject,
                            "html": body.html,
                            "text": body.text,
                        }
                        for key, body in bodies.items()
                    ],
                )
                _create_deliveries(
                    conn, mailing_id, list(bodies), recipients, now, body_key, delivery_status
                )
            if after is not None:
                after(conn, mailing_id)
    except IntegrityError:
        existing = find_mailing(engine, values["ident"])
        if existing is None:
            raise
        return existing
    mailing = find_mailing(engine, values["ident"])
    assert mailing is not None
    return mailing


def _create_deliveries(
    conn: Connection,
    mailing_id: int,
    types_keys: list[str],
    recipients: ColumnElement[bool],
    now: datetime,
    body_key: str | None = None,
    status: str | None = None,
) -> None:
    """One delivery per recipient, each pointing at the body for its chosen types (or at
    `body_key` for every recipient); `pending`, or `held` for a mailing not yet due."""
    columns = [
        "mailing_id",
        "subscriber_id",
        "email",
        "name",
        "types_key",
        "status",
        "attempts",
        "next_attempt",
    ]
    chosen = select(
        literal(mailing_id),
        subscribers.c.id,
        subscribers.c.email,
        subscribers.c.name,
        literal(body_key) if body_key else subscribers.c.types_key,
        literal(status or "pending"),
        literal(0),
        literal(now, UTCDateTime),
    ).where(recipients)
    if body_key is None:
        chosen = chosen.where(subscribers.c.types_key.in_(types_keys))
    conn.execute(deliveries.insert().from_select(columns, chosen))


# The shared steps of storing a mailing, for the other kinds (digest.embargo).
store_mailing = _store_mailing
create_deliveries = _create_deliveries


def mailing_body(engine: Engine, mailing_id: int, types_key: str) -> Rendered:
    """A rendered body of a mailing."""
    with engine.connect() as conn:
        row = conn.execute(
            select(mailing_bodies).where(
                mailing_bodies.c.mailing_id == mailing_id, mailing_bodies.c.types_key == types_key
            )
        ).one()
    return Rendered(subject=row.subject, html=row.html, text=row.text)


def delivery_counts(engine: Engine, mailing_id: int) -> dict[str, int]:
    """Deliveries of a mailing by status."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(deliveries.c.status, func.count())
            .where(deliveries.c.mailing_id == mailing_id)
            .group_by(deliveries.c.status)
        )
        return {status: count for status, count in rows}


def finish_mailings(engine: Engine) -> None:
    """Mark sending mailings whose deliveries are all sent or failed as done."""
    open_deliveries = exists().where(
        deliveries.c.mailing_id == mailings.c.id,
        deliveries.c.status.in_(("pending", "sending")),
    )
    with engine.begin() as conn:
        conn.execute(
            mailings.update()
            .where(mailings.c.status == SENDING, ~open_deliveries)
            .values(status=DONE)
        )


def create_confirmation(
    engine: Engine, settings: Settings, subscriber_id: int, body: Rendered, now: datetime
) -> Mailing:
    """A one-recipient mailing carrying a subscriber's confirmation link, sent through the
    same engine as everything else (so it is retried, recorded and never doubled)."""
    values = {
        "kind": "confirm",
        "ident": f"confirm:{subscriber_id}:{now.isoformat()}",
        "subject": body.subject,
        "status": SENDING,
        "created": now,
    }
    recipient = subscribers.c.id == subscriber_id
    return _store_mailing(engine, values, [], {"confirm": body}, recipient, now, "confirm")


@dataclass(frozen=True)
class MailingProgress:
    """A mailing and where its deliveries stand."""

    mailing: Mailing
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def recent_mailings(
    engine: Engine, limit: int = 20, exclude: Sequence[str] = ()
) -> list[MailingProgress]:
    """The newest mailings (but those of the `exclude` kinds) with their delivery counts
    by status."""
    query = select(mailings).where(mailings.c.kind.not_in(exclude)) if exclude else select(mailings)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(mailings.c.id.desc()).limit(limit)).all()
        ids = [row.id for row in rows]
        counts: dict[int, dict[str, int]] = {mailing_id: {} for mailing_id in ids}
        for mailing_id, status, count in conn.execute(
            select(deliveries.c.mailing_id, deliveries.c.status, func.count())
            .where(deliveries.c.mailing_id.in_(ids))
            .group_by(deliveries.c.mailing_id, deliveries.c.status)
        ):
            counts[mailing_id][status] = count
    return [MailingProgress(_mailing(row), counts[row.id]) for row in rows]


def mailing_progress(engine: Engine, mailing_id: int) -> MailingProgress | None:
    """One mailing and its delivery counts."""
    with engine.connect() as conn:
        row = conn.execute(select(mailings).where(mailings.c.id == mailing_id)).first()
    if row is None:
        return None
    return MailingProgress(_mailing(row), delivery_counts(engine, mailing_id))


class MailingStateError(Exception):
    """A mailing is not in a state that allows what was asked (the message says why)."""


def get_mailing(engine: Engine, mailing_id: int) -> Mailing | None:
    """The mailing with this id."""
    with engine.connect() as conn:
        row = conn.execute(select(mailings).where(mailings.c.id == mailing_id)).first()
        return _mailing(row) if row else None


def _item_publishable(now: datetime) -> ColumnElement[bool]:
    """A held mailing may go when it carries no item or its item is publishable now; a send
    under embargo (to trusted contacts only) goes only before, and a notice of a change any
    time."""
    gated = select(items.c.key).where(publishable(now))
    send, notice = UNDER_EMBARGO
    return or_(
        mailings.c.item_key.is_(None),
        mailings.c.kind == notice,
        and_(mailings.c.kind == send, mailings.c.item_key.not_in(gated)),
        and_(mailings.c.kind != send, mailings.c.item_key.in_(gated)),
    )


UNDER_EMBARGO = ("embargo", "embargo-notice")  # digest.embargo's kinds: send, notice


def embargo_reached(item_key: str) -> Any:
    """The contacts an item's send under embargo (digest.embargo) reached or will reach:
    its ordinary alert does not go to them again."""
    return (
        select(deliveries.c.subscriber_id)
        .join(mailings, mailings.c.id == deliveries.c.mailing_id)
        .where(
            mailings.c.kind == UNDER_EMBARGO[0],
            mailings.c.item_key == item_key,
            deliveries.c.status != CANCELLED,
        )
    )


def release_due(engine: Engine, now: datetime, mailing_id: int | None = None) -> list[int]:
    """Turn scheduled mailings whose time has come (and whose item is no longer under
    embargo) into sending ones: their held deliveries become pending, except for
    recipients who left the list in the meantime. Returns the released mailings' ids."""
    due = and_(
        mailings.c.status == SCHEDULED,
        or_(mailings.c.send_after.is_(None), mailings.c.send_after <= now),
        _item_publishable(now),
    )
    if mailing_id is not None:
        due = and_(due, mailings.c.id == mailing_id)
    released = []
    with engine.connect() as conn:
        candidates = list(conn.execute(select(mailings.c.id, mailings.c.item_key).where(due)))
    for candidate, item_key in candidates:
        with engine.begin() as conn:
            taken = conn.execute(
                mailings.update()
                .where(mailings.c.id == candidate, mailings.c.status == SCHEDULED)
                .values(status=SENDING)
            )
            if not taken.rowcount:
                continue
            gone = select(subscribers.c.id).where(subscribers.c.status != "active")
            if item_key is not None:  # already had it under embargo
                gone = gone.union(embargo_reached(item_key).where(mailings.c.id != candidate))
            conn.execute(
                deliveries.delete().where(
                    deliveries.c.mailing_id == candidate,
                    deliveries.c.status == HELD,
                    deliveries.c.subscriber_id.in_(gone),
                )
            )
            conn.execute(
                deliveries.update()
                .where(deliveries.c.mailing_id == candidate, deliveries.c.status == HELD)
                .values(status="pending", next_attempt=now)
            )
        released.append(candidate)
    return released


def approve(
    engine: Engine, mailing_id: int, approver: str, now: datetime, undo_seconds: int
) -> Mailing:
    """Approve a mailing awaiting approval: it is scheduled for its chosen time, or for
    the end of the undo window from now, whichever is later (and released at once when
    that is now). The requester cannot approve their own."""
    mailing = get_mailing(engine, mailing_id)
    if mailing is None:
        raise MailingStateError(f"no mailing {mailing_id}")
    if mailing.status != AWAITING:
        raise MailingStateError(f"mailing {mailing_id} is {mailing.status}, not awaiting approval")
    if mailing.requested_by and mailing.requested_by.casefold() == approver.casefold():
        raise MailingStateError(
            f"{approver} requested mailing {mailing_id}; someone else must approve it"
        )
    undo_end = now + timedelta(seconds=undo_seconds)
    send_after = max(mailing.send_after or undo_end, undo_end)
    with engine.begin() as conn:
        taken = conn.execute(
            mailings.update()
            .where(mailings.c.id == mailing_id, mailings.c.status == AWAITING)
            .values(status=SCHEDULED, send_after=send_after, approved_by=approver)
        )
    if not taken.rowcount:
        raise MailingStateError(f"mailing {mailing_id} changed meanwhile; look again")
    if send_after <= now:
        release_due(engine, now, mailing_id)
    result = get_mailing(engine, mailing_id)
    assert result is not None
    return result


# How long pausing or cancelling waits for a running sender to hand back what it holds
# (it re-reads the mailing's state every 0.1 s; only messages with the relay finish).
SETTLE_SECONDS = 10.0
STOPPABLE = (SENDING, RELAY_WAIT, SCHEDULED)


def cancel(engine: Engine, mailing_id: int, now: datetime | None = None) -> Mailing:
    """Cancel a mailing in any state before done: its unsent deliveries are cancelled and
    a sender holding some hands them back before its next message (only messages already
    with the relay finish). Before anything has left it is as if it was never made (a
    cancelled alert frees its item, so it can be requested again); after some went out,
    those stay recorded as sent."""
    now = now or datetime.now(UTC)
    mailing = get_mailing(engine, mailing_id)
    if mailing is None:
        raise MailingStateError(f"no mailing {mailing_id}")
    if mailing.status in (CANCELLED, DONE, EMPTY):
        raise MailingStateError(f"mailing {mailing_id} is {mailing.status}; nothing to cancel")
    with engine.begin() as conn:
        _take(conn, mailing, {"status": CANCELLED})
        mine = deliveries.c.mailing_id == mailing_id
        conn.execute(
            deliveries.update()
            .where(mine, deliveries.c.status.in_((HELD, "pending")))
            .values(status=CANCELLED, lease_until=None)
        )
        conn.execute(  # left by a sender that died: nobody will send them now
            deliveries.update()
            .where(mine, deliveries.c.status == "sending", deliveries.c.lease_until < now)
            .values(status=CANCELLED, lease_until=None)
        )
        gone = conn.execute(
            select(func.count()).where(mine, deliveries.c.status.in_(("sent", "sending")))
        ).scalar_one()
        if not gone:
            _forget(conn, mailing)
    settle(engine, mailing_id)
    result = get_mailing(engine, mailing_id)
    assert result is not None
    return result


def _take(conn: Connection, mailing: Mailing, values: dict[str, Any]) -> None:
    """Change a mailing that is still in the state it was read in; MailingStateError when
    someone (or the clock) changed it meanwhile."""
    taken = conn.execute(
        mailings.update()
        .where(mailings.c.id == mailing.id, mailings.c.status == mailing.status)
        .values(**values)
    )
    if not taken.rowcount:
        raise MailingStateError(f"mailing {mailing.id} changed meanwhile; look again")


def _forget(conn: Connection, mailing: Mailing) -> None:
    """A mailing cancelled before anything left: an alert frees its item, a digest its
    items and corrections, so they can go in another mailing."""
    ident = mailing.ident
    if mailing.kind in ("breaking", "correction", "embargo"):
        ident = f"{ident}#cancelled-{mailing.id}"
    else:
        conn.execute(mailing_items.delete().where(mailing_items.c.mailing_id == mailing.id))
        for column in (corrections.c.digest_mailing_id, corrections.c.daily_mailing_id):
            conn.execute(corrections.update().where(column == mailing.id).values({column: None}))
    conn.execute(mailings.update().where(mailings.c.id == mailing.id).values(ident=ident))


def pause(engine: Engine, mailing_id: int, who: str = "", now: datetime | None = None) -> Mailing:
    """Stop a mailing at once (sending, waiting for the relay, or scheduled): its unsent
    deliveries are held until it is resumed. A sender holding some sees it before its next
    message and hands them back, so only messages already with the relay finish; this
    waits (up to SETTLE_SECONDS) until it did."""
    now = now or datetime.now(UTC)
    mailing = get_mailing(engine, mailing_id)
    if mailing is None:
        raise MailingStateError(f"no mailing {mailing_id}")
    if mailing.status == AWAITING:
        raise MailingStateError(
            f"mailing {mailing_id} awaits approval: nothing goes before someone approves "
            "it; cancel it to drop it"
        )
    if mailing.status not in STOPPABLE:
        raise MailingStateError(f"mailing {mailing_id} is {mailing.status}; nothing to pause")
    with engine.begin() as conn:
        _take(conn, mailing, {"status": PAUSED, "paused_by": who or None, "paused_at": now})
        conn.execute(
            deliveries.update()
            .where(deliveries.c.mailing_id == mailing_id, deliveries.c.status == "pending")
            .values(status=HELD)
        )
    settle(engine, mailing_id)
    result = get_mailing(engine, mailing_id)
    assert result is not None
    return result


def settle(engine: Engine, mailing_id: int, seconds: float = SETTLE_SECONDS) -> int:
    """Wait until no running sender holds a delivery of this mailing (it handed back its
    queue and its last messages were recorded), at most `seconds`; returns how many are
    still held."""
    deadline = timer.monotonic() + seconds
    while True:
        query = select(func.count()).where(
            deliveries.c.mailing_id == mailing_id,
            deliveries.c.status == "sending",
            deliveries.c.lease_until >= datetime.now(UTC),
        )
        with engine.connect() as conn:
            held = conn.execute(query).scalar_one()
        if not held or timer.monotonic() >= deadline:
            return held
        timer.sleep(0.05)


def resume(engine: Engine, mailing_id: int, now: datetime | None = None) -> Mailing:
    """Let a paused mailing go on where it stopped: at once, or at its time when it was
    scheduled for later (or its item is under embargo now)."""
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        taken = conn.execute(
            mailings.update()
            .where(mailings.c.id == mailing_id, mailings.c.status == PAUSED)
            .values(status=SCHEDULED, paused_by=None, paused_at=None)
        )
        if not taken.rowcount:
            raise MailingStateError(f"mailing {mailing_id} is not paused; nothing to resume")
    release_due(engine, now, mailing_id)
    result = get_mailing(engine, mailing_id)
    assert result is not None
    return result


def sent_since(engine: Engine, mailing_id: int, since: datetime) -> int:
    """How many of a mailing's messages the relay accepted from `since` on (after a pause:
    those that were already with the relay)."""
    query = select(func.count()).where(
        deliveries.c.mailing_id == mailing_id,
        deliveries.c.status == "sent",
        deliveries.c.sent_at >= since,
    )
    with engine.connect() as conn:
        return conn.execute(query).scalar_one()


def delivery_breakdown(engine: Engine, mailing_id: int) -> dict[str, int]:
    """A mailing's deliveries as the console shows them: sent, pending (not yet sent, held
    included), retrying (pending after a failed attempt), failed, held, cancelled."""
    pending_kinds = or_(
        deliveries.c.status.in_(("sending", HELD)),
        and_(deliveries.c.status == "pending", deliveries.c.attempts == 0),
    )
    query = select(
        func.count().filter(deliveries.c.status == "sent"),
        func.count().filter(pending_kinds),
        func.count().filter(and_(deliveries.c.status == "pending", deliveries.c.attempts > 0)),
        func.count().filter(deliveries.c.status == "failed"),
        func.count().filter(deliveries.c.status == HELD),
        func.count().filter(deliveries.c.status == CANCELLED),
    ).where(deliveries.c.mailing_id == mailing_id)
    with engine.connect() as conn:
        row = conn.execute(query).one()
    names = ("sent", "pending", "retrying", "failed", "held", "cancelled")
    return dict(zip(names, row, strict=True))


def create_welcome(
    engine: Engine, settings: Settings, subscriber: Subscriber, now: datetime
) -> Mailing:
    """The welcome email of a confirmed subscriber, once ever per subscriber."""
    body = render_welcome(settings, subscriber)
    values = {
        "kind": "welcome",
        "ident": f"welcome:{subscriber.id}",
        "subject": body.subject,
        "status": SENDING,
        "created": now,
    }
    recipient = and_(subscribers.c.id == subscriber.id, subscribers.c.status == "active")
    if (existing := find_mailing(engine, values["ident"])) is not None:
        return existing
    return _store_mailing(engine, values, [], {"welcome": body}, recipient, now, "welcome")


def sent_alert(engine: Engine, item_key: str) -> Mailing | None:
    """The breaking alert of an item that went out (sending, paused or done), if any."""
    query = select(mailings).where(
        mailings.c.kind == "breaking",
        mailings.c.item_key == item_key,
        mailings.c.status.in_((SENDING, PAUSED, DONE)),
    )
    with engine.connect() as conn:
        row = conn.execute(query.order_by(mailings.c.id.desc())).first()
        return _mailing(row) if row else None


def create_correction(engine: Engine, settings: Settings, item: Item, now: datetime) -> Mailing:
    """The correction email for an item's latest correction, to exactly the subscribers its
    breaking alert was sent to (those still active); once per correction. While the item is
    under embargo it is scheduled for the lift (held, as its alert would be)."""
    alert = sent_alert(engine, item.key)
    if alert is None:
        raise MailingStateError(f"{item.title!r} was not sent as a breaking alert")
    with engine.connect() as conn:
        row = conn.execute(
            select(items.c.id, items.c.embargo_until).where(items.c.key == item.key)
        ).one()
        item_id = row.id
        notes = list(
            conn.execute(
                select(corrections)
                .where(corrections.c.item_id == item_id)
                .order_by(corrections.c.at, corrections.c.id)
            ).mappings()
        )
    if not notes:
        raise MailingStateError(f"{item.title!r} has no correction yet: add a note first")
    ident = f"correction:{item.key}:{notes[-1]['id']}"
    if (existing := find_mailing(engine, ident)) is not None:
        return existing
    reached = select(deliveries.c.subscriber_id).where(
        deliveries.c.mailing_id == alert.id, deliveries.c.status == "sent"
    )
    recipients = and_(subscribers.c.id.in_(reached), subscribers.c.status == "active")
    body = render_correction(settings, item, [n["note"] for n in notes])
    values = {
        "kind": "correction",
        "ident": ident,
        "item_key": item.key,
        "subject": body.subject,
        "status": SENDING,
        "created": now,
    }
    held = None
    if row.embargo_until is not None and row.embargo_until > now:
        # like the breaking alert: held until the embargo lifts; the clock releases it
        values |= {"status": SCHEDULED, "send_after": row.embargo_until}
        held = HELD
    return _store_mailing(
        engine, values, [], {"correction": body}, recipients, now, "correction", held
    )


def alert_sent_summary(engine: Engine, item_key: str) -> tuple[Mailing, datetime, int] | None:
    """An item's breaking alert that already went out: the mailing, when it started
    leaving (its first delivery, else its send time) and how many it reached so far."""
    alert = sent_alert(engine, item_key)
    if alert is None:
        return None
    query = select(func.min(deliveries.c.sent_at), func.count()).where(
        deliveries.c.mailing_id == alert.id, deliveries.c.status == "sent"
    )
    with engine.connect() as conn:
        first, count = conn.execute(query).one()
    return alert, first or alert.send_after or alert.created, int(count)
