"""Mailings staff and the clock make: digests, breaking alerts, corrections, and the staff
decisions on them (approve, cancel, pause, resume)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email import message_from_bytes
from email.policy import default
from email.utils import make_msgid
from pathlib import Path
from typing import TYPE_CHECKING

from digest.actions.common import Actor, Forbidden, Who, as_actor, audit, require, utc_now
from digest.actions.items import already_sent, item_for
from digest.actions.notices import notify_requester, notify_senders
from digest.errors import DigestError
from digest.mailings import (
    AWAITING,
    PAUSED,
    SCHEDULED,
    SENDING,
    UNDER_EMBARGO,
    Mailing,
    MailingStateError,
    approve,
    breaking_recipient_count,
    cancel,
    create_breaking,
    create_correction,
    create_digest,
    delivery_breakdown,
    get_mailing,
    pause,
    plan_weekly,
    release_due,
    render_plan,
    resume,
    sent_since,
    weekly_recipient_count,
)
from digest.model import ALL_TYPES, Item
from digest.store import embargo_of, with_articles

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from digest.config import Settings
    from digest.render import Rendered
    from digest.transports import Transport

SAMPLE_READER = ("reader@example.org", "Sample Reader")


def weekly_digest(
    engine: Engine, settings: Settings, as_of: date, now: datetime | None = None
) -> Mailing:
    """Create (once) the weekly digest as of a day, and write its web version; sending is
    `send`."""
    from digest.mailings import create_weekly
    from digest.site import write_digest_pages

    mailing = create_weekly(engine, settings, as_of, now or utc_now())
    write_digest_pages(engine, settings)
    return mailing


def daily_digest(
    engine: Engine, settings: Settings, as_of: date, now: datetime | None = None
) -> Mailing:
    """Create (once) the daily digest of a day for subscribers who chose it; sending is
    `send`."""
    return create_digest(engine, settings, "daily", as_of, now or utc_now())


def breaking_alert(
    engine: Engine, settings: Settings, item: Item, now: datetime | None = None
) -> Mailing:
    """Create (once) the breaking alert for an item, and write its web version; sending is
    `send`."""
    from digest.site import write_digest_pages

    mailing = create_breaking(engine, settings, item, now or utc_now())
    write_digest_pages(engine, settings)
    return mailing


@dataclass(frozen=True)
class Outline:
    """What a mailing would be, before anything is stored: its subject, how many items it
    lists and how many people it would reach. An empty subject means nothing to send."""

    subject: str
    items: int
    recipients: int


def weekly_outline(
    engine: Engine, settings: Settings, as_of: date, now: datetime | None = None
) -> Outline:
    """The weekly digest as of a day as it would go out now (a dry run)."""
    from digest.render import weekly_subject

    plan = plan_weekly(engine, settings, as_of, now)
    subject = weekly_subject(settings, plan.items, as_of, ALL_TYPES, alerted=plan.alerted)
    return Outline(subject or "", len(plan.items), weekly_recipient_count(engine))


def breaking_outline(engine: Engine, settings: Settings, item: Item) -> Outline:
    """An item's breaking alert as it would go out now: subject and recipients."""
    from digest.render import breaking_subject

    return Outline(breaking_subject(settings, item), 1, breaking_recipient_count(engine, item))


def preview_weekly(
    engine: Engine, settings: Settings, as_of: date, folder: Path, now: datetime | None = None
) -> list[Path]:
    """Render the weekly digest as of a day without storing or sending anything: its HTML
    and one sample .eml (for a reader of every type) in `folder`. Empty list when the
    period is empty."""
    plan = plan_weekly(engine, settings, as_of, now)
    body = render_plan(settings, plan, ALL_TYPES)
    if body is None:
        return []
    return _write_preview(settings, body, f"weekly-{as_of.isoformat()}", folder, now)


