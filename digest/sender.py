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
import contextlib
import logging
import os
import re
import socket
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Engine, and_, bindparam, func, or_, select

from digest.config import Settings
from digest.mailings import (
    CANCELLED,
    DONE,
    HELD,
    PAUSED,
    RELAY_WAIT,
    SENDING,
    finish_mailings,
    mailing_body,
)
from digest.messages import MessageTemplate, Recipient, message_id, personal_message, prepare
from digest.store import bounce_events, deliveries, mailings, subscribers
from digest.transports import DeliveryError, RelayError, Transport, TransportUnusable
from digest.verp import envelope_sender

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")
RELAY_BACKOFF_MAX = 300.0
# How often a run re-reads whether staff paused or cancelled a mailing it is sending.
STATE_POLL_SECONDS = 0.1
STOPPED = "not sent: staff paused or cancelled the mailing (not counted)"


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
    expired lease held by another worker) of mailings that are sending, for this worker;
    returns their rows. A row never goes past `max_attempts`: one whose lease ran out on
    its last attempt is marked failed. A paused or cancelled mailing's rows are never taken."""
    due = or_(
        and_(deliveries.c.status == "pending", deliveries.c.next_attempt <= now),
        and_(
            deliveries.c.status == "sending",
            deliveries.c.lease_until < now,
            or_(deliveries.c.claimed_by.is_(None), deliveries.c.claimed_by != worker),
        ),
    )
    going = select(mailings.c.id).where(mailings.c.status.in_((SENDING, RELAY_WAIT)))
    due = and_(due, deliveries.c.mailing_id.in_(going.scalar_subquery()))
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


def renew_leases(engine: Engine, worker: str, until: datetime) -> None:
    """Extend the lease of every delivery this worker holds, so that a batch that takes
    longer than the lease to send (a slow relay, a low `sender.rate`) is never taken by
    another sender, or by this one, while it still holds it."""
    with engine.begin() as conn:
        conn.execute(
            deliveries.update()
            .where(deliveries.c.claimed_by == worker, deliveries.c.status == "sending")
            .values(lease_until=until)
        )


def stopped_mailings(engine: Engine, mailing_ids: list[int]) -> set[int]:
    """Which of these mailings staff paused or cancelled (their rows must not go)."""
    if not mailing_ids:
        return set()
    query = select(mailings.c.id).where(
        mailings.c.id.in_(mailing_ids), mailings.c.status.in_((PAUSED, CANCELLED))
    )
    with engine.connect() as conn:
        return set(conn.execute(query).scalars())


def _settle_returned(conn: Any, ids: list[int]) -> None:
    """Rows handed back to a mailing staff paused or cancelled meanwhile follow it: held
    until it is resumed, or cancelled."""
    for mailing_status, delivery_status in ((PAUSED, HELD), (CANCELLED, CANCELLED)):
        conn.execute(
            deliveries.update()
            .where(
                deliveries.c.id.in_(ids),
                deliveries.c.status == "pending",
                deliveries.c.mailing_id.in_(
                    select(mailings.c.id).where(mailings.c.status == mailing_status)
                ),
            )
            .values(status=delivery_status)
        )


ENHANCED_STATUS = re.compile(r"\b[245]\.\d{1,3}\.\d{1,3}\b")


def refused_at_send(outcomes: list[Outcome], now: datetime) -> list[dict[str, Any]]:
    """Bounce events for the recipients the relay refused as nonexistent while sending, so
    staff see them beside returned mail and they count in the mailing's bounce rate."""
    events = []
    for outcome in outcomes:
        if outcome.error is None or not outcome.error.hard_bounce:
            continue
        reply = outcome.error.reply
        status = ENHANCED_STATUS.search(reply)
        events.append(
            {
                "at": now,
                "email": outcome.row.email,
                "subscriber_id": outcome.row.subscriber_id,
                "mailing_id": outcome.row.mailing_id,
                "kind": "hard",
                "status": status.group(0) if status else "",
                "detail": reply[:2000],
                "source": "the relay's reply while sending",
                "effect": "suppressed (hard bounce)",
                "report_id": "",
            }
        )
    return events


