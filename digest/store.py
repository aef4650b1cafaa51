"""The item store: SQLAlchemy Core schema and queries, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from difflib import SequenceMatcher
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    and_,
    bindparam,
    case,
    column,
    create_engine,
    event,
    false,
    func,
    or_,
    select,
    table,
    text,
    true,
    type_coerce,
    union,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.sql.elements import ColumnElement

from digest.model import Article, Contact, Document, IngestCounts, Item
from digest.text import clean_line, clean_text

FINGERPRINT_PREFIX = "sha256:"
CLOSE_RATIO = 0.8
KEY_BATCH = 500


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the store")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


metadata = MetaData()


def _default_page(context: Any) -> str:
    """A new item's page name, from its key and its first title (digest.links.page_name)."""
    from digest.links import page_name

    values = context.get_current_parameters()
    return page_name(values["key"], values["title"])


items = Table(
    "items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(1000), nullable=False, unique=True),
    Column("source", String(200), nullable=False, default=""),
    Column("type", String(100)),
    Column("title", Text, nullable=False),
    Column("summary", Text),
    Column("url", Text),
    Column("image_caption", Text),
    Column("categories", Text, nullable=False, default="[]"),
    Column("published", UTCDateTime, nullable=False),
    Column("updated", UTCDateTime, nullable=False),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("page", String(100), nullable=False, default=_default_page),
    Column("image_url", Text),
    Column("embargo_until", UTCDateTime),
    Column("undated", Boolean, nullable=False, default=False, server_default=false()),
    Column("month_only", Boolean, nullable=False, default=False, server_default=false()),
    Index("ix_items_published", "published", "id"),
    Index("ix_items_page", "page", unique=True),
    Index("ix_items_type_published", "type", "published", "id"),
    Index("ix_items_source_published", "source", "published"),
    Index("ix_items_embargo", "embargo_until"),
    Index("ix_items_first_seen", "first_seen"),
    Index("ix_items_updated", "updated"),
)

sources = Table(
    "sources",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("polled_at", UTCDateTime),
    Column("result", Text),
    Column("read_ok_at", UTCDateTime),
)

CONTENT_FIELDS = ("title", "summary", "url", "image_caption", "type", "categories", "published")
CONTENT_FIELDS += ("image_url",)


def connect(url: str, busy_seconds: float = 30.0) -> Engine:
    """An engine for the database URL; for SQLite the folder is created, WAL journaling and
    a busy timeout set so a reader never blocks the writer (a writer waits `busy_seconds` for
    another's write lock before "database is locked")."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout={int(busy_seconds * 1000)}")  # WAL needs it
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def impatient(engine: Engine, busy_seconds: float) -> Engine:
    """An engine on the same store that waits at most `busy_seconds` for another writer's
    lock (the web answers "try again" rather than keep a reader waiting): SQLite's busy
    timeout, PostgreSQL's lock_timeout (unless DATABASE_URL sets one). In-memory SQLite is
    returned unchanged."""
    url = engine.url
    if url.get_backend_name() == "postgresql":
        options = str(url.query.get("options", ""))
        if "lock_timeout" in options:
            return engine
        wait = f"-c lock_timeout={int(busy_seconds * 1000)}"
        url = url.update_query_dict({"options": f"{options} {wait}".strip()})
        return create_engine(url, pool_pre_ping=True)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return engine
    return connect(url.render_as_string(hide_password=False), busy_seconds)


def store_busy(exc: BaseException) -> bool:
    """True when a store error is another writer's lock: SQLite's "database is locked", a
    PostgreSQL lock or statement timeout; a moment later the same work can succeed."""
    from sqlalchemy.exc import OperationalError

    if not isinstance(exc, OperationalError):
        return False
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code in ("55P03", "57014", "40P01") or "locked" in str(exc.orig).lower()


BASELINE_REVISION = "0001_baseline"


def _alembic_config(connection: Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "digest:migrations")
    config.attributes["connection"] = connection
    return config


def create_schema(engine: Engine) -> None:
    """Create or upgrade the store's tables with the Alembic migrations (the `release` step of
    a deployment). A database written before migrations existed is recognised by its tables
    and stamped as the baseline first, so its rows are kept and only later changes run. The
    work is done under a lock (an advisory lock on PostgreSQL, BEGIN IMMEDIATE on SQLite), so
    two commands started at once on a new store do not both create it: the second waits, then
    finds the schema ready."""
    if _schema_current(engine):
        return
    with _MIGRATING, engine.begin() as conn:
        _lock_schema(conn)
        _migrate(conn)


_MIGRATING = threading.Lock()  # Alembic keeps its running context in module globals
_SCHEMA_LOCK = "digest-schema:"


def _schema_current(engine: Engine) -> bool:
    """True when the store is already at the newest revision (the common case, no lock)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        head = ScriptDirectory.from_config(_alembic_config(conn)).get_current_head()
    return current is not None and current == head


def _lock_schema(conn: Connection) -> None:
    """Hold the store's schema lock until this transaction ends: on PostgreSQL a transaction
    advisory lock named after the schema, on SQLite the write lock (BEGIN IMMEDIATE), which
    also makes the DDL that follows one transaction (pysqlite would autocommit it)."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:name || current_schema()))"),
            {"name": _SCHEMA_LOCK},
        )
    elif conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _migrate(conn: Connection) -> None:
    """Run the migrations still missing, on a connection that holds the schema lock."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import inspect

    config = _alembic_config(conn)
    current = MigrationContext.configure(conn).get_current_revision()
    if current == ScriptDirectory.from_config(config).get_current_head():
        return
    if current is None and inspect(conn).has_table("items"):
        command.stamp(config, BASELINE_REVISION)
    command.upgrade(config, "head")


def _row_values(item: Item) -> dict[str, Any]:
    """Column values of an item; text is cleaned here too, so no source can store a NUL."""
    return {
        "key": item.key,
        "source": item.source,
        "type": item.type,
        "title": clean_line(item.title),
        "summary": item.summary and clean_text(item.summary),
        "url": item.url,
        "image_caption": item.image_caption and clean_text(item.image_caption),
        "image_url": item.image,
        "categories": json.dumps(list(item.categories), ensure_ascii=False),
        "published": item.published,
        "undated": item.undated,
        "month_only": item.month_only,
    }


def item_from_row(row: Any, corrections: tuple[str, ...] = ()) -> Item:
    """An Item from a row of the items table (with its correction notes, when read)."""
    values = row._mapping
    return Item(
        key=values["key"],
        title=values["title"],
        published=values["published"],
        type=values["type"],
        summary=values["summary"],
        url=values["url"],
        image_caption=values["image_caption"],
        source=values["source"],
        updated=values["updated"],
        categories=_categories(values["categories"]),
        page=values["page"],
        image=values["image_url"],
        first_seen=values["first_seen"],
        embargo_until=values.get("embargo_until"),
        undated=bool(values.get("undated", False)),
        month_only=bool(values.get("month_only", False)),
        corrections=corrections,
    )