def _write_preview(
    settings: Settings, body: Rendered, name: str, folder: Path, now: datetime | None
) -> list[Path]:
    from digest.files import write_if_changed
    from digest.messages import Recipient, build_message

    message = build_message(settings, 0, body, Recipient(0, *SAMPLE_READER), now or utc_now())
    html_part = message_from_bytes(message, policy=default).get_body(("html",))
    assert html_part is not None
    html_path, eml_path = folder / f"{name}.html", folder / f"{name}.eml"
    write_if_changed(html_path, html_part.get_content().encode())
    write_if_changed(eml_path, message)
    return [html_path, eml_path]


def send_test(
    settings: Settings,
    item: Item,
    address: str,
    factory: Callable[[], Transport] | None = None,
    body: Rendered | None = None,
) -> str:
    """Send one copy of an item's breaking alert (or of `body`, its embargoed mail) to one
    address only; nothing is recorded."""
    from digest.actions.delivery import transport_factory
    from digest.messages import Recipient, build_message, message_id
    from digest.render import render_breaking
    from digest.subscribers import normalise_email

    body = body or render_breaking(settings, item, ALL_TYPES)
    recipient = Recipient(0, normalise_email(address), "")
    unique = make_msgid(domain=settings.email.list_id)
    message = build_message(settings, 0, body, recipient, utc_now()).replace(
        message_id(settings, 0, 0).encode(), unique.encode(), 1
    )

    async def deliver() -> str:
        transport = (factory or transport_factory(settings))()
        try:
            return await transport.send(
                settings.email.from_address, recipient.email, message, unique
            )
        finally:
            await transport.close()

    return asyncio.run(deliver())


def test_alert(
    settings: Settings,
    engine: Engine,
    item: Item,
    address: str,
    who: Who,
    factory: Callable[[], Transport] | None = None,
    body: Rendered | None = None,
) -> str:
    """A member of staff sends themselves a copy of an item's alert (embargoed ones too), to
    check it before it goes: to their own address or one of `breaking.test_addresses`, never
    elsewhere (the operator at the command line, acting without --as, may name any address);
    at most TEST_SEND_PER_PERSON per person. Audited; returns the relay's reply."""
    import time

    from digest.limits import TEST_SEND_PER_PERSON, hit
    from digest.subscribers import normalise_email

    actor = require(who, "prepare")
    target = normalise_email(address)
    allowed = {a.casefold() for a in settings.breaking.test_addresses}
    if actor.email:
        allowed.add(actor.email.casefold())
    if not actor.operator and target.casefold() not in allowed:
        own = f"your own address ({actor.email})" if actor.email else "your own address"
        raise Forbidden(
            f"a test goes only to {own} or an address of the test list "
            f"([breaking] test_addresses), not to {target}"
        )
    wait = hit(engine, TEST_SEND_PER_PERSON, actor.email or actor.name, time.time())
    if wait:
        raise DigestError(
            f"{TEST_SEND_PER_PERSON.limit} test sends in "
            f"{TEST_SEND_PER_PERSON.window / 60:.0f} minutes is the limit: "
            f"try again in {max(1, round(wait))} seconds"
        )
    reply = send_test(settings, with_articles(engine, [item])[0], target, factory, body)
    audit(engine, actor, "breaking test", f"{item.title} → {target}")
    return reply


@dataclass(frozen=True)
class SendProgress:
    """Where a mailing stands, for the console's live view and the CLI."""

    mailing_id: int
    kind: str
    subject: str
    status: str
    send_after: datetime | None
    requested_by: str | None
    approved_by: str | None
    sent: int
    pending: int
    retrying: int
    failed: int
    held: int
    cancelled: int
    paused_by: str | None = None
    paused_at: datetime | None = None
    with_relay: int = 0

    @property
    def total(self) -> int:
        return self.sent + self.pending + self.retrying + self.failed

    @property
    def left(self) -> int:
        """Deliveries not sent yet and not given up on (held ones included)."""
        return self.pending + self.retrying


