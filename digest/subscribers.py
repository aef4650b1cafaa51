"""The press list: validated subscribers, CSV import and export."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Engine, String, func, literal, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from digest.config import Settings
from digest.errors import DigestError
from digest.model import ALL_TYPES, CADENCES, Subscriber
from digest.store import subscribers
from digest.text import clean_line

CSV_COLUMNS = ("email", "name", "outlet", "types", "weekly", "breaking", "cadence")
TRUE = {"1", "true", "yes", "y", "on", "x"}
FALSE = {"0", "false", "no", "n", "off", ""}
INACTIVE = ("unsubscribed", "bounced")


class SubscriberError(DigestError):
    """A subscriber's data is invalid; the message says which field and why."""


def normalise_email(raw: str) -> str:
    """The address in canonical form (domain lower-cased), or SubscriberError."""
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise SubscriberError(f"invalid email address {raw.strip()!r}: {exc}") from None


def same_address(email: str) -> ColumnElement[bool]:
    """The condition that finds an address whatever its letter case: one address is one
    subscriber (the unique index on lower(email) holds it), stored as first typed."""
    return func.lower(subscribers.c.email) == func.lower(literal(email, String))


def check_sendable(settings: Settings, email: str) -> None:
    """Refuse, at subscribe time, an address the configured relay cannot take: a non-ASCII
    local part needs SMTPUTF8 (RFC 6531), which `sender.smtputf8` says the relay lacks.
    Internationalised domains always work (they go out in IDNA form)."""
    local = email.rpartition("@")[0]
    if settings.smtp_url and not settings.sender.smtputf8 and not local.isascii():
        raise SubscriberError(
            f"{email}: this list's mail server cannot deliver to addresses with non-ASCII "
            "characters before the @; please use another address"
        )


# Spreadsheet formula injection (OWASP "CSV Injection"): a cell starting with one of these
# is read as a formula by Excel, LibreOffice and Google Sheets.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def defuse(cell: str) -> str:
    """A CSV cell a spreadsheet will not run: a leading apostrophe before a formula start."""
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def undefuse(cell: str) -> str:
    """The cell as it was before `defuse` (so an export imports back unchanged)."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_START) else cell


def parse_types(raw: str, settings: Settings) -> tuple[str, ...]:
    """Item types from labels or slugs separated by ';', ',' or '|'; empty or 'all' = all."""
    words = [w.strip() for w in raw.replace("|", ";").replace(",", ";").split(";") if w.strip()]
    if not words or [w.casefold() for w in words] == ["all"]:
        return ()
    slugs = []
    for word in words:
        item_type = settings.type_by_label(word) or settings.type_by_slug(word.casefold())
        if item_type is None:
            known = ", ".join(t.label for t in settings.types)
            raise SubscriberError(f"unknown item type {word!r} (known: {known})")
        slugs.append(item_type.slug)
    return tuple(sorted(set(slugs)))


def parse_flag(raw: str | None, column: str) -> bool:
    """A yes/no column; empty means yes (the default is to receive)."""
    value = (raw or "").strip().casefold()
    if value == "":
        return True
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise SubscriberError(f"{column} must be yes or no, not {raw!r}")


def _types_from_key(key: str) -> tuple[str, ...]:
    return () if key == ALL_TYPES else tuple(key.split(","))


def _subscriber(row: Any) -> Subscriber:
    return Subscriber(
        id=row.id,
        email=row.email,
        name=row.name,
        outlet=row.outlet,
        types=_types_from_key(row.types_key),
        weekly=row.weekly,
        breaking=row.breaking,
        status=row.status,
        cadence=row.cadence,
        embargo=bool(row.embargo),
        groups=split_groups(row.press_groups),
    )


def split_groups(raw: str | None) -> tuple[str, ...]:
    """Named groups of trusted contacts from a ';'- or ','-separated cell, cleaned, each
    once (letter case kept as first given, compared without it)."""
    found: dict[str, str] = {}
    for part in re.split(r"[;,]", raw or ""):
        name = clean_line(part)[:60]
        if name:
            found.setdefault(name.casefold(), name)
    return tuple(found.values())


def trusted_values(subscriber: Subscriber) -> dict[str, object]:
    """The embargo columns a save writes: only those the subscriber states."""
    values: dict[str, object] = {}
    if subscriber.embargo is not None:
        values["embargo"] = subscriber.embargo
    if subscriber.groups is not None:
        values["press_groups"] = "; ".join(subscriber.groups)
    return values


def save_subscriber(conn: Connection, subscriber: Subscriber, now: datetime) -> str:
    """Insert or update by address: 'added', 'updated' or 'unchanged'. An unsubscribed or
    bounced address keeps its status whatever the new data says."""
    values = {
        "email": subscriber.email,
        "name": clean_line(subscriber.name),
        "outlet": clean_line(subscriber.outlet),
        "types_key": subscriber.types_key,
        "weekly": subscriber.weekly,
        "breaking": subscriber.breaking,
        "cadence": subscriber.cadence,
        **trusted_values(subscriber),
    }
    row = conn.execute(select(subscribers).where(same_address(subscriber.email))).first()
    if row is None:
        conn.execute(
            subscribers.insert().values(
                **values, status=subscriber.status, created=now, updated=now
            )
        )
        return "added"
    values["email"] = row.email
    status = row.status if row.status in INACTIVE else subscriber.status
    if all(getattr(row, k) == v for k, v in values.items()) and status == row.status:
        return "unchanged"
    conn.execute(
        subscribers.update()
        .where(subscribers.c.id == row.id)
        .values(**values, status=status, updated=now)
    )
    return "updated"


@dataclass
class ImportReport:
    """What a CSV import did; bad rows carry their line number and the reason."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    trusted: int = 0


