"""The delivery engine: claim pending deliveries in batches, send them over K transports
under a global rate limit, record every outcome as it happens.

Claims are one UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) … RETURNING, so
several sender processes can share PostgreSQL; on SQLite the single writer makes the
same statement safe. A claimed row holds a lease; a row left in `sending` by a process
that died is claimed again once its lease runs out. Each outcome is written right after
its send, so after a crash only the messages in flight can go twice — with the same
Message-ID."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select

from digest.config import Settings
from digest.mailings import finish_mailings, mailing_body
from digest.messages import MessageTemplate, Recipient, message_id, personal_message, prepare
from digest.store import deliveries, subscribers
from digest.transports import DeliveryError, Transport

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
STORED_STATUS = {"sent": "sent", "failed": "failed", "retrying": "pending"}


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class SendSummary:
    """What one run of the sender did."""

    sent: int = 0
    failed: int = 0
    retrying: int = 0
    bounced: int = 0
    errors: list[str] = field(default_factory=list)


def claim(
    engine: Engine,
    worker: str,
    batch: int,
    now: datetime,
    lease_seconds: float,
    mailing_id: int | None = None,
) -> list[Any]:
    """Take up to `batch` deliveries that are due (pending and due, or sending with an
    expired lease) for this worker; returns their rows."""
    due = or_(
        and_(deliveries.c.status == "pending", deliveries.c.next_attempt <= now),
        and_(deliveries.c.status == "sending", deliveries.c.lease_until < now),
    )
    chosen = select(deliveries.c.id).where(due).order_by(deliveries.c.id).limit(batch)
    if mailing_id is not None:
        chosen = chosen.where(deliveries.c.mailing_id == mailing_id)
    chosen = chosen.with_for_update(skip_locked=True)
    statement = (
        deliveries.update()
        .where(deliveries.c.id.in_(chosen.scalar_subquery()))
        .values(
            status="sending",
            claimed_by=worker,
            lease_until=now + timedelta(seconds=lease_seconds),
            attempts=deliveries.c.attempts + 1,
        )
        .returning(*deliveries.c)
    )
    with engine.begin() as conn:
        return sorted(conn.execute(statement).all(), key=lambda row: row.id)


def record(
    engine: Engine, settings: Settings, row: Any, outcome: str | DeliveryError, now: datetime
) -> str:
    """Write one delivery's outcome: 'sent', 'retrying' or 'failed' (and a hard bounce
    marks the subscriber bounced). Only the claiming worker's row is touched."""
    mine = and_(deliveries.c.id == row.id, deliveries.c.claimed_by == row.claimed_by)
    if isinstance(outcome, str):
        status, values = "sent", {"reply": outcome[:1000], "sent_at": now}
    elif outcome.permanent or row.attempts >= settings.sender.max_attempts:
        status, values = "failed", {"reply": outcome.reply[:1000]}
    else:
        delay = settings.sender.backoff_seconds * 2 ** (row.attempts - 1)
        status = "retrying"
        values = {"reply": outcome.reply[:1000], "next_attempt": now + timedelta(seconds=delay)}
    with engine.begin() as conn:
        conn.execute(
            deliveries.update()
            .where(mine)
            .values(
                status="pending" if status == "retrying" else status, lease_until=None, **values
            )
        )
        if isinstance(outcome, DeliveryError) and outcome.hard_bounce:
            conn.execute(
                subscribers.update()
                .where(subscribers.c.id == row.subscriber_id)
                .values(status="bounced", updated=now)
            )
    return status


def release(engine: Engine, worker: str) -> None:
    """Hand back a worker's claimed but unsent deliveries (a clean stop)."""
    with engine.begin() as conn:
        conn.execute(
            deliveries.update()
            .where(deliveries.c.claimed_by == worker, deliveries.c.status == "sending")
            .values(status="pending", lease_until=None, attempts=deliveries.c.attempts - 1)
        )


class RateLimiter:
    """A global pace of `rate` messages per second shared by every connection."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next_slot = 0.0
        self.lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self.lock:
            loop = asyncio.get_running_loop()
            now = loop.time()
            slot = max(now, self.next_slot)
            self.next_slot = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


def worker_name() -> str:
    """Who holds a claim: host, process and a random part, unique per run."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def send_pending(
    engine: Engine,
    settings: Settings,
    transport_factory: Callable[[], Transport],
    clock: Clock = utc_now,
    mailing_id: int | None = None,
    on_result: Callable[[str], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> SendSummary:
    """Send every delivery that is due now, over `sender.connections` transports; returns
    how many were sent, failed, or wait for a retry. When `should_stop` turns true, the
    messages in flight are finished and recorded, and the rest of the claims released."""
    summary = SendSummary()
    limiter = RateLimiter(settings.sender.rate)
    templates: dict[tuple[int, str], MessageTemplate] = {}
    per_worker = max(1, settings.sender.batch // settings.sender.connections)

    def template(row: Any) -> MessageTemplate:
        key = (row.mailing_id, row.types_key)
        if key not in templates:
            body = mailing_body(engine, row.mailing_id, row.types_key)
            templates[key] = prepare(settings, row.mailing_id, body)
        return templates[key]

    async def work() -> None:
        transport = transport_factory()
        worker = worker_name()
        on_connection = 0
        try:
            while not should_stop():
                rows = claim(
                    engine, worker, per_worker, clock(), settings.sender.lease_seconds, mailing_id
                )
                if not rows:
                    return
                for row in rows:
                    if should_stop():
                        release(engine, worker)
                        return
                    if on_connection >= settings.sender.per_connection:
                        await transport.close()
                        on_connection = 0
                    await limiter.wait()
                    now = clock()
                    recipient = Recipient(row.subscriber_id, row.email, row.name)
                    message = personal_message(template(row), recipient, now)
                    ident = message_id(settings, row.mailing_id, row.subscriber_id)
                    outcome: str | DeliveryError
                    try:
                        outcome = await transport.send(
                            settings.email.from_address, row.email, message, ident
                        )
                        on_connection += 1
                    except DeliveryError as exc:
                        outcome = exc
                        on_connection = 0 if not exc.permanent else on_connection
                    status = record(engine, settings, row, outcome, clock())
                    _count(summary, status, outcome, row)
                    if on_result:
                        on_result(status)
        finally:
            await transport.close()

    await asyncio.gather(*(work() for _ in range(settings.sender.connections)))
    finish_mailings(engine)
    return summary


def _count(summary: SendSummary, status: str, outcome: str | DeliveryError, row: Any) -> None:
    if status == "sent":
        summary.sent += 1
        return
    assert isinstance(outcome, DeliveryError)
    message = f"{row.email}: {outcome.reply}"
    log.warning("%s %s", "retry later:" if status == "retrying" else "failed:", message)
    if status == "retrying":
        summary.retrying += 1
    else:
        summary.failed += 1
        summary.errors.append(message)
        summary.bounced += outcome.hard_bounce


def pending_count(engine: Engine, now: datetime, mailing_id: int | None = None) -> dict[str, int]:
    """Deliveries due now and deliveries waiting for a later retry."""
    query = select(
        func.count().filter(deliveries.c.next_attempt <= now),
        func.count().filter(deliveries.c.next_attempt > now),
    ).where(deliveries.c.status.in_(("pending", "sending")))
    if mailing_id is not None:
        query = query.where(deliveries.c.mailing_id == mailing_id)
    with engine.connect() as conn:
        due, later = conn.execute(query).one()
    return {"due": due, "later": later}
