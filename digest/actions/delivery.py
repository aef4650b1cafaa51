"""Sending what is due: the sender run by `digest send`, the clock and the console, and
what the queue holds."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING

from digest.actions.common import Who, audit, require, run_async, utc_now

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from digest.config import Settings
    from digest.sender import Clock, Held, SendSummary
    from digest.transports import Transport


def transport_factory(settings: Settings) -> Callable[[], Transport]:
    """Makes the configured transport: SMTP when SMTP_URL is set, else the outbox."""
    from digest.transports import transport_for

    return lambda: transport_for(
        settings.smtp_url, settings.sender.outbox, settings.sender.timeout_seconds
    )


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
    from digest.sender import send_pending
    from digest.sender import utc_now as sender_clock

    return run_async(
        send_pending(
            engine,
            settings,
            factory or transport_factory(settings),
            clock=clock or sender_clock,
            mailing_id=mailing_id,
            on_result=on_result,
            should_stop=should_stop,
            sleep=sleep or asyncio.sleep,
        )
    )


def requeue(engine: Engine, mailing_id: int, who: Who, now: datetime | None = None) -> int:
    """Put a mailing's failed deliveries back in the queue (never to bounced or
    unsubscribed addresses); returns how many."""
    from digest.sender import requeue_failed

    now = now or utc_now()
    actor = require(who, "send")
    count = requeue_failed(engine, mailing_id, now)
    audit(engine, actor, "requeue", f"mailing {mailing_id}: {count} failed deliveries", now)
    return count


def queue_counts(engine: Engine, mailing_id: int | None = None) -> dict[str, int]:
    """Deliveries due now ('due') and waiting for a later retry ('later')."""
    from digest.sender import pending_count

    return pending_count(engine, utc_now(), mailing_id)


def held_by_others(engine: Engine, mailing_id: int | None = None) -> list[Held]:
    """Deliveries another sender holds under a lease, and when they will be retried."""
    from digest.sender import held_elsewhere

    return held_elsewhere(engine, utc_now(), mailing_id)
