"""The delivery engine: claim due deliveries in batches, send them over K transports under a
global rate limit, and record the outcomes in batches from one store thread.

Claims are one UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) … RETURNING, so
several sender processes can share PostgreSQL; on SQLite the single writer makes the
same statement safe. A claimed row holds a lease; a row left in `sending` by a process
that died is claimed again once its lease runs out.

Every store call runs on one thread of its own, so an SMTP connection never waits for a
commit. Outcomes are written in batches, and at most `sender.record_batch` outcomes are
ever sent but not yet written: a connection waits before adding one more. So after a
kill -9 at most `connections + record_batch` messages go out twice (the ones in flight and
the ones whose outcome was not yet written), each with the same Message-ID.

A relay-wide failure (cannot connect, 421 at greeting, a stalled relay) is not the
recipients' fault: the sender pauses, hands the deliveries back without spending an
attempt, marks the mailings `waiting for relay`, and probes the relay with growing delays; when it
answers again the mailings resume. A run gives up waiting after
`sender.relay_wait_seconds` and leaves everything pending for the next run."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Engine, and_, bindparam, func, or_, select

from digest.config import Settings
from digest.mailings import DONE, RELAY_WAIT, SENDING, finish_mailings, mailing_body
from digest.messages import MessageTemplate, Recipient, message_id, personal_message, prepare
from digest.store import deliveries, mailings, subscribers
from digest.transports import DeliveryError, RelayError, Transport

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")
RELAY_BACKOFF_MAX = 300.0


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class SendSummary:
    """What one run of the sender did. `paused` holds the relay's failure when the run
    ended waiting for it (nothing was counted against the recipients)."""

    sent: int = 0
    failed: int = 0
    retrying: int = 0
    bounced: int = 0
    errors: list[str] = field(default_factory=list)
    paused: str | None = None
    relay_pauses: int = 0


@dataclass(frozen=True)
class Outcome:
    """One delivery's result, ready to be written: the row values and what to count."""

    row: Any
    status: str
    values: dict[str, Any]
    error: DeliveryError | None = None


def claim(
    engine: Engine,
    worker: str,
    batch: int,
    now: datetime,
    lease_seconds: float,
    mailing_id: int | None = None,
    max_attempts: int | None = None,
) -> list[Any]:
    """Take up to `batch` deliveries that are due (pending and due, or sending with an
    expired lease) for this worker; returns their rows. A row never goes past
    `max_attempts`: one whose lease ran out on its last attempt is marked failed."""
    due = or_(
        and_(deliveries.c.status == "pending", deliveries.c.next_attempt <= now),
        and_(deliveries.c.status == "sending", deliveries.c.lease_until < now),
    )
    if max_attempts is not None:
        due = and_(due, deliveries.c.attempts < max_attempts)
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
        if max_attempts is not None:
            exhausted = deliveries.update().where(
                deliveries.c.status == "sending",
                deliveries.c.lease_until < now,
                deliveries.c.attempts >= max_attempts,
            )
            if mailing_id is not None:
                exhausted = exhausted.where(deliveries.c.mailing_id == mailing_id)
            conn.execute(
                exhausted.values(
                    status="failed",
                    lease_until=None,
                    reply=func.coalesce(deliveries.c.reply, "")
                    + f" (gave up: the sender died during attempt {max_attempts})",
                )
            )
        return sorted(conn.execute(statement).all(), key=lambda row: row.id)


def outcome_for(
    settings: Settings, row: Any, result: str | DeliveryError, now: datetime
) -> Outcome:
    """What a send's result means for its delivery: 'sent', 'retrying' (with its backoff)
    or 'failed'."""
    if isinstance(result, str):
        return Outcome(row, "sent", {"reply": result[:1000], "sent_at": now})
    if result.permanent or row.attempts >= settings.sender.max_attempts:
        return Outcome(row, "failed", {"reply": result.reply[:1000]}, result)
    delay = settings.sender.backoff_seconds * 2 ** (row.attempts - 1)
    values = {"reply": result.reply[:1000], "next_attempt": now + timedelta(seconds=delay)}
    return Outcome(row, "retrying", values, result)


def returned(row: Any, reason: str) -> Outcome:
    """A claimed delivery handed back unsent, its attempt not counted (the relay was down,
    or the run stopped)."""
    values = {"reply": reason[:1000], "attempts": row.attempts - 1}
    return Outcome(row, "returned", values)


