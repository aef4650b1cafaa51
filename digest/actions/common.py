"""What every action shares: who is acting and what they may do, the one way an action
writes its audit entry, the store, the clock and the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.exc import OperationalError as StoreTrouble

from digest.errors import DigestError
from digest.store import connect, create_schema, record_audit
from digest.text import clean_line

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from digest.config import Settings
    from digest.staff import StaffMember

T = TypeVar("T")

ALL_RIGHTS = frozenset({"prepare", "send", "admin"})
NEEDED = {"admin": "an admin", "send": "a sender", "prepare": "a staff account"}
AUDIT_NAME_LIMIT = 200


class Forbidden(DigestError):
    """The actor's role does not carry the right an action needs."""


@dataclass(frozen=True)
class Actor:
    """Who does an operation: the name the audit log records, and the rights they hold."""

    name: str
    rights: frozenset[str] = ALL_RIGHTS
    role: str = "operator"
    email: str | None = None

    @classmethod
    def of(cls, member: StaffMember) -> Actor:
        """A staff account acting with its role's rights (none once it is removed)."""
        from digest.staff import RIGHTS

        rights = frozenset() if member.disabled else RIGHTS.get(member.role, frozenset())
        return cls(member.label, rights, member.role, member.email)

    @property
    def operator(self) -> bool:
        """Whether this is the OS user or the clock (a plain name), not a staff account."""
        return self.email is None and self.role == "operator"

    def can(self, right: str) -> bool:
        """Whether this actor may do what needs `right` ('prepare', 'send' or 'admin')."""
        return right in self.rights


Who = Actor | str
"""An action's actor: a staff account's Actor, or a plain name (the OS user at the command
line, the clock, a script), which acts with every right since it already reaches the store."""


def as_actor(who: Who) -> Actor:
    """The Actor for `who`, with its name cleaned the one way the audit log records names;
    DigestError when there is no name."""
    actor = Actor(who) if isinstance(who, str) else who
    name = clean_line(actor.name)[:AUDIT_NAME_LIMIT]
    if not name:
        raise DigestError("say who is acting (a name for the audit log)")
    return Actor(name, actor.rights, actor.role, actor.email)


def require(who: Who, right: str) -> Actor:
    """The actor, once it is known to carry `right`; Forbidden naming the role otherwise."""
    actor = as_actor(who)
    if not actor.can(right):
        raise Forbidden(f"role {actor.role} cannot do this; it needs {NEEDED[right]}")
    return actor


def audit(
    engine: Engine, who: Who, action: str, detail: str = "", now: datetime | None = None
) -> None:
    """Write one audit entry: who did what, and when."""
    record_audit(engine, as_actor(who).name, action, detail, now or utc_now())


def utc_now() -> datetime:
    """The current time in UTC, the store's time."""
    return datetime.now(UTC)


def open_store(settings: Settings) -> Engine:
    """Connect to the configured store, creating its tables if they are missing."""
    engine = connect(settings.database_url)
    create_schema(engine)
    return engine


def run_async(coroutine: Awaitable[T]) -> T:
    """Run a coroutine on uvloop when it is installed (it comes with uvicorn[standard]; the
    sender spends most of its time in the event loop), else on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)  # type: ignore[arg-type]
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)  # type: ignore[arg-type]


def local_time(settings: Settings, text: str, now: datetime | None = None) -> datetime:
    """A time typed by staff, in the newsroom's zone unless it says otherwise:
    'YYYY-MM-DD HH:MM', an ISO 8601 time with an offset, or 'HH:MM' for today."""
    raw = text.strip()
    zone = settings.timezone
    try:
        if len(raw) <= 5 and ":" in raw:
            hour, minute = (int(part) for part in raw.split(":"))
            today = (now or utc_now()).astimezone(zone).date()
            return datetime(today.year, today.month, today.day, hour, minute, tzinfo=zone)
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise DigestError(
            f"cannot read the time {text!r}: use 'YYYY-MM-DD HH:MM' (in {zone.key}) or 'HH:MM'"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


__all__ = ["StoreTrouble"]  # the store refused work (another writer's lock, gone, full)


class StoreUnwritable(DigestError):
    """The store could not be written (a full disk, a lost database); the message says
    what is safe and what to do."""


def writing(database_url: str, work: Callable[[], T]) -> T:
    """Run work that writes to the store; a store that cannot be written becomes
    StoreUnwritable saying that nothing stored before was lost, not a traceback."""
    from sqlalchemy.exc import OperationalError

    try:
        return work()
    except OperationalError as exc:
        reason = str(exc.orig or exc).strip().splitlines()[0]
        raise StoreUnwritable(
            f"the store {redacted(database_url)} could not be written: "
            f"{reason}. Nothing stored before was lost: the unfinished change was rolled "
            "back, and deliveries not recorded as sent are sent again by the next "
            "`digest send`. Free space (or fix the database) and run the command again."
        ) from None


def redacted(url: str) -> str:
    """A store URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
