"""The units of work; the CLI, the web app and the scheduler only call these."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email.policy import default
from email.utils import make_msgid
from pathlib import Path

from sqlalchemy import Engine

from digest.config import Settings
from digest.errors import DigestError, SourceError
from digest.feeds import (
    RENDERERS,
    FeedFile,
    feed_specs,
    month_stats,
    write_feeds,
    write_if_changed,
)
from digest.links import signed_link
from digest.mailings import (
    Mailing,
    create_breaking,
    create_confirmation,
    create_weekly,
    plan_weekly,
)
from digest.messages import Recipient, build_message, message_id
from digest.model import ALL_TYPES, IngestCounts, Item, Subscriber
from digest.render import Rendered, render_breaking, render_confirm, render_weekly
from digest.sender import Clock, SendSummary, send_pending, utc_now
from digest.site import write_digest_pages, write_site
from digest.sources import Validators, read_path, read_source
from digest.store import (
    connect,
    create_schema,
    find_item,
    record_poll,
    source_state,
    upsert_items,
)
from digest.subscribers import normalise_email, request_subscription
from digest.transports import Transport, transport_for

log = logging.getLogger(__name__)


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
    engine: Engine, settings: Settings, paths: Iterable[str], now: datetime | None = None
) -> IngestReport:
    """Store the items of files given by path (kind from the file name); a file that cannot
    be read is reported and the rest are stored."""
    now = now or _now()
    report = IngestReport()
    for path in paths:
        try:
            items = read_path(path, settings)
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
) -> list[FeedFile]:
    """Write the feeds (all, or those of the changed types) and the public pages to the
    output folder; `full` renders every item page again (else only changed or missing
    ones)."""
    now = _now()
    stats = month_stats(engine, settings, now)
    files = write_feeds(engine, settings, out, changed_types, now, full, stats)
    return files + write_site(engine, settings, out, now, full, stats)


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
    out = settings.output_dir
    paths = [out / spec.path(fmt) for spec in feed_specs(settings) for fmt in RENDERERS]
    pages = [out / "index.html", out / "feeds.opml", out / "news" / "index.html"]
    return not all(path.exists() for path in [*paths, *pages])


def transport_factory(settings: Settings) -> Callable[[], Transport]:
    """Makes the configured transport: SMTP when SMTP_URL is set, else the outbox."""
    return lambda: transport_for(
        settings.smtp_url, settings.sender.outbox, settings.sender.timeout_seconds
    )


def send(
    engine: Engine,
    settings: Settings,
    mailing_id: int | None = None,
    clock: Clock = utc_now,
    factory: Callable[[], Transport] | None = None,
    on_result: Callable[[str], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> SendSummary:
    """Send every delivery that is due (of one mailing, or of all), until done or told to
    stop."""
    return asyncio.run(
        send_pending(
            engine,
            settings,
            factory or transport_factory(settings),
            clock=clock,
            mailing_id=mailing_id,
            on_result=on_result,
            should_stop=should_stop,
        )
    )


def weekly_digest(
    engine: Engine, settings: Settings, as_of: date, now: datetime | None = None
) -> Mailing:
    """Create (once) the weekly digest as of a day, and write its web version; sending is
    `send`."""
    mailing = create_weekly(engine, settings, as_of, now or _now())
    write_digest_pages(engine, settings)
    return mailing


def breaking_alert(
    engine: Engine, settings: Settings, item: Item, now: datetime | None = None
) -> Mailing:
    """Create (once) the breaking alert for an item, and write its web version; sending is
    `send`."""
    mailing = create_breaking(engine, settings, item, now or _now())
    write_digest_pages(engine, settings)
    return mailing


def item_for(engine: Engine, key_or_url: str) -> Item:
    """The stored item with this key or URL, or DigestError naming what was asked for."""
    item = find_item(engine, key_or_url)
    if item is None:
        raise DigestError(f"no stored item has the key or URL {key_or_url!r}")
    return item


SAMPLE_RECIPIENT = Recipient(0, "reader@example.org", "Sample Reader")


def preview_weekly(
    engine: Engine, settings: Settings, as_of: date, folder: Path, now: datetime | None = None
) -> list[Path]:
    """Render the weekly digest as of a day without storing or sending anything: its HTML
    and one sample .eml (for a reader of every type) in `folder`. Empty list when the
    period is empty."""
    plan = plan_weekly(engine, settings, as_of)
    body = render_weekly(settings, plan.items, as_of, ALL_TYPES)
    if body is None:
        return []
    return _write_preview(settings, body, f"weekly-{as_of.isoformat()}", folder, now)


def preview_breaking(
    engine: Engine, settings: Settings, item: Item, folder: Path, now: datetime | None = None
) -> list[Path]:
    """Render a breaking alert's HTML and a sample .eml into `folder`."""
    body = render_breaking(settings, item, ALL_TYPES)
    return _write_preview(settings, body, "breaking", folder, now)


def _write_preview(
    settings: Settings, body: Rendered, name: str, folder: Path, now: datetime | None
) -> list[Path]:
    message = build_message(settings, 0, body, SAMPLE_RECIPIENT, now or _now())
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


def subscribe(
    engine: Engine, settings: Settings, subscriber: Subscriber, now: datetime | None = None
) -> Mailing | None:
    """Double opt-in: store a new address as pending and create the email with its signed
    confirmation link (expiring after CONFIRM_HOURS); a bounced address gets nothing.
    The caller answers the same whatever happened, and sends the mailing."""
    now = now or _now()
    stored = request_subscription(engine, subscriber, now)
    if stored.status == "bounced" or stored.id is None:
        return None
    expires = now + timedelta(hours=CONFIRM_HOURS)
    confirm = signed_link(settings, "confirm", stored.id, stored.email, expires)
    body = render_confirm(settings, confirm, CONFIRM_HOURS)
    return create_confirmation(engine, settings, stored.id, body, now)