def record_outcomes(engine: Engine, outcomes: list[Outcome], now: datetime) -> None:
    """Write a batch of outcomes in one transaction (one executemany per shape). Only the
    claiming worker's rows are touched; a hard bounce marks the subscriber bounced."""
    if not outcomes:
        return
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for outcome in outcomes:
        status = {"retrying": "pending", "returned": "pending"}.get(outcome.status, outcome.status)
        values = {"status": status, **outcome.values}
        params = {f"v_{k}": v for k, v in values.items()}
        params |= {"k_id": outcome.row.id, "k_worker": outcome.row.claimed_by}
        shapes.setdefault(tuple(sorted(values)), []).append(params)
    bounced = [o.row.subscriber_id for o in outcomes if o.error and o.error.hard_bounce]
    with engine.begin() as conn:
        for columns, params in shapes.items():
            statement = (
                deliveries.update()
                .where(
                    deliveries.c.id == bindparam("k_id"),
                    deliveries.c.claimed_by == bindparam("k_worker"),
                    deliveries.c.status == "sending",
                )
                .values(lease_until=None, **{c: bindparam(f"v_{c}") for c in columns})
            )
            conn.execute(statement, params)
        if bounced:
            conn.execute(
                subscribers.update()
                .where(subscribers.c.id.in_(bounced))
                .values(status="bounced", updated=now)
            )


def record(
    engine: Engine, settings: Settings, row: Any, result: str | DeliveryError, now: datetime
) -> str:
    """Write one delivery's outcome at once; returns 'sent', 'retrying' or 'failed'."""
    outcome = outcome_for(settings, row, result, now)
    record_outcomes(engine, [outcome], now)
    return outcome.status


def release(engine: Engine, worker: str) -> None:
    """Hand back a worker's claimed but unsent deliveries (a clean stop)."""
    with engine.begin() as conn:
        conn.execute(
            deliveries.update()
            .where(deliveries.c.claimed_by == worker, deliveries.c.status == "sending")
            .values(status="pending", lease_until=None, attempts=deliveries.c.attempts - 1)
        )


def set_paused(engine: Engine, paused: bool, mailing_id: int | None = None) -> None:
    """Mark the mailings being sent as waiting for the relay (the console shows it), or
    back to sending once the relay answers. A mailing paused by staff is left alone."""
    old, new = (SENDING, RELAY_WAIT) if paused else (RELAY_WAIT, SENDING)
    statement = mailings.update().where(mailings.c.status == old)
    if mailing_id is not None:
        statement = statement.where(mailings.c.id == mailing_id)
    with engine.begin() as conn:
        conn.execute(statement.values(status=new))


class RateLimiter:
    """A global pace of `rate` messages per second shared by every connection."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next_slot = 0.0

    async def wait(self) -> None:
        now = asyncio.get_running_loop().time()
        slot = max(now, self.next_slot)
        self.next_slot = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


def worker_name() -> str:
    """Who holds a claim: host, process and a random part, unique per run."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Recorder:
    """Outcomes written in batches by the store thread. At most `limit` outcomes are
    unwritten at any moment: `add` waits for room, so the crash bound holds."""

    def __init__(self, store: Callable[[list[Outcome]], Awaitable[None]], limit: int) -> None:
        self.store = store
        self.room = asyncio.Semaphore(limit)
        self.limit = limit
        self.error: Exception | None = None
        self.buffer: list[Outcome] = []
        self.wake = asyncio.Event()
        self.closed = False
        self.task = asyncio.create_task(self._run())

    async def add(self, outcome: Outcome) -> None:
        await self.room.acquire()
        if self.error is not None:
            raise self.error
        self.buffer.append(outcome)
        self.wake.set()

    async def _run(self) -> None:
        while True:
            if not self.buffer:
                if self.closed:
                    return
                await self.wake.wait()
                self.wake.clear()
                continue
            batch, self.buffer = self.buffer, []
            try:
                await self.store(batch)
            except Exception as exc:  # the store failed: every waiting sender stops
                self.error = exc
                for _ in range(len(batch) + self.limit):
                    self.room.release()
                return
            for _ in batch:
                self.room.release()

    async def close(self) -> None:
        """Write what is left and stop."""
        self.closed = True
        self.wake.set()
        await self.task
        if self.error is not None:
            raise self.error