def record_outcomes(engine: Engine, outcomes: list[Outcome], now: datetime) -> None:
    """Write a batch of outcomes in one transaction (one executemany per shape). Only the
    claiming worker's rows are touched; a hard bounce marks the subscriber bounced and is
    recorded as a bounce event."""
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
            conn.execute(bounce_events.insert(), refused_at_send(outcomes, now))
        handed_back = [o.row.id for o in outcomes if o.status == "returned"]
        if handed_back:
            _settle_returned(conn, handed_back)


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


@dataclass
class RelayTrouble:
    """How long the relay has been unusable (seconds spent waiting) and the next delay
    before trying it again. Kept across pauses until a message goes out."""

    waited: float
    delay: float


@dataclass
class Connection:
    """One transport of the pool and how many messages went over its current session."""

    transport: Transport
    used: int = 0


class SendRun:
    """One run of the sender: claims due deliveries in batches, sends them over
    `sender.connections` transports, records the outcomes, and pauses while the relay is down.
    While it runs it renews the leases of what it holds and watches whether staff paused or
    cancelled a mailing it sends. Build it inside the event loop that runs it; `run` returns
    what it did."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        transport_factory: Callable[[], Transport],
        clock: Clock = utc_now,
        mailing_id: int | None = None,
        on_result: Callable[[str], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.config = settings.sender
        self.transport_factory = transport_factory
        self.clock = clock
        self.mailing_id = mailing_id
        self.on_result = on_result
        self.should_stop = should_stop
        self.sleep = sleep
        self.summary = SendSummary()
        self.limiter = RateLimiter(self.config.rate)
        self.templates: dict[tuple[int, str], MessageTemplate | Exception] = {}
        self.worker = worker_name()
        self.loop = asyncio.get_running_loop()
        self.store_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest-store")
        self.watch_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest-watch")
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.relay_up = asyncio.Event()
        self.relay_up.set()
        self.exhausted = False
        self.stopping = False
        self.fatal: Exception | None = None
        self.trouble: RelayTrouble | None = None
        self.stopped: set[int] = set()
        self.accepted = 0
        self.in_flight = 0
        self.doubted: list[tuple[Any, DeliveryError]] = []
        self.suspects: set[int] = set()
        self.refill_lock = asyncio.Lock()
        self.background: set[asyncio.Future[None]] = set()
        self.recorder = Recorder(self._store_outcomes, self.config.record_batch)

    def in_store(self, work: Callable[..., T], *args: Any) -> Awaitable[T]:
        """Run a store call on the store thread, so no connection waits for a commit."""
        return self.loop.run_in_executor(self.store_thread, work, *args)

    def _store_outcomes(self, batch: list[Outcome]) -> Awaitable[None]:
        return self.in_store(record_outcomes, self.engine, batch, self.clock())

    async def run(self) -> SendSummary:
        """Send until nothing is due, the run is told to stop, or the relay stays down too
        long; then record everything, hand back what is left and close finished mailings.
        A way out that cannot take any message (TransportUnusable) ends the run with it,
        after everything unsent was handed back uncounted."""
        try:
            try:
                self.background.add(asyncio.ensure_future(self.keep_leases()))
                self.background.add(asyncio.ensure_future(self.watch_mailings()))
                connections = (self.send_batches() for _ in range(self.config.connections))
                await asyncio.gather(*connections)
            finally:
                self.stopping = True
                self.relay_up.set()
                await self.hand_back_doubted("the run stopped before it could tell")
                await self.recorder.close()
            summary = self.summary
            if summary.paused is None and (summary.relay_pauses or summary.sent):
                await self.in_store(set_paused, self.engine, False, self.mailing_id)
            await self.in_store(release, self.engine, self.worker)
            await self.in_store(finish_mailings, self.engine)
        finally:
            for task in self.background:
                task.cancel()
            self.store_thread.shutdown(wait=True)
            self.watch_thread.shutdown(wait=True)
        if self.fatal is not None:
            raise self.fatal
        return self.summary

    async def keep_leases(self) -> None:
        """Renew the lease of every delivery this run holds (queued, in flight, or sent and
        not yet recorded) every third of `sender.lease_seconds`, so that a batch slower
        to send than the lease is never claimed again while it is held."""
        lease = timedelta(seconds=self.config.lease_seconds)
        while True:
            await asyncio.sleep(self.config.lease_seconds / 3)
            try:
                await self.in_store(renew_leases, self.engine, self.worker, self.clock() + lease)
            except Exception as exc:  # tried again a third of a lease later
                log.warning("could not renew the sender's leases: %s", exc)

    async def watch_mailings(self) -> None:
        """Re-read every STATE_POLL_SECONDS whether staff paused or cancelled a mailing
        this run sends, and hand its queued deliveries back at once."""
        while True:
            await asyncio.sleep(STATE_POLL_SECONDS)
            ids = sorted({mailing_id for mailing_id, _ in self.templates})
            try:
                self.stopped = await self.loop.run_in_executor(
                    self.watch_thread, stopped_mailings, self.engine, ids
                )
            except Exception as exc:  # read again at the next poll
                log.warning("could not read the mailings' state: %s", exc)
                continue
            if self.stopped:
                await self.drop_stopped()

    async def drop_stopped(self) -> None:
        """Hand back, uncounted, the queued deliveries of mailings staff stopped."""
        queued = [self.queue.get_nowait() for _ in range(self.queue.qsize())]
        for row in queued:
            if row.mailing_id not in self.stopped:
                self.queue.put_nowait(row)
        for row in queued:
            if row.mailing_id in self.stopped:
                await self.recorder.add(returned(row, STOPPED))

    # claim

    def claim(self) -> list[Any]:
        """Claim the next batch of due deliveries and prepare the body of every mailing
        they need (on the store thread)."""
        config = self.config
        rows = claim(
            self.engine,
            self.worker,
            config.batch,
            self.clock(),
            config.lease_seconds,
            self.mailing_id,
            config.max_attempts,
        )
        for key in {(row.mailing_id, row.types_key) for row in rows} - set(self.templates):
            try:
                body = mailing_body(self.engine, *key)
                self.templates[key] = prepare(self.settings, key[0], body)
            except Exception as exc:  # a broken body fails its deliveries, not the run
                log.exception("mailing %s body %r cannot be prepared", *key)
                self.templates[key] = exc
        return rows

    async def next_row(self) -> Any | None:
        """The next claimed delivery to send, claiming more when the queue runs low; None
        when the run is over. Before the run ends, a failure nobody else could judge is
        settled (see `settle_doubts`)."""
        while True:
            await self.relay_up.wait()
            if self.stopping or self.should_stop():
                return None
            if not self.queue.empty():
                row = self.queue.get_nowait()
                if self.queue.qsize() < self.config.connections and not self.exhausted:
                    self.background.add(asyncio.ensure_future(self.refill()))
                if row.mailing_id in self.stopped:
                    await self.recorder.add(returned(row, STOPPED))
                    continue
                return row
            if self.exhausted:
                if self.doubted and self.in_flight == 0:
                    await self.settle_doubts()
                    continue
                return None
            await self.refill()

    async def refill(self) -> None:
        """Claim another batch into the queue unless it holds enough already."""
        async with self.refill_lock:
            if self.exhausted or self.queue.qsize() >= self.config.connections:
                return
            rows = await self.in_store(self.claim)
            if not rows:
                self.exhausted = True
            for row in rows:
                self.queue.put_nowait(row)
            if not self.relay_up.is_set():
                await self.hand_back()

    async def hand_back(self) -> None:
        """While the relay is down, hold no claims: their leases could run out during a
        long pause and another sender would take them while this one still has them."""
        self.exhausted = False
        while not self.queue.empty():
            row = self.queue.get_nowait()
            await self.recorder.add(returned(row, "relay unavailable (not counted)"))

    # send a batch

    async def send_batches(self) -> None:
        """One connection's loop: send claimed deliveries one by one and record each
        outcome, opening a new session every `sender.per_connection` messages."""
        connection = Connection(self.transport_factory())
        try:
            while (row := await self.next_row()) is not None:
                if connection.used >= self.config.per_connection:
                    await connection.transport.close()
                    connection.used = 0
                result = await self.send(connection, row)
                if result is not None:
                    await self.record(outcome_for(self.settings, row, result, self.clock()))
        finally:
            await connection.transport.close()

    async def send(self, connection: Connection, row: Any) -> str | DeliveryError | None:
        """Send one delivery: the relay's reply, or the recipient's error. None when it
        went back unsent (the relay is down, its mailing was stopped) or waits for a
        verdict (see `judge`). The mailing's state is checked right before the relay gets
        the message, so a pause lets through only what is already with the relay."""
        accepted = self.accepted
        try:
            message = self.build(row)
            await self.limiter.wait()
            if row.mailing_id in self.stopped or self.stopping:
                await self.recorder.add(returned(row, STOPPED))
                return None
            ident = message_id(self.settings, row.mailing_id, row.subscriber_id)
            sender = envelope_sender(self.settings, row.mailing_id, row.subscriber_id)
            self.in_flight += 1
            try:
                reply = await connection.transport.send(sender, row.email, message, ident)
            finally:
                self.in_flight -= 1
        except TransportUnusable as exc:
            await self.recorder.add(returned(row, f"not sent (not counted): {exc}"))
            self.fail_run(exc)
            return None
        except RelayError as exc:
            connection.used = 0
            if exc.doubtful:
                return await self.judge(row, exc, accepted)
            await self.pause_for_relay(exc, row)
            return None
        except DeliveryError as exc:
            connection.used = 0 if not exc.permanent else connection.used
            return await self.judge(row, exc, accepted) if _doubtful(exc) else exc
        except Exception as exc:  # one delivery's surprise never stops the batch
            log.exception("delivery %s to %s", row.id, row.email)
            await connection.transport.close()
            connection.used = 0
            return DeliveryError(f"{type(exc).__name__}: {exc}", permanent=True)
        connection.used += 1
        self.trouble = None
        self.accepted += 1
        if self.doubted:
            await self.vouch()
        return reply

    def build(self, row: Any) -> bytes:
        """The recipient's own copy of the mailing's prepared body."""
        template = self.templates[(row.mailing_id, row.types_key)]
        if isinstance(template, Exception):
            raise DeliveryError(f"the mailing body cannot be prepared: {template}", True)
        recipient = Recipient(row.subscriber_id, row.email, row.name)
        try:
            return personal_message(template, recipient, self.clock())
        except Exception as exc:
            raise DeliveryError(f"cannot build the message: {exc}", permanent=True) from None

    def fail_run(self, error: Exception) -> None:
        """Stop the run for good (the way out cannot take messages): `run` raises `error`
        once everything unsent is handed back."""
        if self.fatal is None:
            self.fatal = error
        self.stopping = True
        self.relay_up.set()

    # record

    async def record(self, outcome: Outcome) -> None:
        """Hand one outcome to the recorder (waiting for room) and count it."""
        await self.recorder.add(outcome)
        _count(self.summary, outcome)
        if self.on_result:
            self.on_result(outcome.status)

    # tell the relay's trouble from a recipient's

    async def judge(self, row: Any, error: DeliveryError, accepted: int) -> DeliveryError | None:
        """A stall or temporary refusal that may be the relay's or this recipient's. If the
        relay accepted another recipient's message while this one was tried, it is this
        recipient's (an attempt is counted). Otherwise it waits for a verdict: the next
        accepted message makes it the recipient's; as many recipients failing alike as
        there are connections (at least two) before that makes it the relay's (pause,
        nobody's attempt counted)."""
        if self.accepted != accepted:
            return error
        if self.stopping or not self.relay_up.is_set():
            await self.recorder.add(returned(row, f"relay unavailable (not counted): {error}"))
            return None
        self.doubted.append((row, error))
        if len(self.doubted) >= max(2, self.config.connections):
            await self.pause_for_relay(error)
        return None

    async def vouch(self) -> None:
        """The relay accepted a message: the failures waiting for a verdict were their
        recipients' own."""
        doubted, self.doubted = self.doubted, []
        for row, error in doubted:
            await self.record(outcome_for(self.settings, row, error, self.clock()))

    async def settle_doubts(self) -> None:
        """Nothing is left to send and failures still wait for a verdict. A recipient that
        failed again after the relay answered a probe is charged its attempt (nobody else
        is left to compare with); otherwise the relay is probed first."""
        if all(row.id in self.suspects for row, _ in self.doubted):
            await self.vouch()
        else:
            await self.pause_for_relay(self.doubted[-1][1])

    async def hand_back_doubted(self, reason: str) -> None:
        """At the end of a run, failures that never got a verdict go back uncounted."""
        doubted, self.doubted = self.doubted, []
        with contextlib.suppress(Exception):  # a store failure is raised by the recorder
            for row, error in doubted:
                await self.recorder.add(returned(row, f"{error} ({reason}; not counted)"))

    # pause for the relay

    async def pause_for_relay(self, error: DeliveryError, row: Any = None) -> None:
        """Hand the delivery (and every failure waiting for a verdict) back without
        spending an attempt; the first connection to see the relay down also hands back
        the queue, marks the mailings waiting and starts probing the relay."""
        doubted, self.doubted = self.doubted, []
        self.suspects.update(failed.id for failed, _ in doubted)
        for failed in ([row] if row is not None else []) + [failed for failed, _ in doubted]:
            reason = f"relay unavailable (not counted): {error.reply}"
            await self.recorder.add(returned(failed, reason))
        if not self.relay_up.is_set() or self.stopping:
            return
        self.relay_up.clear()
        self.summary.relay_pauses += 1
        if self.trouble is None:
            self.trouble = RelayTrouble(0.0, self.config.relay_backoff_seconds)
        trouble = self.trouble
        await self.hand_back()
        await self.in_store(set_paused, self.engine, True, self.mailing_id)
        self.background.add(asyncio.ensure_future(self.probe(trouble, error.reply)))

    async def probe(self, trouble: RelayTrouble, reason: str) -> None:
        """Wait with growing delays and try the relay again until it answers (sending
        resumes), or give up after `sender.relay_wait_seconds` of trouble."""
        config = self.config
        while True:
            delay = trouble.delay
            if trouble.waited + delay > config.relay_wait_seconds:
                log.warning("relay still unavailable (%s); deliveries stay pending", reason)
                self.give_up(reason)
                return
            log.warning(
                "relay unavailable: %s; sending paused, next try in %g s "
                "(no attempt is counted against the recipients)",
                reason,
                delay,
            )
            trouble.delay = min(delay * 2, max(RELAY_BACKOFF_MAX, config.relay_backoff_seconds))
            if not await self.wait_unless_stopped(delay):
                self.give_up(reason)
                return
            trouble.waited += delay
            failure = await self.try_relay()
            if failure is None:
                log.warning("relay answers again; sending resumed")
                await self.in_store(set_paused, self.engine, False, self.mailing_id)
                self.relay_up.set()
                return
            reason = failure

    async def wait_unless_stopped(self, delay: float) -> bool:
        """Sleep `delay` seconds in steps of one, checking `should_stop`; False if told to stop."""
        remaining = delay
        while remaining > 0:
            if self.should_stop() or self.stopping:
                return False
            await self.sleep(min(1.0, remaining))
            remaining -= 1.0
        return True

    async def try_relay(self) -> str | None:
        """Try the relay as a message would use it (connect, and MAIL FROM where the
        transport can ask it): None if it answers, else its reply."""
        transport = self.transport_factory()
        check = getattr(transport, "check", None)
        try:
            if check is not None:
                await check(self.settings.email.from_address)
            else:
                await transport.open()
        except RelayError as exc:
            return exc.reply
        finally:
            await transport.close()
        return None

    def give_up(self, reason: str) -> None:
        """Stop waiting for the relay: the run ends, its deliveries stay pending."""
        self.summary.paused = reason
        self.stopping = True
        self.relay_up.set()


def _doubtful(error: DeliveryError) -> bool:
    """A temporary refusal (4xx, or 552 at RCPT) at any step: the relay's trouble when
    every recipient gets it, one recipient's when the others go through."""
    return not error.permanent and error.code is not None


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
    run = SendRun(
        engine, settings, transport_factory, clock, mailing_id, on_result, should_stop, sleep
    )
    return await run.run()


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