@lru_cache(maxsize=4096)
def _categories(stored: str) -> tuple[str, ...]:
    """The categories column (a JSON list) as a tuple; few distinct lists, read often."""
    return tuple(json.loads(stored))


def _same_content(stored: dict[str, Any], incoming: dict[str, Any]) -> bool:
    return all(stored[name] == incoming[name] for name in CONTENT_FIELDS)


def upsert_items(engine: Engine, new_items: Iterable[Item], now: datetime) -> IngestCounts:
    """Store items by key, in one transaction. An item seen before with the same content
    changes nothing; with changed content it is updated and its `updated` time bumped, its
    key and id kept. An item with no URL or GUID whose title was edited is recognised by its
    source, date and summary (or a close title), and keeps its key too. When the batch holds
    several versions of one item (snapshots in order), the last one wins. An `undated` item
    keeps the date it was first stored with, so it is not "updated" on every later day."""
    incoming = list(new_items)
    with engine.begin() as conn:
        stored = _rows_by_key(conn, list({item.key for item in incoming}))
        latest: dict[str, Item] = {}
        for item in incoming:
            fingerprinted = item.key.startswith(FINGERPRINT_PREFIX)
            if fingerprinted and item.key not in stored and item.key not in latest:
                original = _edited_original(conn, item, latest)
                if original is not None:
                    item = replace(item, key=original)
            latest.pop(item.key, None)
            latest[item.key] = item
        stored |= _rows_by_key(conn, [key for key in latest if key not in stored])
        counts = IngestCounts()
        amended = set(
            conn.execute(select(amendments.c.item_id).where(amendments.c.active)).scalars()
        )
        for position, item in enumerate(latest.values()):
            # one microsecond apart in page order: no two items share a first-seen or edit time
            stamp = now + timedelta(microseconds=position)
            values = _row_values(item)
            row = stored.get(item.key)
            if item.embargo_until is not None:
                values["embargo_until"] = item.embargo_until
            if row is not None and item.undated:
                values["published"] = row["published"]
            if row is not None and row["id"] in amended:
                keep_amendments(conn, row, values)
            if row is None:
                values |= {"updated": item.updated or item.published, "first_seen": stamp}
                conn.execute(items.insert().values(**values))
                counts += IngestCounts(new=1, changed_types=frozenset({item.type}))
            elif _same_content(row, values):
                counts += IngestCounts(unchanged=1)
                if "embargo_until" in values and values["embargo_until"] != row["embargo_until"]:
                    conn.execute(
                        items.update()
                        .where(items.c.key == item.key)
                        .values(embargo_until=values["embargo_until"])
                    )
            else:
                values["updated"] = max(stamp, item.published)
                conn.execute(items.update().where(items.c.key == item.key).values(**values))
                record_change(conn, row, values, now)
                counts += IngestCounts(updated=1, changed_types=frozenset({item.type, row["type"]}))
    return counts


def _rows_by_key(conn: Connection, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(keys), KEY_BATCH):
        batch = keys[start : start + KEY_BATCH]
        for row in conn.execute(select(items).where(items.c.key.in_(batch))).mappings():
            found[row["key"]] = dict(row)
    return found


def _edited_original(conn: Connection, item: Item, batch: dict[str, Item]) -> str | None:
    """The key of a fingerprint-keyed item, stored or earlier in this batch, that this one
    is an edit of: same source and date, and the same summary or a title that differs
    only a little."""
    query = select(items.c.key, items.c.title, items.c.summary).where(
        items.c.source == item.source,
        items.c.published == item.published,
        items.c.key.like(FINGERPRINT_PREFIX + "%"),
    )
    candidates = [(row.key, row.title, row.summary) for row in conn.execute(query)]
    candidates += [
        (other.key, other.title, other.summary)
        for other in batch.values()
        if other.source == item.source
        and other.published == item.published
        and other.key.startswith(FINGERPRINT_PREFIX)
    ]
    for key, title, summary in candidates:
        if item.summary is not None and summary == item.summary:
            return key
        if _close(title, item.title) and _close(summary or "", item.summary or ""):
            return key
    return None


def _close(old: str, new: str) -> bool:
    return SequenceMatcher(None, old.casefold(), new.casefold()).ratio() >= CLOSE_RATIO


def publishable(now: datetime | ColumnElement[Any] | None = None) -> ColumnElement[bool]:
    """The one gate for what is public: the condition an item must meet to appear in any feed,
    page, archive, search result or email at `now` (embargoes and removals apply here, and
    nowhere else). An item under embargo is not publishable until its embargo lifts."""
    at = datetime.now(UTC) if now is None else now
    return or_(items.c.embargo_until.is_(None), items.c.embargo_until <= at)


def latest_items(
    engine: Engine,
    item_type: str | None,
    limit: int,
    now: datetime | None = None,
    public: bool = True,
) -> list[Item]:
    """The newest `limit` items, of one type or (type None) of all, newest first; only
    publishable ones unless `public` is False (the staff console sees embargoed items)."""
    query = select(items).order_by(items.c.published.desc(), items.c.id.desc()).limit(limit)
    if public:
        query = query.where(publishable(now or datetime.now(UTC)))
    if item_type is not None:
        query = query.where(items.c.type == item_type)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        notes: dict[int, list[str]] = {}
        if rows:
            found = conn.execute(
                select(corrections.c.item_id, corrections.c.note)
                .where(corrections.c.item_id.in_([row.id for row in rows]))
                .order_by(corrections.c.at, corrections.c.id)
            )
            for item_id, note in found:
                notes.setdefault(item_id, []).append(note)
    return [item_from_row(row, tuple(notes.get(row.id, ()))) for row in rows]


def find_item(engine: Engine, key_or_url: str) -> Item | None:
    """The item with this key, or else with this URL."""
    with engine.connect() as conn:
        for column in (items.c.key, items.c.url):
            row = conn.execute(select(items).where(column == key_or_url).limit(1)).first()
            if row is not None:
                return item_from_row(row)
    return None


def find_item_by_entry_hash(engine: Engine, entry_hash: str) -> Item | None:
    """The item whose feed entry id ends in this hash (the first 32 hex digits of the
    SHA-256 of its key): items without a URL have no other handle outside the store."""
    import hashlib

    with engine.connect() as conn:
        keys = conn.execute(select(items.c.key)).scalars().all()
    for key in keys:
        if hashlib.sha256(key.encode()).hexdigest()[:32] == entry_hash:
            return find_item(engine, key)
    return None