async def send_pending(
    engine: Engine,
    settings: Settings,
    transport_factory: Callable[[], Transport],
    clock: Clock = utc_now,
    mailing_id: int | None = None,
    on_result: Callable[[str], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    sleep: Sleep = asyncio.sleep,
) -> SendSummary:
    """Send every delivery that is due now, over `sender.connections` transports; returns
    how many were sent, failed, or wait for a retry. When `should_stop` turns true, the
    messages in flight are finished and recorded, and the rest of the claims released.
    `sleep` is how the run waits for a relay that is down (tests pass a fake one)."""
    config = settings.sender
    summary = SendSummary()
    limiter = RateLimiter(config.rate)
    templates: dict[tuple[int, str], MessageTemplate | Exception] = {}
    worker = worker_name()
    loop = asyncio.get_running_loop()
    store_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest-store")

    def in_store(work: Callable[..., T], *args: Any) -> Awaitable[T]:
        return loop.run_in_executor(store_thread, work, *args)

    queue: asyncio.Queue[Any] = asyncio.Queue()
    running = asyncio.Event()
    running.set()
    state: dict[str, Any] = {"exhausted": False, "stop": False, "waited": None}
    recorder = Recorder(
        lambda batch: in_store(record_outcomes, engine, batch, clock()), config.record_batch
    )

    def claim_and_prepare() -> list[Any]:
        rows = claim(
            engine,
            worker,
            config.batch,
            clock(),
            config.lease_seconds,
            mailing_id,
            config.max_attempts,
        )
        for key in {(row.mailing_id, row.types_key) for row in rows} - set(templates):
            try:
                templates[key] = prepare(settings, key[0], mailing_body(engine, *key))
            except Exception as exc:  # a broken body fails its deliveries, not the run
                log.exception("mailing %s body %r cannot be prepared", *key)
                templates[key] = exc
        return rows

    refill_lock = asyncio.Lock()
    background: set[asyncio.Future[None]] = set()

    async def next_row() -> Any | None:
        while True:
            await running.wait()
            if state["stop"] or should_stop():
                return None
            if not queue.empty():
                row = queue.get_nowait()
                if queue.qsize() < config.connections and not state["exhausted"]:
                    background.add(asyncio.ensure_future(refill()))
                return row
            if state["exhausted"]:
                return None
            await refill()

    async def refill() -> None:
        async with refill_lock:
            if state["exhausted"] or queue.qsize() >= config.connections:
                return
            rows = await in_store(claim_and_prepare)
            if not rows:
                state["exhausted"] = True
            for row in rows:
                queue.put_nowait(row)
            if not running.is_set():
                await hand_back_queue()

    async def hand_back_queue() -> None:
        """While the relay is down, hold no claims: their leases could run out during a
        long pause and another sender would take them while this one still has them."""
        state["exhausted"] = False
        while not queue.empty():
            await recorder.add(returned(queue.get_nowait(), "relay unavailable (not counted)"))

    def build(row: Any) -> bytes:
        template = templates[(row.mailing_id, row.types_key)]
        if isinstance(template, Exception):
            raise DeliveryError(f"the mailing body cannot be prepared: {template}", True)
        recipient = Recipient(row.subscriber_id, row.email, row.name)
        try:
            return personal_message(template, recipient, clock())
        except Exception as exc:
            raise DeliveryError(f"cannot build the message: {exc}", permanent=True) from None

    async def relay_down(row: Any, error: RelayError) -> None:
        await recorder.add(returned(row, f"relay unavailable (not counted): {error.reply}"))
        if not running.is_set():
            return
        running.clear()
        summary.relay_pauses += 1
        if state["waited"] is None:
            state["waited"] = 0.0
            state["delay"] = config.relay_backoff_seconds
        await hand_back_queue()
        await in_store(set_paused, engine, True, mailing_id)
        background.add(asyncio.ensure_future(probe(error)))

    def give_up(reason: str) -> None:
        summary.paused = reason
        state["stop"] = True
        running.set()

    async def probe(error: RelayError) -> None:
        """Wait with growing delays (kept across pauses until a message goes out) and
        try the relay again; give up after relay_wait_seconds of trouble."""
        reason = error.reply
        while True:
            delay = state["delay"]
            if state["waited"] + delay > config.relay_wait_seconds:
                log.warning("relay still unavailable (%s); deliveries stay pending", reason)
                return give_up(reason)
            log.warning(
                "relay unavailable: %s; sending paused, next try in %g s "
                "(no attempt is counted against the recipients)",
                reason,
                delay,
            )
            state["delay"] = min(delay * 2, max(RELAY_BACKOFF_MAX, config.relay_backoff_seconds))
            remaining = delay
            while remaining > 0:
                if should_stop():
                    return give_up(reason)
                await sleep(min(1.0, remaining))
                remaining -= 1.0
            state["waited"] += delay
            transport = transport_factory()
            try:
                await transport.open()
            except RelayError as exc:
                reason = exc.reply
                continue
            finally:
                await transport.close()
            log.warning("relay answers again; sending resumed")
            await in_store(set_paused, engine, False, mailing_id)
            running.set()
            return

    async def work() -> None:
        transport = transport_factory()
        on_connection = 0
        try:
            while (row := await next_row()) is not None:
                if on_connection >= config.per_connection:
                    await transport.close()
                    on_connection = 0
                result: str | DeliveryError
                try:
                    message = build(row)
                    await limiter.wait()
                    ident = message_id(settings, row.mailing_id, row.subscriber_id)
                    result = await transport.send(
                        settings.email.from_address, row.email, message, ident
                    )
                    on_connection += 1
                    state["waited"] = None
                except RelayError as exc:
                    on_connection = 0
                    await relay_down(row, exc)
                    continue
                except DeliveryError as exc:
                    result = exc
                    on_connection = 0 if not exc.permanent else on_connection
                except Exception as exc:  # one delivery's surprise never stops the batch
                    log.exception("delivery %s to %s", row.id, row.email)
                    result = DeliveryError(f"{type(exc).__name__}: {exc}", permanent=True)
                    await transport.close()
                    on_connection = 0
                outcome = outcome_for(settings, row, result, clock())
                await recorder.add(outcome)
                _count(summary, outcome)
                if on_result:
                    on_result(outcome.status)
        finally:
            await transport.close()

    try:
        try:
            await asyncio.gather(*(work() for _ in range(config.connections)))
        finally:
            state["stop"] = True
            running.set()
            await recorder.close()
        if summary.paused is None and (summary.relay_pauses or summary.sent):
            await in_store(set_paused, engine, False, mailing_id)
        await in_store(release, engine, worker)
        await in_store(finish_mailings, engine)
    finally:
        for task in background:
            task.cancel()
        store_thread.shutdown(wait=True)
    return summary


def _count(summary: SendSummary, outcome: Outcome) -> None:
    if outcome.status == "sent":
        summary.sent += 1
        return
    assert outcome.error is not None
    message = f"{outcome.row.email}: {outcome.error.reply}"
    log.warning("%s %s", "retry later:" if outcome.status == "retrying" else "failed:", message)
    if outcome.status == "retrying":
        summary.retrying += 1
    else:
        summary.failed += 1
        summary.errors.append(message)
        summary.bounced += outcome.error.hard_bounce


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


@dataclass(frozen=True)
class Held:
    """Deliveries still `sending` under another process's lease."""

    holder: str
    count: int
    retry_at: datetime
    holder_alive: bool | None


def held_elsewhere(engine: Engine, now: datetime, mailing_id: int | None = None) -> list[Held]:
    """Rows claimed by a sender whose lease has not run out (another process at work, or
    one that died): who holds them and when they will be retried. `holder_alive` is False
    when the holder was a process on this machine that no longer runs."""
    query = (
        select(deliveries.c.claimed_by, func.count(), func.max(deliveries.c.lease_until))
        .where(deliveries.c.status == "sending", deliveries.c.lease_until >= now)
        .group_by(deliveries.c.claimed_by)
        .order_by(deliveries.c.claimed_by)
    )
    if mailing_id is not None:
        query = query.where(deliveries.c.mailing_id == mailing_id)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [Held(holder, count, until, _alive(holder)) for holder, count, until in rows]


def _alive(holder: str | None) -> bool | None:
    host, _, rest = (holder or "").partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def requeue_failed(engine: Engine, mailing_id: int, now: datetime) -> int:
    """Put a mailing's failed deliveries back in the queue with fresh attempts, except to
    subscribers who bounced or unsubscribed; returns how many."""
    gone = subscribers.c.status.in_(("bounced", "unsubscribed"))
    active = select(subscribers.c.id).where(~gone)
    with engine.begin() as conn:
        result = conn.execute(
            deliveries.update()
            .where(
                deliveries.c.mailing_id == mailing_id,
                deliveries.c.status == "failed",
                deliveries.c.subscriber_id.in_(active.scalar_subquery()),
            )
            .values(status="pending", attempts=0, next_attempt=now, lease_until=None)
        )
        if result.rowcount:
            conn.execute(
                mailings.update()
                .where(mailings.c.id == mailing_id, mailings.c.status == DONE)
                .values(status=SENDING)
            )
    return result.rowcount
