"""Rate limits kept in the store, so that they hold across web processes and machines.

Each limit is one row per bucket holding a "theoretical arrival time" (the generic cell
rate algorithm): `limit` events per `window` seconds, spread over a sliding window, with no
burst beyond `limit`. One conditional UPDATE per event, atomic on SQLite and PostgreSQL.
The bucket's key is hashed, so the table holds no addresses.
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from digest.store import rate_limits


@dataclass(frozen=True)
class Limit:
    """At most `limit` events per `window` seconds for one kind of bucket."""

    kind: str
    limit: int
    window: float


SUBSCRIBE_PER_CLIENT = Limit("subscribe-client", 10, 600)
CONFIRM_PER_ADDRESS = Limit("confirm-address", 1, 3600)
NOTICE_PER_ADDRESS = Limit("notice-address", 1, 86400)
LINK_USED = Limit("link-used", 1, 60 * 86400)
TEST_SEND_PER_PERSON = Limit("test-send-person", 10, 600)
PRUNE_CHANCE = 0.02


def bucket(kind: str, key: str) -> str:
    """The stored name of a bucket: its kind and a hash of its key."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return f"{kind}:{digest}"


def hit(engine: Engine, rule: Limit, key: str, now: float) -> float:
    """Count one event for `key` under `rule`: 0.0 when it is allowed (and counted), else
    the seconds to wait before the next one would be allowed (nothing is counted)."""
    name = bucket(rule.kind, key)
    interval_ms = max(1, int(rule.window * 1000 / rule.limit))
    window_ms = int(rule.window * 1000)
    now_ms = int(now * 1000)
    insert = postgresql_insert if engine.dialect.name == "postgresql" else sqlite_insert
    if random.random() < PRUNE_CHANCE:
        prune(engine, now)
    for _ in range(20):
        with engine.begin() as conn:
            tat = conn.execute(select(rate_limits.c.tat).where(rate_limits.c.bucket == name))
            stored = tat.scalar()
            if stored is None:
                added = conn.execute(
                    insert(rate_limits)
                    .values(bucket=name, tat=now_ms + interval_ms)
                    .on_conflict_do_nothing(index_elements=["bucket"])
                    .returning(rate_limits.c.bucket)
                )
                if added.first() is not None:
                    return 0.0
                continue
            new = max(stored, now_ms) + interval_ms
            if new - now_ms > window_ms:
                return (new - now_ms - window_ms) / 1000
            moved = conn.execute(
                rate_limits.update()
                .where(rate_limits.c.bucket == name, rate_limits.c.tat == stored)
                .values(tat=new)
                .returning(rate_limits.c.bucket)
            )
            if moved.first() is not None:
                return 0.0
    return interval_ms / 1000


def prune(engine: Engine, now: float) -> int:
    """Drop buckets whose events have all left their window (they allow everything)."""
    with engine.begin() as conn:
        done = conn.execute(rate_limits.delete().where(rate_limits.c.tat < int(now * 1000)))
        return done.rowcount


def client_key(host: str | None) -> str:
    """The rate-limit key of a client address: IPv4 as is, IPv6 by its /64 (one household
    or server gets a whole /64), anything else as given."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:100]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)
