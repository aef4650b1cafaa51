"""The units of work; the CLI, the web app and the scheduler only call these."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email.policy import default
from email.utils import make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from digest.config import Settings
from digest.errors import DigestError, SourceError
from digest.links import signed_link
from digest.mailings import (
    AWAITING,
    SCHEDULED,
    SENDING,
    Mailing,
    MailingStateError,
    approve,
    cancel,
    create_breaking,
    create_correction,
    create_digest,
    create_welcome,
    delivery_breakdown,
    get_mailing,
    pause,
    plan_weekly,
    release_due,
    render_plan,
    resume,
)
from digest.model import ALL_TYPES, IngestCounts, Item, Subscriber
from digest.sources import Validators, read_path, read_source
from digest.store import (
    add_correction_note,
    connect,
    create_schema,
    embargo_of,
    find_item,
    record_audit,
    record_poll,
    set_embargo,
    source_state,
    upsert_items,
)
from digest.text import clean_line

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from digest.feeds import FeedFile
    from digest.render import Rendered
    from digest.sender import Clock, SendSummary
    from digest.transports import Transport

# Rendering (premailer), feeds (feedgen, lxml), the sender (aiosmtplib, dkim) and the press
# list (email-validator) are imported by the jobs that use them, so each command starts fast.

log = logging.getLogger(__name__)
T = TypeVar("T")


def open_store(settings: Settings) -> Engine:
    """Connect to the configured store, creating its tables if they are missing."""
    engine = connect(settings.database_url)
    create_schema(engine)
    return engine


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class IngestReport:
    """What one ingest did, per source or path, and in total."""

    results: dict[str, IngestCounts] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> IngestCounts:
        return sum(self.results.values(), IngestCounts())


def ingest_sources(
    engine: Engine,
    settings: Settings,
    names: Iterable[str] | None = None,
    now: datetime | None = None,
) -> IngestReport:
    """Read the named configured sources (all when None) and store their items. A source
    that fails is recorded with its error and the others go on; stored items stay."""
    now = now or _now()
    report = IngestReport()
    chosen = [settings.source(name) for name in names] if names else list(settings.sources)
    for source in chosen:
        state = source_state(engine, source.name) or {}
        validators = Validators(state.get("etag"), state.get("last_modified"))
        try:
            read = read_source(source, settings, validators)
        except SourceError as exc:
            log.error("%s", exc)
            report.errors[source.name] = str(exc)
            record_poll(engine, source.name, {"polled_at": now, "result": f"error: {exc}"})
            continue
        counts = upsert_items(engine, read.items, now)
        report.results[source.name] = counts
        if read.errors:
            report.errors[source.name] = "; ".join(read.errors)
        result = "not modified" if read.not_modified else _describe(counts)
        if read.errors:
            result += f"; {len(read.errors)} unreadable: " + "; ".join(read.errors)
        record_poll(
            engine,
            source.name,
            {
                "polled_at": now,
                "result": result,
                "etag": read.validators.etag,
                "last_modified": read.validators.last_modified,
            },
        )
    return report


def ingest_paths(
    engine: Engine,
    settings: Settings,
    paths: Iterable[str],
    now: datetime | None = None,
    base_url: str | None = None,
) -> IngestReport:
    """Store the items of files given by path (kind from the file name); a file that cannot
    be read is reported and the rest are stored. `base_url` is the address a saved page
    came from, so its relative links resolve as they did on the site."""
    now = now or _now()
    report = IngestReport()
    for path in paths:
        try:
            items = read_path(path, settings, base_url=base_url)
        except SourceError as exc:
            log.error("%s", exc)
            report.errors[path] = str(exc)
            continue
        report.results[path] = upsert_items(engine, items, now)
    return report


def _describe(counts: IngestCounts) -> str:
    return f"{counts.new} new, {counts.updated} updated, {counts.unchanged} unchanged"


def publish_feeds(
    engine: Engine,
    settings: Settings,
    out: Path | None = None,
    changed_types: Iterable[str | None] | None = None,
    full: bool = False,
    pages: Iterable[str] = (),
) -> list[FeedFile]:
    """Write the feeds (all, or those of the changed types) and the public pages to the
    output folder; `full` renders every item page again (else only those of items changed
    since the last run, and of `pages`: items whose embargo was lifted by hand or that got
    a correction note)."""
    from digest.feeds import month_stats, write_feeds
    from digest.site import write_site

    now = _now()
    stats = month_stats(engine, settings, now)
    files = write_feeds(engine, settings, out, changed_types, now, full, stats)
    return files + write_site(engine, settings, out, now, full, stats, pages)


@dataclass(frozen=True)
class PublishReport:
    """An ingest of every source and the feed files it led to."""

    ingest: IngestReport
    files: list[FeedFile]


def publish(engine: Engine, settings: Settings, now: datetime | None = None) -> PublishReport:
    """Ingest every configured source, then rewrite the feeds whose items changed (every
    feed when one is missing from the output folder)."""
    report = ingest_sources(engine, settings, now=now)
    changed = report.total.changed_types
    if _feeds_missing(settings):
        return PublishReport(report, publish_feeds(engine, settings))
    if not changed:
        return PublishReport(report, [])
    return PublishReport(report, publish_feeds(engine, settings, changed_types=changed))


def _feeds_missing(settings: Settings) -> bool:
    from digest.feeds import RENDERERS, feed_specs

    out = settings.output_dir
    paths = [out / spec.path(fmt) for spec in feed_specs(settings) for fmt in RENDERERS]
    pages = [out / "index.html", out / "feeds.opml", out / "news" / "index.html"]
    return not all(path.exists() for path in [*paths, *pages])


def transport_factory(settings: Settings) -> Callable[[], Transport]:
    """Makes the configured transport: SMTP when SMTP_URL is set, else the outbox."""
    from digest.transports import transport_for

    return lambda: transport_for(
        settings.smtp_url, settings.sender.outbox, settings.sender.timeout_seconds
    )


def _run_async(coroutine: Awaitable[T]) -> T:
    """Run a coroutine on uvloop when it is installed (it comes with uvicorn[standard]; the
    sender spends most of its time in the event loop), else on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)  # type: ignore[arg-type]
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)  # type: ignore[arg-type]