def mailing_or_error(engine: Engine, mailing_id: int) -> Mailing:
    """The mailing with this id, or DigestError naming the id."""
    mailing = get_mailing(engine, mailing_id)
    if mailing is None:
        raise DigestError(f"no mailing has the id {mailing_id}")
    return mailing


def request_breaking(
    settings: Settings,
    engine: Engine,
    item_key: str,
    who: Who,
    send_at: datetime | None = None,
    now: datetime | None = None,
) -> Mailing:
    """Ask for an item's breaking alert. With `breaking.approval` it waits for a second
    person's approval; else it is scheduled for `send_at`, or for the end of the undo
    window (`breaking.undo_seconds`; 0 makes it sending at once). An embargoed item's
    alert is held until the embargo lifts. Asking twice returns the first request; an
    alert that already went out is refused, saying when and to how many."""
    now = now or utc_now()
    actor = require(who, "prepare" if settings.breaking.approval else "send")
    item = item_for(engine, item_key)
    if (sent := already_sent(settings, engine, item.key)) is not None:
        raise DigestError(
            f"{item.title!r} was {sent}; nothing sent: an alert goes out once. To tell "
            "its readers of a change, add a correction and send that."
        )
    if send_at is not None and send_at.tzinfo is None:
        raise DigestError(f"send time {send_at} has no time zone")
    if send_at is not None and send_at <= now:
        raise DigestError(
            f"send time {send_at.isoformat()} is in the past; leave the time out to send "
            "after the undo window"
        )
    if settings.breaking.approval:
        status, send_after = AWAITING, send_at
    else:
        send_after = send_at or now + timedelta(seconds=settings.breaking.undo_seconds)
        status = SENDING if send_after <= now else SCHEDULED
    embargo = embargo_of(engine, item.key)
    if embargo is not None and embargo > now:
        send_after = max(send_after or embargo, embargo)
        status = SCHEDULED if status == SENDING else status
    mailing = create_breaking(engine, settings, item, now, status, send_after, actor.name)
    when = f" for {send_after.isoformat()}" if send_after and status != SENDING else ""
    detail = f"{item.title} (mailing {mailing.id}, {mailing.status}{when})"
    audit(engine, actor, "breaking request", detail, now)
    if mailing.status == AWAITING and mailing.created == now:
        count = breaking_recipient_count(engine, item)
        notify_senders(settings, engine, mailing, actor.name, count)
    return mailing


def approve_mailing(
    settings: Settings, engine: Engine, mailing_id: int, who: Who, now: datetime | None = None
) -> Mailing:
    """A second person approves a mailing awaiting approval; it then goes at its chosen
    time or after the undo window. DigestError when the approver is the requester."""
    now = now or utc_now()
    actor = require(who, "send")
    _refuse_after_the_lift(engine, mailing_or_error(engine, mailing_id), now)
    try:
        mailing = approve(engine, mailing_id, actor.name, now, settings.breaking.undo_seconds)
    except MailingStateError as exc:
        raise DigestError(str(exc)) from None
    audit(engine, actor, "approve mailing", f"{mailing.subject} (mailing {mailing_id})", now)
    notify_requester(settings, engine, mailing, "approved", actor.name)
    return mailing


def _refuse_after_the_lift(engine: Engine, mailing: Mailing, now: datetime) -> None:
    """A send under embargo approved once its embargo has lifted would ask journalists to
    hold news that is public: refused, saying what to do instead."""
    if mailing.kind != UNDER_EMBARGO[0] or mailing.item_key is None:
        return
    lift = embargo_of(engine, mailing.item_key)
    if lift is None or lift <= now:
        raise DigestError(
            f"the embargo on this item has lifted, so mailing {mailing.id} would "
            "ask journalists to hold news that is already public: cancel it, and send an "
            "ordinary breaking alert if the news should still go out"
        )