def count_items(engine: Engine) -> dict[str | None, int]:
    """How many items are stored, per type."""
    query = select(items.c.type, func.count()).group_by(items.c.type)
    with engine.connect() as conn:
        return {item_type: count for item_type, count in conn.execute(query)}


def source_state(engine: Engine, name: str) -> dict[str, Any] | None:
    """What the store remembers of a source's last poll."""
    with engine.connect() as conn:
        row = conn.execute(select(sources).where(sources.c.name == name)).mappings().first()
        return dict(row) if row else None


def record_poll(engine: Engine, name: str, values: dict[str, Any]) -> None:
    """Remember a source's last poll: when, what it gave, and its HTTP validators; a poll
    that did not fail is also its last successful read."""
    if values.get("polled_at") and not str(values.get("result") or "").startswith("error"):
        values = {**values, "read_ok_at": values["polled_at"]}
    with engine.begin() as conn:
        updated = conn.execute(sources.update().where(sources.c.name == name).values(**values))
        if updated.rowcount == 0:
            conn.execute(sources.insert().values(name=name, **values))


subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("name", Text, nullable=False, default=""),
    Column("outlet", Text, nullable=False, default=""),
    Column("types_key", String(1000), nullable=False, default="*"),
    Column("weekly", Boolean, nullable=False, default=True),
    Column("breaking", Boolean, nullable=False, default=True),
    Column("status", String(20), nullable=False, default="pending"),
    Column("created", UTCDateTime, nullable=False),
    Column("updated", UTCDateTime, nullable=False),
    Column("cadence", String(10), nullable=False, default="weekly", server_default="weekly"),
    # may receive embargoed material (set by an admin), and the named groups it belongs to
    # server defaults only: an insert names them only when it sets them (a store still
    # below migration 0012 takes the same inserts)
    Column("embargo", Boolean, nullable=False, server_default=false()),
    Column("press_groups", Text, nullable=False, server_default=""),
    Index("ix_subscribers_status", "status", "types_key"),
)
# One address is one subscriber whatever its letter case (migration 0003_sender_identity).
Index("ux_subscribers_email_lower", func.lower(subscribers.c.email), unique=True)

mailings = Table(
    "mailings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False),
    Column("ident", String(1200), nullable=False, unique=True),
    Column("item_key", String(1000)),
    Column("period_start", UTCDateTime),
    Column("period_end", UTCDateTime),
    Column("subject", Text, nullable=False, default=""),
    Column("status", String(20), nullable=False),
    Column("created", UTCDateTime, nullable=False),
    Column("send_after", UTCDateTime),
    Column("requested_by", String(200)),
    Column("approved_by", String(200)),
    Column("paused_by", String(200)),
    Column("paused_at", UTCDateTime),
)

mailing_bodies = Table(
    "mailing_bodies",
    metadata,
    Column("mailing_id", Integer, ForeignKey("mailings.id"), primary_key=True),
    Column("types_key", String(1000), primary_key=True),
    Column("subject", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("text", Text, nullable=False),
)

mailing_items = Table(
    "mailing_items",
    metadata,
    Column("mailing_id", Integer, ForeignKey("mailings.id"), primary_key=True),
    Column("item_id", Integer, ForeignKey("items.id"), primary_key=True),
    Index("ix_mailing_items_item", "item_id"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("mailing_id", Integer, ForeignKey("mailings.id"), nullable=False),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), nullable=False),
    Column("email", String(320), nullable=False),
    Column("name", Text, nullable=False, default=""),
    Column("types_key", String(1000), nullable=False),
    Column("status", String(20), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt", UTCDateTime, nullable=False),
    Column("claimed_by", String(200)),
    Column("lease_until", UTCDateTime),
    Column("reply", Text),
    Column("sent_at", UTCDateTime),
    # one row per mailing and subscriber; a subscriber merged from case-duplicate addresses
    # (migration 0003_sender_identity) keeps both rows of a mailing, each with its address
    UniqueConstraint(
        "mailing_id", "subscriber_id", "email", name="uq_deliveries_mailing_subscriber_email"
    ),
    Index("ix_deliveries_due", "status", "next_attempt"),
    Index("ix_deliveries_mailing", "mailing_id", "status"),
)


embargo_links = Table(
    "embargo_links",
    metadata,
    Column("mailing_id", Integer, ForeignKey("mailings.id"), primary_key=True),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), primary_key=True),
    Column("item_id", Integer, ForeignKey("items.id"), nullable=False),
    Column("revoked_at", UTCDateTime),
    Column("revoked_by", String(200)),
    Column("first_opened", UTCDateTime),
    Column("last_opened", UTCDateTime),
    Column("opens", Integer, nullable=False, default=0, server_default="0"),
    Index("ix_embargo_links_subscriber", "subscriber_id"),
)
"""One private link per recipient of an embargoed send: revoked or not, when it was opened
(no addresses are kept)."""

leases = Table(
    "leases",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires", UTCDateTime, nullable=False),
)


def acquire_lease(engine: Engine, name: str, holder: str, now: datetime, seconds: float) -> bool:
    """Take or renew a named lease; True when `holder` has it until now + seconds. A lease
    whose holder stopped renewing it is free once it expires."""
    expires = now + timedelta(seconds=seconds)
    with engine.begin() as conn:
        taken = conn.execute(
            leases.update()
            .where(leases.c.name == name, or_(leases.c.holder == holder, leases.c.expires < now))
            .values(holder=holder, expires=expires)
        )
        if taken.rowcount:
            return True
        insert = postgresql_insert if engine.dialect.name == "postgresql" else sqlite_insert
        conn.execute(
            insert(leases)
            .values(name=name, holder=holder, expires=expires)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        current = select(leases.c.holder).where(leases.c.name == name)
        return conn.execute(current).scalar() == holder


def release_lease(engine: Engine, name: str, holder: str) -> None:
    """Give a lease up at once (a clean shutdown), if `holder` has it."""
    with engine.begin() as conn:
        conn.execute(leases.delete().where(leases.c.name == name, leases.c.holder == holder))


def items_stamp(engine: Engine, now: datetime | None = None) -> tuple[Any, ...]:
    """A cheap fingerprint of the item store that changes whenever an item is added or
    edited, or an embargo lifts: how the web process notices that its feed files are stale."""
    lifted = items.c.embargo_until <= (now or datetime.now(UTC))
    embargoed = items.c.embargo_until.is_not(None)
    parts = (  # each its own subquery, so that each is answered from an index
        select(func.count()).select_from(items),
        select(func.max(items.c.updated)),
        select(func.max(items.c.first_seen)),
        select(func.count()).where(embargoed, lifted),
        select(func.count()).where(embargoed),
    )
    query = select(*(part.scalar_subquery() for part in parts))
    with engine.connect() as conn:
        return tuple(conn.execute(query).one())


audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(100), nullable=False),
    Column("detail", Text, nullable=False, default=""),
)