def send(
    engine: Engine,
    settings: Settings,
    mailing_id: int | None = None,
    clock: Clock | None = None,
    factory: Callable[[], Transport] | None = None,
    on_result: Callable[[str], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> SendSummary:
    """Send every delivery that is due (of one mailing, or of all), until done or told to
    stop. `sleep` is how a relay pause waits (tests pass one that takes no time)."""
    from digest.sender import send_pending, utc_now

    return _run_async(
        send_pending(
            engine,
            settings,
            factory or transport_factory(settings),
            clock=clock or utc_now,
            mailing_id=mailing_id,
            on_result=on_result,
            should_stop=should_stop,
            sleep=sleep or asyncio.sleep,
        )
    )


def weekly_digest(
    engine: Engine, settings: Settings, as_of: date, now: datetime | None = None
) -> Mailing:
    """Create (once) the weekly digest as of a day, and write its web version; sending is
    `send`."""
    from digest.mailings import create_weekly
    from digest.site import write_digest_pages

    mailing = create_weekly(engine, settings, as_of, now or _now())
    write_digest_pages(engine, settings)
    return mailing


def daily_digest(
    engine: Engine, settings: Settings, as_of: date, now: datetime | None = None
) -> Mailing:
    """Create (once) the daily digest of a day for subscribers who chose it; sending is
    `send`."""
    return create_digest(engine, settings, "daily", as_of, now or _now())


def breaking_alert(
    engine: Engine, settings: Settings, item: Item, now: datetime | None = None
) -> Mailing:
    """Create (once) the breaking alert for an item, and write its web version; sending is
    `send`."""
    from digest.mailings import create_breaking
    from digest.site import write_digest_pages

    mailing = create_breaking(engine, settings, item, now or _now())
    write_digest_pages(engine, settings)
    return mailing


def item_for(engine: Engine, key_or_url: str) -> Item:
    """The stored item with this key, URL or feed entry id, or DigestError naming what was
    asked for."""
    item = find_item(engine, key_or_url) or _item_by_entry_id(engine, key_or_url.strip())
    if item is None:
        raise DigestError(f"no stored item has the key, URL or feed entry id {key_or_url!r}")
    return item


def _item_by_entry_id(engine: Engine, entry: str) -> Item | None:
    """The item a feed entry id (`tag:…:item/<hash>`, what feed readers show) names, since
    items without a URL have no other handle outside the store."""
    import hashlib
    import re

    from sqlalchemy import select

    from digest.store import items

    match = re.fullmatch(r"tag:[^\s:]+:item/([0-9a-f]{32})", entry)
    if match is None:
        return None
    with engine.connect() as conn:
        keys = conn.execute(select(items.c.key)).scalars().all()
    for key in keys:
        if hashlib.sha256(key.encode()).hexdigest()[:32] == match[1]:
            return find_item(engine, key)
    return None


SAMPLE_READER = ("reader@example.org", "Sample Reader")


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


def preview_breaking(
    engine: Engine, settings: Settings, item: Item, folder: Path, now: datetime | None = None
) -> list[Path]:
    """Render a breaking alert's HTML and a sample .eml into `folder`."""
    from digest.render import render_breaking

    body = render_breaking(settings, item, ALL_TYPES)
    return _write_preview(settings, body, "breaking", folder, now)


def _write_preview(
    settings: Settings, body: Rendered, name: str, folder: Path, now: datetime | None
) -> list[Path]:
    from digest.feeds import write_if_changed
    from digest.messages import Recipient, build_message

    message = build_message(settings, 0, body, Recipient(0, *SAMPLE_READER), now or _now())
    html_part = message_from_bytes(message, policy=default).get_body(("html",))
    assert html_part is not None
    html_path, eml_path = folder / f"{name}.html", folder / f"{name}.eml"
    write_if_changed(html_path, html_part.get_content().encode())
    write_if_changed(eml_path, message)
    return [html_path, eml_path]


def send_test(
    settings: Settings, item: Item, address: str, factory: Callable[[], Transport] | None = None
) -> str:
    """Send one copy of an item's breaking alert to one address only; nothing is recorded."""
    from digest.messages import Recipient, build_message, message_id
    from digest.render import render_breaking
    from digest.subscribers import normalise_email

    body = render_breaking(settings, item, ALL_TYPES)
    recipient = Recipient(0, normalise_email(address), "")
    unique = make_msgid(domain=settings.email.list_id)
    message = build_message(settings, 0, body, recipient, _now()).replace(
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


CONFIRM_HOURS = 48


def welcome(
    engine: Engine, settings: Settings, subscriber_id: int, now: datetime | None = None
) -> Mailing | None:
    """Create (once) the welcome email of a subscriber who just confirmed: what they will
    get and when, the feeds, the preferences link. None unless the subscriber is active.
    Sending is `send`."""
    from digest.subscribers import get_subscriber

    subscriber = get_subscriber(engine, subscriber_id)
    if subscriber is None or subscriber.status != "active":
        return None
    return create_welcome(engine, settings, subscriber, now or _now())


def subscribe(
    engine: Engine, settings: Settings, subscriber: Subscriber, now: datetime | None = None
) -> Mailing | None:
    """Double opt-in: store a new address as pending and create the email with its signed
    confirmation link (expiring after CONFIRM_HOURS); a bounced address gets nothing.
    The caller answers the same whatever happened, and sends the mailing."""
    from digest.mailings import create_confirmation
    from digest.render import render_confirm
    from digest.subscribers import request_subscription

    now = now or _now()
    stored = request_subscription(engine, subscriber, now)
    if stored.status == "bounced" or stored.id is None:
        return None
    expires = now + timedelta(hours=CONFIRM_HOURS)
    confirm = signed_link(settings, "confirm", stored.id, stored.email, expires)
    body = render_confirm(settings, confirm, CONFIRM_HOURS)
    return create_confirmation(engine, settings, stored.id, body, now)


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

    @property
    def total(self) -> int:
        return self.sent + self.pending + self.retrying + self.failed


def _mailing_or_error(engine: Engine, mailing_id: int) -> Mailing:
    mailing = get_mailing(engine, mailing_id)
    if mailing is None:
        raise DigestError(f"no mailing has the id {mailing_id}")
    return mailing


def _audit(engine: Engine, actor: str, action: str, detail: str, now: datetime) -> None:
    if not actor.strip():
        raise DigestError("say who is acting (a name for the audit log)")
    record_audit(engine, clean_line(actor), action, detail, now)


def request_breaking(
    settings: Settings,
    engine: Engine,
    item_key: str,
    requested_by: str,
    send_at: datetime | None = None,
    now: datetime | None = None,
) -> Mailing:
    """Ask for an item's breaking alert. With `breaking.approval` it waits for a second
    person's approval; else it is scheduled for `send_at`, or for the end of the undo
    window (`breaking.undo_seconds`; 0 makes it sending at once). An embargoed item's
    alert is held until the embargo lifts. Asking twice returns the first request."""
    now = now or _now()
    if not requested_by.strip():
        raise DigestError("say who is asking (a name for the audit log)")
    item = item_for(engine, item_key)
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
    mailing = create_breaking(
        engine, settings, item, now, status, send_after, clean_line(requested_by)
    )
    when = f" for {send_after.isoformat()}" if send_after and status != SENDING else ""
    detail = f"{item.title} (mailing {mailing.id}, {mailing.status}{when})"
    _audit(engine, requested_by, "breaking request", detail, now)
    return mailing


def approve_mailing(
    settings: Settings, engine: Engine, mailing_id: int, approver: str, now: datetime | None = None
) -> Mailing:
    """A second person approves a mailing awaiting approval; it then goes at its chosen
    time or after the undo window. DigestError when the approver is the requester."""
    now = now or _now()
    _mailing_or_error(engine, mailing_id)
    try:
        mailing = approve(
            engine, mailing_id, clean_line(approver), now, settings.breaking.undo_seconds
        )
    except MailingStateError as exc:
        raise DigestError(str(exc)) from None
    _audit(engine, approver, "approve mailing", f"{mailing.subject} (mailing {mailing_id})", now)
    return mailing


def _change_mailing(
    engine: Engine,
    mailing_id: int,
    actor: str,
    now: datetime | None,
    change: Callable[[Engine, int], Mailing],
    action: str,
) -> Mailing:
    """Apply a staff decision to a mailing and audit it; a state that does not allow it is
    a DigestError naming why."""
    _mailing_or_error(engine, mailing_id)
    try:
        mailing = change(engine, mailing_id)
    except MailingStateError as exc:
        raise DigestError(str(exc)) from None
    detail = f"{mailing.subject} (mailing {mailing_id})"
    _audit(engine, actor, action, detail, now or _now())
    return mailing


def cancel_mailing(
    engine: Engine, mailing_id: int, actor: str, now: datetime | None = None
) -> Mailing:
    """Cancel a mailing before anything has left (in its undo window, awaiting approval,
    or scheduled); DigestError once a message has gone."""
    return _change_mailing(engine, mailing_id, actor, now, cancel, "cancel mailing")


def pause_mailing(
    engine: Engine, mailing_id: int, actor: str, now: datetime | None = None
) -> Mailing:
    """Pause a sending mailing (a staff decision, not a relay outage)."""
    return _change_mailing(engine, mailing_id, actor, now, pause, "pause mailing")


def resume_mailing(
    engine: Engine, mailing_id: int, actor: str, now: datetime | None = None
) -> Mailing:
    """Resume a paused mailing where it stopped."""
    return _change_mailing(engine, mailing_id, actor, now, resume, "resume mailing")


def mailing_progress(engine: Engine, mailing_id: int) -> SendProgress:
    """A mailing's state and its deliveries: sent / pending / retrying / failed."""
    mailing = _mailing_or_error(engine, mailing_id)
    counts = delivery_breakdown(engine, mailing_id)
    return SendProgress(
        mailing_id=mailing.id,
        kind=mailing.kind,
        subject=mailing.subject,
        status=mailing.status,
        send_after=mailing.send_after,
        requested_by=mailing.requested_by,
        approved_by=mailing.approved_by,
        **counts,
    )


def release_held(engine: Engine, now: datetime | None = None) -> list[int]:
    """Release the scheduled mailings whose time has come (the clock runs this every
    minute before sending); a cancelled or unapproved mailing is never released."""
    return release_due(engine, now or _now())


def embargo_item(
    engine: Engine, item_key: str, until: datetime | None, actor: str, now: datetime | None = None
) -> Item:
    """Hold an item back from every public path until `until` (None lifts the embargo at
    once: it is recorded as ending now, so the next publish sees the item as newly public
    and writes its feeds and page)."""
    now = now or _now()
    item = item_for(engine, item_key)
    if until is not None and until.tzinfo is None:
        raise DigestError(f"embargo time {until} has no time zone")
    if not actor.strip():
        raise DigestError("say who is acting (a name for the audit log)")
    if until is not None and until <= now:
        raise DigestError(f"embargo time {until.isoformat()} is in the past; nothing changed")
    current = embargo_of(engine, item.key)
    if until is None and (current is None or current <= now):
        raise DigestError(f"{item.title!r} has no embargo; nothing to lift")
    set_embargo(engine, item.key, until or now)
    detail = f"{item.title} until {until.isoformat()}" if until else f"{item.title}: lifted"
    _audit(engine, actor, "embargo", detail, now)
    return item


def add_correction(
    engine: Engine, item_key: str, note: str, actor: str, now: datetime | None = None
) -> Item:
    """Attach a correction note to an item: the next digest lists it, the feeds show the
    item as updated."""
    now = now or _now()
    item = item_for(engine, item_key)
    if not note.strip():
        raise DigestError("a correction needs a note saying what was wrong")
    if not actor.strip():
        raise DigestError("say who is acting (a name for the audit log)")
    add_correction_note(engine, item.key, note, actor.strip(), now)
    _audit(engine, actor, "correction", f"{item.title}: {note.strip()}", now)
    return item


def send_correction(
    settings: Settings, engine: Engine, item_key: str, actor: str, now: datetime | None = None
) -> Mailing:
    """Create the correction email for an item to exactly the people its breaking alert
    reached (those still subscribed); once per correction note. Sending is `send`."""
    now = now or _now()
    item = item_for(engine, item_key)
    if not actor.strip():
        raise DigestError("say who is acting (a name for the audit log)")
    try:
        mailing = create_correction(engine, settings, item, now)
    except MailingStateError as exc:
        raise DigestError(str(exc)) from None
    detail = f"{item.title} (mailing {mailing.id})"
    _audit(engine, actor, "correction send", detail, now)
    return mailing


def local_time(settings: Settings, text: str, now: datetime | None = None) -> datetime:
    """A time typed by staff, in the newsroom's zone unless it says otherwise:
    'YYYY-MM-DD HH:MM', an ISO 8601 time with an offset, or 'HH:MM' for today."""
    raw = text.strip()
    zone = settings.timezone
    try:
        if len(raw) <= 5 and ":" in raw:
            hour, minute = (int(part) for part in raw.split(":"))
            today = (now or _now()).astimezone(zone).date()
            return datetime(today.year, today.month, today.day, hour, minute, tzinfo=zone)
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise DigestError(
            f"cannot read the time {text!r}: use 'YYYY-MM-DD HH:MM' (in {zone.key}) or 'HH:MM'"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