IMPORT_BATCH = 200  # rows per transaction of an import


def import_csv(engine: Engine, settings: Settings, path: Path, now: datetime) -> ImportReport:
    """Import a CSV press list (header row; UTF-8 with or without BOM). Good rows are
    stored as active subscribers; bad rows are reported and skipped. Rows are committed
    IMPORT_BATCH at a time, so a long list never holds the store's write lock for long (a
    sign-up waiting on it would be told to try again); importing the file again is safe."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise SubscriberError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise SubscriberError(f"{path}: not UTF-8 (invalid byte at offset {exc.start})") from None
    delimiter = sniff_delimiter(text)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [h.strip().casefold() for h in reader.fieldnames or []]
    if "email" not in header and any("@" in field for field in header):
        # no header row (rows copied from a spreadsheet): the columns in the usual order
        reader = csv.DictReader(
            io.StringIO(text, newline=""), fieldnames=list(CSV_COLUMNS), delimiter=delimiter
        )
        header = list(CSV_COLUMNS)
    elif "email" not in header:
        raise SubscriberError(
            f"{path}: line 1: the header row needs an 'email' column (columns are separated "
            "by commas, tabs or semicolons)"
        )
    reader.fieldnames = header
    report = ImportReport()
    seen: set[str] = set()
    with engine.connect() as conn:  # begins a transaction by itself; committed per batch
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                report.errors.append((reader.line_num + 1, f"unreadable CSV: {exc}"))
                continue
            line = reader.line_num
            try:
                subscriber = subscriber_from_row(row, settings)
                if subscriber.email.lower() in seen:
                    raise SubscriberError(f"{subscriber.email} appears twice in the file")
                seen.add(subscriber.email.lower())
            except SubscriberError as exc:
                report.errors.append((line, str(exc)))
                continue
            outcome = save_subscriber(conn, subscriber, now)
            setattr(report, outcome, getattr(report, outcome) + 1)
            report.trusted += bool(subscriber.embargo)
            if len(seen) % IMPORT_BATCH == 0:
                conn.commit()
        conn.commit()
    return report


def sniff_delimiter(text: str) -> str:
    """The column separator of a pasted or saved list, read from its first line: a tab
    (rows copied from a spreadsheet), a semicolon (a spreadsheet's CSV in many locales)
    or a comma, whichever the line holds most of (a comma on a tie)."""
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    counts = {sep: first.count(sep) for sep in (",", "\t", ";")}
    best = max(counts, key=lambda sep: (counts[sep], sep == ","))
    return best if counts[best] else ","


def subscriber_from_row(row: dict[str, str | None], settings: Settings) -> Subscriber:
    """A subscriber from one CSV row, validated."""
    if None in row:
        raise SubscriberError("more fields than the header has columns")
    row = {key: undefuse(value) if value else value for key, value in row.items()}
    return Subscriber(
        email=normalise_email(row.get("email") or ""),
        name=clean_line(row.get("name") or ""),
        outlet=clean_line(row.get("outlet") or ""),
        types=parse_types(row.get("types") or "", settings),
        weekly=parse_flag(row.get("weekly"), "weekly"),
        breaking=parse_flag(row.get("breaking"), "breaking"),
        status="active",
        cadence=parse_cadence(row.get("cadence")),
        embargo=parse_trusted(row.get("embargo")) if "embargo" in row else None,
        groups=split_groups(row.get("groups")) if "groups" in row else None,
    )


def parse_trusted(raw: str | None) -> bool:
    """The `embargo` column: yes makes a contact trusted with embargoed material; no or
    empty does not (trust is never the default)."""
    value = (raw or "").strip().casefold()
    if value in TRUE - {""}:
        return True
    if value in FALSE:
        return False
    raise SubscriberError(f"embargo must be yes, no or empty, not {raw!r}")


def parse_cadence(raw: str | None) -> str:
    """How often a subscriber gets the digest: weekly (the default, when empty) or daily."""
    value = (raw or "").strip().casefold() or "weekly"
    if value not in CADENCES:
        raise SubscriberError(f"cadence must be {' or '.join(CADENCES)}, not {raw!r}")
    return value


def add_subscriber(engine: Engine, subscriber: Subscriber, now: datetime) -> str:
    """Add or update one subscriber (address validated)."""
    subscriber = replace(subscriber, email=normalise_email(subscriber.email))
    with engine.begin() as conn:
        return save_subscriber(conn, subscriber, now)


def remove_subscriber(engine: Engine, email: str, now: datetime) -> bool:
    """Take an address off the list for good: it is kept as unsubscribed so that no later
    import adds it back. False when the address is not on the list."""
    with engine.begin() as conn:
        result = conn.execute(
            subscribers.update()
            .where(same_address(normalise_email(email)))
            .values(status="unsubscribed", updated=now)
        )
        return result.rowcount > 0


def iter_subscribers(engine: Engine, status: str | None = None) -> Iterator[Subscriber]:
    """Subscribers in address order, streamed."""
    query = select(subscribers).order_by(subscribers.c.email)
    if status:
        query = query.where(subscribers.c.status == status)
    with engine.connect() as conn:
        for row in conn.execution_options(yield_per=1000).execute(query):
            yield _subscriber(row)


def get_subscriber(engine: Engine, subscriber_id: int) -> Subscriber | None:
    """One subscriber by id."""
    with engine.connect() as conn:
        row = conn.execute(select(subscribers).where(subscribers.c.id == subscriber_id)).first()
        return _subscriber(row) if row else None


def last_changed(engine: Engine, subscriber_id: int) -> datetime | None:
    """When this subscriber's row last changed (None for an unknown id): a confirm link
    made before that change is spent."""
    with engine.connect() as conn:
        return conn.execute(
            select(subscribers.c.updated).where(subscribers.c.id == subscriber_id)
        ).scalar()


def export_csv(rows: Iterable[Subscriber], settings: Settings, out: TextIO) -> int:
    """Write subscribers as CSV with the import columns plus status; returns the count."""
    writer = csv.writer(out)
    writer.writerow([*CSV_COLUMNS, "status", "embargo", "groups"])
    count = 0
    for sub in rows:
        labels = [t.label for slug in sub.types if (t := settings.type_by_slug(slug))]
        flags = ["yes" if sub.weekly else "no", "yes" if sub.breaking else "no"]
        row = [sub.email, sub.name, sub.outlet, "; ".join(labels), *flags, sub.cadence]
        trusted = ["yes" if sub.embargo else "no", "; ".join(sub.groups or ())]
        writer.writerow([defuse(cell) for cell in (*row, sub.status, *trusted)])
        count += 1
    return count


def set_trusted(
    engine: Engine, email: str, trusted: bool, groups: tuple[str, ...] | None, now: datetime
) -> bool:
    """Mark a contact as trusted with embargoed material or not (and set its named groups,
    when given); False when the address is not on the list."""
    values = trusted_values(Subscriber(email, embargo=trusted, groups=groups))
    with engine.begin() as conn:
        done = conn.execute(
            subscribers.update().where(same_address(email.strip())).values(**values, updated=now)
        )
    return bool(done.rowcount)


def set_status(engine: Engine, subscriber_id: int, status: str, now: datetime) -> None:
    """Change one subscriber's status (confirm, unsubscribe, bounce)."""
    with engine.begin() as conn:
        conn.execute(
            subscribers.update()
            .where(subscribers.c.id == subscriber_id)
            .values(status=status, updated=now)
        )


def set_preferences(
    engine: Engine,
    subscriber_id: int,
    types: tuple[str, ...],
    weekly: bool,
    breaking: bool,
    now: datetime,
    cadence: str | None = None,
) -> None:
    """Save what a subscriber chose to receive (and how often, when given); the status is
    left as it is."""
    key = Subscriber(email="", types=types).types_key
    values = {"types_key": key, "weekly": weekly, "breaking": breaking, "updated": now}
    if cadence is not None:
        values["cadence"] = parse_cadence(cadence)
    with engine.begin() as conn:
        conn.execute(subscribers.update().where(subscribers.c.id == subscriber_id).values(**values))


def request_subscription(engine: Engine, subscriber: Subscriber, now: datetime) -> Subscriber:
    """A sign-up from the subscribe form: a new address is stored as pending with its
    choices; a known address is left as it is (its owner confirms by email either way).
    Returns the stored subscriber."""
    email = normalise_email(subscriber.email)
    with engine.begin() as conn:
        row = conn.execute(select(subscribers).where(same_address(email))).first()
        if row is None:
            save_subscriber(conn, replace(subscriber, email=email, status="pending"), now)
            row = conn.execute(select(subscribers).where(same_address(email))).one()
    return _subscriber(row)


def count_by_status(engine: Engine) -> dict[str, int]:
    """How many subscribers have each status."""
    with engine.connect() as conn:
        query = select(subscribers.c.status, func.count()).group_by(subscribers.c.status)
        return {status: count for status, count in conn.execute(query)}