def record_audit(engine: Engine, actor: str, action: str, detail: str, now: datetime) -> None:
    """Remember who did what from the staff console, and when."""
    with engine.begin() as conn:
        conn.execute(audit.insert().values(at=now, actor=actor, action=action, detail=detail))


def audit_log(engine: Engine, limit: int = 200) -> list[Any]:
    """The newest audit entries first."""
    with engine.connect() as conn:
        query = select(audit).order_by(audit.c.id.desc()).limit(limit)
        return list(conn.execute(query).mappings())


def all_sources(engine: Engine) -> list[Any]:
    """What the store remembers of every source's last poll."""
    with engine.connect() as conn:
        return list(conn.execute(select(sources).order_by(sources.c.name)).mappings())


staff = Table(
    "staff",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("name", String(200), nullable=False, default=""),
    Column("role", String(20), nullable=False),
    Column("password_hash", Text),
    Column("setup_token_hash", String(64)),
    Column("setup_expires", UTCDateTime),
    Column("totp_secret", String(64)),
    Column("totp_required", Boolean, nullable=False, default=False),
    Column("totp_last", Integer),
    Column("created", UTCDateTime, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
)

staff_sessions = Table(
    "staff_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("staff_id", Integer, ForeignKey("staff.id"), nullable=False),
    Column("created", UTCDateTime, nullable=False),
    Column("expires", UTCDateTime, nullable=False),
    Index("ix_staff_sessions_staff", "staff_id"),
)

signin_failures = Table(
    "signin_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scope", String(400), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_signin_failures_scope", "scope", "at"),
)


# Public reads for the site and the feeds: each goes through publishable(now).


def public_items(
    engine: Engine,
    now: datetime,
    item_type: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[Item]:
    """Publishable items with their correction notes, of one type or all, newest first;
    optionally published in [start, end), paged by limit and offset."""
    query = select(items).where(publishable(now))
    if item_type is not None:
        query = query.where(items.c.type == item_type)
    if start is not None:
        query = query.where(items.c.published >= start)
    if end is not None:
        query = query.where(items.c.published < end)
    query = query.order_by(items.c.published.desc(), items.c.id.desc()).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        notes: dict[int, list[str]] = {}
        for start in range(0, len(rows), KEY_BATCH):
            batch = [row.id for row in rows[start : start + KEY_BATCH]]
            found = conn.execute(
                select(corrections.c.item_id, corrections.c.note)
                .where(corrections.c.item_id.in_(batch))
                .order_by(corrections.c.at, corrections.c.id)
            )
            for item_id, note in found:
                notes.setdefault(item_id, []).append(note)
    return [item_from_row(row, tuple(notes.get(row.id, ()))) for row in rows]


def count_public_items(
    engine: Engine, now: datetime, item_type: str | None, start: datetime, end: datetime
) -> int:
    """How many publishable items (of one type, or all) were published in [start, end)."""
    query = select(func.count()).select_from(items).where(publishable(now))
    query = query.where(items.c.published >= start, items.c.published < end)
    if item_type is not None:
        query = query.where(items.c.type == item_type)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def public_item_by_page(engine: Engine, now: datetime, page_hash: str) -> Item | None:
    """The publishable item whose page name starts with this hash."""
    # a range on the unique index: the name itself and "<hash>-…" ("." follows "-")
    query = select(items).where(
        items.c.page >= page_hash, items.c.page < page_hash + ".", publishable(now)
    )
    with engine.connect() as conn:
        row = conn.execute(query.limit(1)).first()
    return item_from_row(row) if row else None


def public_time_stats(
    engine: Engine, now: datetime, minutes: bool = False
) -> list[tuple[str | None, str, Any, Any, int]]:
    """(type, UTC hour (or minute) as "YYYY-MM-DD HH[:MM]", latest edit, latest first-seen,
    count) of publishable
    items, grouped in the database by type and hour of publication: what archive months
    and their counts are made from, in one query whose rows do not grow with items
    published in the same hour. The two latest times come as the driver gives them."""
    if engine.dialect.name == "postgresql":
        bucket = func.to_char(
            items.c.published, "YYYY-MM-DD HH24:MI" if minutes else "YYYY-MM-DD HH24"
        )
    else:
        bucket = func.substr(items.c.published, 1, 16 if minutes else 13)
    query = (
        select(
            items.c.type,
            bucket,
            type_coerce(func.max(items.c.updated), String),
            type_coerce(func.max(items.c.first_seen), String),
            func.count(),
        )
        .where(publishable(now))
        .group_by(items.c.type, bucket)
    )
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query)]  # type: ignore[misc]


def public_changes_since(
    engine: Engine, now: datetime, since: datetime
) -> list[tuple[str, str | None, datetime]]:
    """(page, type, published) of publishable items first seen, edited or released from an
    embargo after `since`."""
    columns = (items.c.page, items.c.type, items.c.published)
    released = items.c.embargo_until
    query = union(  # one branch per change, each a range on its own index
        *(
            select(*columns).where(column > since, publishable(now))
            for column in (items.c.updated, items.c.first_seen)
        ),
        # released in (since, now]: said as a range, so the planner does not walk every
        # item without an embargo (publishable's IS NULL) to find a handful
        select(*columns).where(released > since, released <= now),
    )
    with engine.connect() as conn:
        return [(row.page, row.type, row.published) for row in conn.execute(query)]


def edited_since(engine: Engine, now: datetime, since: datetime) -> bool:
    """Whether a publishable item seen before `since` was edited after it (its date may
    have moved; an item still withheld counts when it is released)."""
    query = select(items.c.id).where(
        items.c.updated > since, items.c.first_seen <= since, publishable(now)
    )
    with engine.connect() as conn:
        return conn.execute(query.limit(1)).first() is not None


def public_month_stats(
    engine: Engine, now: datetime, start: datetime, end: datetime
) -> list[tuple[str | None, Any, Any, int]]:
    """(type, latest edit, latest first-seen, count) of the publishable items published in
    [start, end): one archive month counted again, on the index of publication times."""
    query = (
        select(
            items.c.type,
            func.max(items.c.updated),
            func.max(items.c.first_seen),
            func.count(),
        )
        .where(items.c.published >= start, items.c.published < end, publishable(now))
        .group_by(items.c.type)
    )
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query)]  # type: ignore[misc]