def _change_mailing(
    engine: Engine,
    mailing_id: int,
    who: Who,
    now: datetime | None,
    change: Callable[[Actor], Mailing],
    action: str,
    right: str,
) -> Mailing:
    """Apply a staff decision to a mailing and audit it; a state that does not allow it is
    a DigestError naming why."""
    actor = require(who, right)
    mailing_or_error(engine, mailing_id)
    try:
        mailing = change(actor)
    except MailingStateError as exc:
        raise DigestError(str(exc)) from None
    audit(engine, actor, action, f"{mailing.subject} (mailing {mailing_id})", now)
    return mailing


def cancel_mailing(
    engine: Engine,
    mailing_id: int,
    who: Who,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> Mailing:
    """Cancel a mailing in any state before done: nothing more of it goes (messages already
    with the relay finish). Cancelled before anything left, an alert frees its item. With
    `settings`, the person who asked for an alert that awaited approval is told."""
    before = mailing_or_error(engine, mailing_id)
    mailing = _change_mailing(
        engine,
        mailing_id,
        who,
        now,
        lambda _actor: cancel(engine, mailing_id, now or utc_now()),
        "cancel mailing",
        "prepare",
    )
    if settings is not None and before.status == AWAITING:
        notify_requester(settings, engine, mailing, "cancelled", as_actor(who).name)
    return mailing


def pause_mailing(
    engine: Engine, mailing_id: int, who: Who, now: datetime | None = None
) -> Mailing:
    """Pause a mailing at once (a staff decision, not a relay outage): sending, waiting for
    the relay, or scheduled. Returns once a running sender handed back what it held, so
    only messages already with the relay go after it (`mailing_progress` counts them)."""
    return _change_mailing(
        engine,
        mailing_id,
        who,
        now,
        lambda actor: pause(engine, mailing_id, actor.name, now or utc_now()),
        "pause mailing",
        "send",
    )


def resume_mailing(
    engine: Engine, mailing_id: int, who: Who, now: datetime | None = None
) -> Mailing:
    """Resume a paused mailing where it stopped (or at its time, if that is still ahead)."""
    return _change_mailing(
        engine,
        mailing_id,
        who,
        now,
        lambda _actor: resume(engine, mailing_id, now or utc_now()),
        "resume mailing",
        "send",
    )


def mailing_progress(engine: Engine, mailing_id: int) -> SendProgress:
    """A mailing's state and its deliveries: sent / pending / retrying / failed; when it is
    paused, who paused it, when, and how many messages were already with the relay then."""
    mailing = mailing_or_error(engine, mailing_id)
    counts = delivery_breakdown(engine, mailing_id)
    with_relay = 0
    if mailing.status == PAUSED and mailing.paused_at is not None:
        with_relay = sent_since(engine, mailing_id, mailing.paused_at)
    return SendProgress(
        mailing_id=mailing.id,
        kind=mailing.kind,
        subject=mailing.subject,
        status=mailing.status,
        send_after=mailing.send_after,
        requested_by=mailing.requested_by,
        approved_by=mailing.approved_by,
        paused_by=mailing.paused_by,
        paused_at=mailing.paused_at,
        with_relay=with_relay,
        **counts,
    )


def release_held(
    engine: Engine, now: datetime | None = None, mailing_id: int | None = None
) -> list[int]:
    """Release the scheduled mailings (all, or one) whose time has come (the clock runs
    this every minute before sending); a cancelled or unapproved mailing is never released."""
    return release_due(engine, now or utc_now(), mailing_id)


def send_correction(
    settings: Settings, engine: Engine, item_key: str, who: Who, now: datetime | None = None
) -> Mailing:
    """Create the correction email for an item to exactly the people its breaking alert
    reached (those still subscribed); once per correction note. Sending is `send`."""
    now = now or utc_now()
    item = item_for(engine, item_key)
    actor = require(who, "send")
    try:
        mailing = create_correction(engine, settings, item, now)
    except MailingStateError as exc:
        raise DigestError(str(exc)) from None
    audit(engine, actor, "correction send", f"{item.title} (mailing {mailing.id})", now)
    return mailing