def withheld_pages(engine: Engine, now: datetime) -> list[tuple[str, str | None, datetime]]:
    """(page, type, published) of items that are not publishable now (the same one
    condition, negated): their static pages must not exist."""
    # only an embargo still to lift withholds an item: the index on embargo_until finds them
    withheld = and_(items.c.embargo_until > now, ~publishable(now))
    query = select(items.c.page, items.c.type, items.c.published).where(withheld)
    with engine.connect() as conn:
        return [(row.page, row.type, row.published) for row in conn.execute(query)]


def iter_public_items(
    engine: Engine, now: datetime, pages: Iterable[str] | None = None
) -> Iterator[Item]:
    """Every publishable item (or those with these page names), streamed."""
    query = select(items).where(publishable(now))
    if pages is None:
        with engine.connect() as conn:
            for row in conn.execution_options(stream_results=True, yield_per=1000).execute(query):
                yield item_from_row(row)
        return
    wanted = list(pages)
    with engine.connect() as conn:
        for start in range(0, len(wanted), KEY_BATCH):
            batch = wanted[start : start + KEY_BATCH]
            for row in conn.execute(query.where(items.c.page.in_(batch))):
                yield item_from_row(row)


SEARCH_OBJECTS = ("items_fts",)
SEARCH_WORDS_MAX = 8
SEARCH_QUERY_MAX = 1000


def declared_in_metadata(obj: Any, name: str | None, type_: str, *args: Any) -> bool:
    """Alembic's include_object: the full-text search objects (an FTS5 table and its shadow
    tables on SQLite, a GIN expression index on PostgreSQL) live only in migrations."""
    return not (name or "").startswith(SEARCH_OBJECTS)


def _word_character(char: str) -> bool:
    """A letter or digit that every full-text tokenizer reads as part of a word (assigned
    in Unicode 3.2, older than the tables of SQLite's unicode61)."""
    return unicodedata.ucd_3_2_0.category(char)[0] in "LN"


def search_words(query: str) -> list[str]:
    """The words of a search box entry, lower-cased: everything else (quotes, operators,
    column filters, underscores) separates words, so no input reaches the full-text
    syntax and each word is one token (the SQLite index keeps no positions for phrases)."""
    spaced = "".join(c if _word_character(c) else " " for c in query[:SEARCH_QUERY_MAX])
    return spaced.lower().split()[:SEARCH_WORDS_MAX]


# The search index (built in migrations, kept in step by triggers): SQLite FTS5 rows whose
# rowid is the published second * 2**31 + the item id, PostgreSQL stored tsvectors by date.
SEARCH_ID_BITS = 2**31 - 1
SEARCH_COUNT_MAX = 1000
SEARCH_PREFIX_MAX = 16  # the longest prefix the SQLite index holds; longer words are cut
_sqlite_index = table("items_fts", column("rowid"))
_postgresql_index = table("items_fts", column("item_id"), column("published"), column("document"))


def _search_terms(dialect: str, words: list[str]) -> str:
    """The full-text query for `words`, every one as a prefix and all of them required."""
    if dialect == "postgresql":
        return " & ".join(f"{word}:*" for word in words)
    return " ".join(f'"{word[:SEARCH_PREFIX_MAX]}"*' for word in words)


@cache
def _search_statements(dialect: str) -> tuple[Any, Any]:
    """Two statements over the index, built once per database (bound to terms, now, limit
    and offset), under the one gate. SQLite: a results page that walks the index's date
    order and stops at its end, and the capped count, which reads only the index and skips
    the items the gate holds back now (few, found by the embargo index). PostgreSQL: a
    page that walks the date index checking each stored tsvector (for common words), and
    one that sorts and counts the few matches GIN finds (for rare words)."""
    now = bindparam("now", type_=UTCDateTime)
    if dialect == "postgresql":
        index = _postgresql_index
        match = index.c.document.op("@@")(func.to_tsquery("simple", bindparam("terms")))
        walk = _search_page(index, index.c.item_id, match, now)
        order = (index.c.published.desc(), index.c.item_id.desc())
        found = select(index).where(match).cte("found").prefix_with("MATERIALIZED")
        few = _search_page(found, found.c.item_id, true(), now)
        few = few.add_columns(func.count().over().label("total"))
        few = few.order_by(found.c.published.desc(), found.c.item_id.desc())
        return walk.order_by(*order), few
    index = _sqlite_index
    item_id = index.c.rowid.op("&")(SEARCH_ID_BITS)
    match = text("items_fts MATCH :terms")
    page = _search_page(index, item_id, match, now).order_by(index.c.rowid.desc())
    held = select(items.c.id).where(items.c.embargo_until > now, ~publishable(now))
    matched = select(item_id).where(match, item_id.not_in(held))
    count = select(func.count()).select_from(matched.limit(SEARCH_COUNT_MAX + 1).subquery())
    return page, count


def _search_page(index: Any, item_id: Any, match: Any, now: Any) -> Any:
    """Publishable items joined to the index rows that match, one page of them."""
    return (
        select(items)
        .select_from(index)
        .join(items, items.c.id == item_id)
        .where(match, publishable(now))
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )


SEARCH_ESTIMATE = text(
    "EXPLAIN (FORMAT JSON) SELECT 1 FROM items_fts WHERE document @@ to_tsquery('simple', :terms)"
)
SEARCH_WALK_ROWS = 2 * SEARCH_COUNT_MAX


def search_items(
    engine: Engine, now: datetime, query: str, limit: int, offset: int = 0
) -> tuple[list[Item], int]:
    """Publishable items whose title, summary or full text has every word of the query
    (each as a prefix), newest first, and how many were found, counted no further than
    SEARCH_COUNT_MAX + 1 (more means "over a thousand"). The index walks the matches by
    date and stops at the page's end, so a common word costs what a rare one does."""
    words = search_words(query)
    if not words:
        return [], 0
    dialect = engine.dialect.name
    statements = _search_statements(dialect)
    values = {"terms": _search_terms(dialect, words), "now": now}
    bounds = {"limit": limit, "offset": offset}
    with engine.connect() as conn:
        if dialect == "postgresql":
            return _search_postgresql(conn, *statements, values | bounds)
        page, count = statements
        found = [item_from_row(row) for row in conn.execute(page, values | bounds)]
        if offset == 0 and len(found) < limit:
            return found, len(found)
        total = conn.execute(count, values).scalar_one()
    return found, max(total, offset + len(found)) if found else total


SEARCH_PLAN_SECONDS = 300.0
SEARCH_PLANS_KEPT = 1024


def _walks_dates(conn: Connection, terms: str) -> bool:
    """Whether PostgreSQL's planner expects at least SEARCH_WALK_ROWS matches (its estimate
    from the index's statistics), kept SEARCH_PLAN_SECONDS on each pooled connection: the
    estimate moves only with the statistics, and asking costs a round trip and a plan."""
    plans = conn.info.setdefault("search_plans", {})
    key, now = (terms, SEARCH_WALK_ROWS), time.monotonic()
    known = plans.get(key)
    if known is not None and now - known[0] < SEARCH_PLAN_SECONDS:
        return known[1]
    plan = conn.execute(SEARCH_ESTIMATE, {"terms": terms}).scalar_one()
    walks = plan[0]["Plan"]["Plan Rows"] >= SEARCH_WALK_ROWS
    if len(plans) >= SEARCH_PLANS_KEPT:
        plans.clear()
    plans[key] = (now, walks)
    return walks


def _search_postgresql(
    conn: Connection, walk: Any, few: Any, values: dict[str, Any]
) -> tuple[list[Item], int]:
    """PostgreSQL's results page: the planner's estimate of the matches (from the index's
    statistics) chooses between walking the date index, when at least SEARCH_WALK_ROWS
    match and so "over a thousand" is said without counting, and sorting the few matches
    GIN finds, counted exactly."""
    if _walks_dates(conn, values["terms"]):
        found = [item_from_row(row) for row in conn.execute(walk, values)]
        return found, max(SEARCH_COUNT_MAX + 1, values["offset"] + len(found))
    rows = conn.execute(few, values).all()
    total = rows[0].total if rows else 0
    if not rows and values["offset"]:
        total = conn.execute(few, values | {"limit": 1, "offset": 0}).first()
        total = total.total if total else 0
    return [item_from_row(row) for row in rows], min(total, SEARCH_COUNT_MAX + 1)


SEARCH_TIDY_PAGES = 2000  # pages merged per step: a fraction of a second of write lock
SEARCH_TIDY_STEPS = 10_000


def tidy_search_index(engine: Engine) -> int:
    """Fold the full-text index into its fastest form, and how many steps that took. Each
    write leaves SQLite's FTS5 a small b-tree that every search then reads too; its
    incremental optimize merges them all into one, a bounded step per transaction, so a
    writer waits a fraction of a second at most. PostgreSQL: GIN's pending list is folded
    in and the statistics the results page's plan choice reads are refreshed."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("SELECT gin_clean_pending_list('items_fts_document'::regclass)"))
            conn.execute(text("ANALYZE items_fts"))
        return 1
    merge = text("INSERT INTO items_fts(items_fts, rank) VALUES ('merge', :pages)")
    with engine.begin() as conn:
        conn.execute(merge, {"pages": -SEARCH_TIDY_PAGES})  # every b-tree onto one level
    for step in range(2, SEARCH_TIDY_STEPS):
        with engine.begin() as conn:
            sqlite = conn.connection.dbapi_connection
            before = sqlite.total_changes
            conn.execute(merge, {"pages": SEARCH_TIDY_PAGES})
            if sqlite.total_changes - before < 2:  # FTS5's sign that nothing is left
                return step
    return SEARCH_TIDY_STEPS


articles = Table(
    "articles",
    metadata,
    Column("item_id", Integer, ForeignKey("items.id"), primary_key=True),
    Column("body_html", Text, nullable=False),
    Column("body_text", Text, nullable=False),
    Column("image_url", Text),
    Column("image_alt", Text),
    Column("image_caption", Text),
    Column("image_credit", Text),
    Column("documents", Text, nullable=False, default="[]", server_default="[]"),
    Column("contact", Text),
    Column("language", String(35)),
    Column("published", UTCDateTime),
    Column("updated", UTCDateTime),
    Column("fingerprint", String(100), nullable=False, default="", server_default=""),
    Column("read_at", UTCDateTime, nullable=False),
)


def _article_values(article: Article) -> dict[str, Any]:
    documents = [
        {"url": d.url, "title": d.title, "mime_type": d.mime_type, "length": d.length}
        for d in article.documents
    ]
    contact = article.contact
    return {
        "body_html": article.body_html,
        "body_text": article.body_text,
        "image_url": article.image_url,
        "image_alt": article.image_alt,
        "image_caption": article.image_caption,
        "image_credit": article.image_credit,
        "documents": json.dumps(documents),
        "contact": json.dumps(contact.__dict__) if contact else None,
        "language": article.language,
        "published": article.published,
        "updated": article.updated,
        "fingerprint": article.fingerprint,
    }


def article_from_row(row: Any) -> Article:
    """An Article from a row of the articles table."""
    contact = json.loads(row.contact) if row.contact else None
    return Article(
        body_html=row.body_html,
        body_text=row.body_text,
        image_url=row.image_url,
        image_alt=row.image_alt,
        image_caption=row.image_caption,
        image_credit=row.image_credit,
        documents=tuple(Document(**doc) for doc in json.loads(row.documents)),
        contact=Contact(**contact) if contact else None,
        language=row.language,
        published=row.published,
        updated=row.updated,
        fingerprint=row.fingerprint,
    )


def save_article(engine: Engine, key: str, article: Article, now: datetime) -> bool:
    """Store what an item's page holds. True when it is new or its content changed: either
    moves the item's `updated` (its key and id stay), as a listing edit does, since its
    feed entry and page change with it. False when nothing changed or no item has that
    key."""
    with engine.begin() as conn:
        item_id = conn.execute(select(items.c.id).where(items.c.key == key)).scalar()
        if item_id is None:
            return False
        stored = conn.execute(
            select(articles.c.fingerprint).where(articles.c.item_id == item_id)
        ).first()
        values = _article_values(article) | {"read_at": now}
        if stored is None:
            conn.execute(articles.insert().values(item_id=item_id, **values))
        else:
            changed = articles.update().where(articles.c.item_id == item_id)
            conn.execute(changed.values(**values))
            if stored.fingerprint == article.fingerprint:
                return False
        conn.execute(items.update().where(items.c.id == item_id).values(updated=now))
        return True


def articles_for(engine: Engine, keys: Iterable[str]) -> dict[str, Article]:
    """The stored articles of the items with these keys (an item whose page was never read
    is absent)."""
    wanted = list(dict.fromkeys(keys))
    found: dict[str, Article] = {}
    query = select(items.c.key, articles).join(articles, articles.c.item_id == items.c.id)
    with engine.connect() as conn:
        for start in range(0, len(wanted), KEY_BATCH):
            batch = wanted[start : start + KEY_BATCH]
            for row in conn.execute(query.where(items.c.key.in_(batch))):
                found[row.key] = article_from_row(row)
    return found


def with_articles(engine: Engine, found: Sequence[Item]) -> list[Item]:
    """The same items, each carrying its stored article (when its page was read)."""
    stored = articles_for(engine, (item.key for item in found))
    return [
        replace(item, article=stored.get(item.key))
        if item.key in stored or item.article is not None
        else item
        for item in found
    ]


pages = Table(
    "pages",
    metadata,
    Column("url", String(2000), primary_key=True),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("fetched_at", UTCDateTime),
    Column("status", Text, nullable=False, default="", server_default=""),
    Column("failures", Integer, nullable=False, default=0, server_default="0"),
    Column("next_try", UTCDateTime),
)


def page_state(engine: Engine, url: str) -> dict[str, Any] | None:
    """What the store remembers of the last request for a page of another site: its
    validators (for a conditional GET), the outcome, failures in a row and the next try."""
    with engine.connect() as conn:
        row = conn.execute(select(pages).where(pages.c.url == url)).mappings().first()
        return dict(row) if row else None


def record_page(engine: Engine, url: str, values: dict[str, Any]) -> None:
    """Remember the outcome of a request for a page (see page_state)."""
    with engine.begin() as conn:
        updated = conn.execute(pages.update().where(pages.c.url == url).values(**values))
        if updated.rowcount == 0:
            conn.execute(pages.insert().values(url=url, **values))


def pages_to_read(
    engine: Engine,
    source: str,
    now: datetime,
    limit: int,
    revisit: tuple[timedelta, timedelta] | None = None,
) -> list[tuple[str, str]]:
    """(key, url) of the source's items whose page is to be read now, at most `limit`:
    first those new or changed at or after `now` (this poll), then those whose failed page
    is due for a retry, then the backlog (no article and never tried), then with `revisit`
    (every, within) the pages of items first seen `within` ago, last read `every` ago;
    newest first in each group."""
    fresh = or_(items.c.first_seen >= now, items.c.updated >= now)
    due = or_(pages.c.next_try.is_(None), pages.c.next_try <= now)
    retry = and_(pages.c.failures > 0, pages.c.next_try <= now)
    backlog = and_(articles.c.item_id.is_(None), pages.c.url.is_(None))
    wanted = [and_(fresh, due), retry, backlog]
    if revisit is not None:
        every, within = revisit
        wanted.append(
            and_(
                pages.c.failures == 0,
                pages.c.fetched_at <= now - every,
                items.c.first_seen >= now - within,
            )
        )
    rank = case((fresh, 0), (retry, 1), (backlog, 2), else_=3)
    query = (
        select(items.c.key, items.c.url)
        .select_from(
            items.outerjoin(articles, articles.c.item_id == items.c.id).outerjoin(
                pages, pages.c.url == items.c.url
            )
        )
        .where(items.c.source == source, items.c.url.is_not(None), or_(*wanted))
        .order_by(rank, items.c.published.desc(), items.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        return [(row.key, row.url) for row in conn.execute(query)]


def date_item_from_page(engine: Engine, key: str, published: datetime) -> bool:
    """Give an item its page's publication date: an undated item gets its first date, a
    listing date read with day and month swapped is put right. True when it changed."""
    with engine.begin() as conn:
        row = conn.execute(
            select(items.c.published, items.c.undated).where(items.c.key == key)
        ).first()
        if row is None or not _page_date_settles(row.published, row.undated, published):
            return False
        conn.execute(
            items.update().where(items.c.key == key).values(published=published, undated=False)
        )
        return True


def _page_date_settles(listed: datetime, undated: bool, page: datetime) -> bool:
    if undated:
        return True
    swapped = (listed.month, listed.day) == (page.day, page.month) and listed.day != page.day
    return swapped and listed.year == page.year


rate_limits = Table(
    "rate_limits",
    metadata,
    Column("bucket", String(200), primary_key=True),
    Column("tat", BigInteger, nullable=False),
    Index("ix_rate_limits_tat", "tat"),
)


def set_embargo(engine: Engine, key: str, until: datetime | None) -> bool:
    """Hold an item back until `until` (None lifts the embargo); False when no item has
    that key."""
    with engine.begin() as conn:
        changed = conn.execute(items.update().where(items.c.key == key).values(embargo_until=until))
        return bool(changed.rowcount)


def embargo_of(engine: Engine, key: str) -> datetime | None:
    """When an item's embargo lifts (None when it has none)."""
    with engine.connect() as conn:
        return conn.execute(select(items.c.embargo_until).where(items.c.key == key)).scalar()


def is_publishable(engine: Engine, key: str, now: datetime) -> bool:
    """Whether the item with this key may be shown to the public now."""
    query = select(func.count()).where(items.c.key == key, publishable(now))
    with engine.connect() as conn:
        return bool(conn.execute(query).scalar())


corrections = Table(
    "corrections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_id", Integer, ForeignKey("items.id"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("note", Text, nullable=False),
    Column("digest_mailing_id", Integer, ForeignKey("mailings.id")),
    Column("daily_mailing_id", Integer, ForeignKey("mailings.id")),
    Index("ix_corrections_item", "item_id", "at"),
)

CORRECTED_FIELDS = {"title": "Title", "summary": "Summary", "published": "Date"}


def _emailed(conn: Connection, item_id: int) -> bool:
    """Whether an item went out in a mailing (a delivery of it was sent)."""
    query = (
        select(func.count())
        .select_from(
            mailing_items.join(deliveries, deliveries.c.mailing_id == mailing_items.c.mailing_id)
        )
        .where(mailing_items.c.item_id == item_id, deliveries.c.status == "sent")
    )
    return bool(conn.execute(query).scalar())


def _describe_change(stored: dict[str, Any], incoming: dict[str, Any]) -> str | None:
    parts = []
    for name, label in CORRECTED_FIELDS.items():
        old, new = stored[name], incoming[name]
        if old == new:
            continue
        if name == "published":
            parts.append(f"{label} changed from {old:%d %B %Y} to {new:%d %B %Y}")
        elif name == "summary":
            parts.append(f"{label} changed")
        else:
            parts.append(f"{label} changed from “{old}” to “{new}”")
    return "; ".join(parts) or None


def record_change(
    conn: Connection, stored: dict[str, Any], incoming: dict[str, Any], now: datetime
) -> None:
    """When an item that went out by email changes its title, summary or date, remember the
    change as a correction for the next digest."""
    note = _describe_change(stored, incoming)
    if note is None or not _emailed(conn, stored["id"]):
        return
    conn.execute(
        corrections.insert().values(
            item_id=stored["id"], at=now, actor="source", kind="change", note=note
        )
    )


def add_correction_note(engine: Engine, key: str, note: str, actor: str, now: datetime) -> bool:
    """Attach a staff correction note to an item and bump its `updated` time so the feeds
    show the change; False when no item has that key."""
    with engine.begin() as conn:
        item_id = conn.execute(select(items.c.id).where(items.c.key == key)).scalar()
        if item_id is None:
            return False
        conn.execute(
            corrections.insert().values(
                item_id=item_id, at=now, actor=actor, kind="note", note=clean_text(note)
            )
        )
        conn.execute(items.update().where(items.c.id == item_id).values(updated=now))
    return True


def correction_notes(engine: Engine, key: str) -> list[Any]:
    """An item's corrections, oldest first (for its page and the feeds): at, kind, note."""
    query = (
        select(corrections.c.at, corrections.c.kind, corrections.c.note)
        .join(items, items.c.id == corrections.c.item_id)
        .where(items.c.key == key)
        .order_by(corrections.c.at, corrections.c.id)
    )
    with engine.connect() as conn:
        return list(conn.execute(query).mappings())


def correction_notes_of(engine: Engine, keys: Sequence[str]) -> dict[str, list[Any]]:
    """The corrections of many items at once (correction_notes for each key, in batches):
    what a rebuild of every item page reads instead of one query per page."""
    return _by_key(
        engine,
        keys,
        select(items.c.key, corrections.c.at, corrections.c.kind, corrections.c.note)
        .join(items, items.c.id == corrections.c.item_id)
        .order_by(corrections.c.at, corrections.c.id),
    )


def _by_key(engine: Engine, keys: Sequence[str], query: Any) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    with engine.connect() as conn:
        for start in range(0, len(keys), KEY_BATCH):
            batch = list(keys[start : start + KEY_BATCH])
            for row in conn.execute(query.where(items.c.key.in_(batch))).mappings():
                found.setdefault(row["key"], []).append(row)
    return found


amendments = Table(
    "amendments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_id", Integer, ForeignKey("items.id"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("field", String(20), nullable=False),
    Column("old", Text, nullable=False, default=""),
    Column("new", Text, nullable=False, default=""),
    Column("source", Text),
    Column("active", Boolean, nullable=False, default=True),
    Index("ix_amendments_item", "item_id", "at"),
)

AMENDABLE = ("title", "summary")


def amend_item_text(
    engine: Engine, key: str, changes: dict[str, str], note: str, actor: str, now: datetime
) -> list[dict[str, str]]:
    """Replace an item's title and/or summary with staff's corrected text, in one
    transaction: each changed field is kept in the history (old text, new text, who,
    when, and what the source said, so a later ingest knows whether the source changed
    it since), the note becomes a correction, and `updated` moves so the feeds show it.
    The changes actually made (field, old, new); empty when nothing differed."""
    made: list[dict[str, str]] = []
    with engine.begin() as conn:
        row = conn.execute(select(items).where(items.c.key == key)).mappings().first()
        if row is None:
            return made
        values: dict[str, Any] = {}
        for field, new in changes.items():
            new = clean_line(new) if field == "title" else clean_text(new)
            old = row[field] or ""
            if field not in AMENDABLE or new == old:
                continue
            active = amendments.c.item_id == row["id"], amendments.c.field == field
            previous = conn.execute(
                select(amendments.c.source).where(*active, amendments.c.active)
            ).first()
            source = previous.source if previous is not None else row[field]
            conn.execute(amendments.update().where(*active).values(active=False))
            conn.execute(
                amendments.insert().values(
                    item_id=row["id"], at=now, actor=actor, field=field,
                    old=old, new=new, source=source, active=True,
                )
            )  # fmt: skip
            values[field] = new or None
            made.append({"field": field, "old": old, "new": new})
        if not made:
            return made
        conn.execute(items.update().where(items.c.id == row["id"]).values(**values, updated=now))
        conn.execute(
            corrections.insert().values(
                item_id=row["id"], at=now, actor=actor, kind="amend", note=clean_text(note)
            )
        )
    return made


def keep_amendments(conn: Connection, row: dict[str, Any], values: dict[str, Any]) -> None:
    """Staff's corrected text wins over the source until the source itself changes that
    field: an incoming value equal to what the source said when staff amended it is
    replaced by the amended text; a different one ends the amendment (the source wins)."""
    query = select(amendments).where(amendments.c.item_id == row["id"], amendments.c.active)
    for amendment in conn.execute(query).mappings():
        field = amendment["field"]
        if (values.get(field) or None) == (amendment["source"] or None):
            values[field] = amendment["new"] or None
        else:
            conn.execute(
                amendments.update().where(amendments.c.id == amendment["id"]).values(active=False)
            )


def amendment_history(engine: Engine, key: str) -> list[Any]:
    """An item's amendments by staff, oldest first: at, actor, field, old, new."""
    query = (
        select(
            amendments.c.at,
            amendments.c.actor,
            amendments.c.field,
            amendments.c.old,
            amendments.c.new,
        )
        .join(items, items.c.id == amendments.c.item_id)
        .where(items.c.key == key)
        .order_by(amendments.c.at, amendments.c.id)
    )
    with engine.connect() as conn:
        return list(conn.execute(query).mappings())


def amendment_histories(engine: Engine, keys: Sequence[str]) -> dict[str, list[Any]]:
    """The amendments of many items at once (amendment_history for each key, in batches)."""
    return _by_key(
        engine,
        keys,
        select(
            items.c.key,
            amendments.c.at,
            amendments.c.actor,
            amendments.c.field,
            amendments.c.old,
            amendments.c.new,
        )
        .join(items, items.c.id == amendments.c.item_id)
        .order_by(amendments.c.at, amendments.c.id),
    )


bounce_events = Table(
    "bounce_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("email", String(320), nullable=False),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id")),
    Column("mailing_id", Integer, ForeignKey("mailings.id")),
    Column("kind", String(20), nullable=False),
    Column("status", String(20), nullable=False, default=""),
    Column("detail", Text, nullable=False, default=""),
    Column("source", String(400), nullable=False, default=""),
    Column("effect", String(200), nullable=False, default=""),
    Column("report_id", String(400), nullable=False, default=""),
    Index("ix_bounce_events_email", "email", "at"),
    Index("ix_bounce_events_report", "report_id"),
    Index("ix_bounce_events_mailing", "mailing_id", "kind"),
)
"""Each bounce or complaint read (hard, soft, complaint), with its evidence and effect."""

bounce_unread = Table(
    "bounce_unread",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("source", String(400), nullable=False, default=""),
    Column("reason", Text, nullable=False),
    Column("subject", Text, nullable=False, default=""),
    Column("sender", Text, nullable=False, default=""),
    Column("raw", Text, nullable=False, default=""),
)
"""Returned mail the reader could not understand: kept for staff ("needs a look")."""
