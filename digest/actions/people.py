"""The press list: what staff do to it (add, edit, import, export, unsubscribe) and what
readers do from the public pages (subscribe, confirm, choose, unsubscribe)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from digest.actions.common import Who, audit, require, utc_now
from digest.errors import DigestError
from digest.limits import (
    CONFIRM_PER_ADDRESS,
    LINK_USED,
    NOTICE_PER_ADDRESS,
    SUBSCRIBE_PER_CLIENT,
    Limit,
    client_key,
    hit,
)
from digest.links import signed_link, token_subscriber, verify
from digest.mailings import Mailing, create_confirmation, create_welcome
from digest.model import STATUSES, TRUSTED, Subscriber
from digest.store import audit_log
from digest.subscribers import (
    ImportReport,
    add_subscriber,
    count_by_status,
    export_csv,
    get_subscriber,
    import_csv,
    iter_subscribers,
    last_changed,
    normalise_email,
    remove_subscriber,
    request_subscription,
    set_preferences,
    set_status,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from digest.config import Settings

CONFIRM_HOURS = 48


# Staff: the press list (admin)


def save_contact(
    engine: Engine, who: Who, subscriber: Subscriber, now: datetime | None = None
) -> str:
    """Add or update one contact (active at once): 'added', 'updated' or 'unchanged'."""
    now = now or utc_now()
    actor = require(who, "admin")
    outcome = add_subscriber(engine, subscriber, now)
    action = "press list " + ("add" if outcome == "added" else "edit")
    detail = normalise_email(subscriber.email)
    if subscriber.embargo is not None:
        detail += " (trusted with embargoed material)" if subscriber.embargo else " (not trusted)"
    if subscriber.groups:
        detail += f", groups: {'; '.join(subscriber.groups)}"
    audit(engine, actor, action, detail, now)
    return outcome


def unsubscribe_contact(engine: Engine, who: Who, email: str, now: datetime | None = None) -> bool:
    """Take an address off the list for good (kept as unsubscribed, so no import adds it
    back); False when it is not on the list."""
    now = now or utc_now()
    actor = require(who, "admin")
    removed = remove_subscriber(engine, email, now)
    if removed:
        audit(engine, actor, "press list unsubscribe", email, now)
    return removed


UNDO_MINUTES = 15


def restore_contact(
    engine: Engine, who: Who, email: str, status: str, now: datetime | None = None
) -> Subscriber:
    """Undo one's own unsubscribe of a contact, within UNDO_MINUTES of it: the contact
    gets back the status it had (active or pending). Anything else is refused, so the
    press list never re-subscribes someone who left by themselves."""
    now = now or utc_now()
    actor = require(who, "admin")
    contact = find_contact(engine, email)
    if contact is None or contact.id is None:
        raise DigestError(f"{email!r} is not on the press list")
    if status not in ("active", "pending") or contact.status != "unsubscribed":
        raise DigestError(f"{contact.email} is {contact.status}; there is nothing to undo")
    since = now - timedelta(minutes=UNDO_MINUTES)
    own = [
        entry
        for entry in audit_log(engine, 500)
        if entry["action"] == "press list unsubscribe"
        and entry["detail"].strip().casefold() == contact.email.casefold()
        and entry["actor"] == actor.name
        and entry["at"] >= since
    ]
    if not own:
        raise DigestError(
            f"{contact.email}: only your own unsubscribe of the last {UNDO_MINUTES} minutes "
            "can be undone"
        )
    set_status(engine, contact.id, status, now)
    audit(engine, actor, "press list undo unsubscribe", f"{contact.email} ({status})", now)
    return find_contact(engine, contact.email) or contact


def import_contacts(
    engine: Engine, settings: Settings, who: Who, path: Path, now: datetime | None = None
) -> ImportReport:
    """Import a CSV press list file; rejected rows are reported with their line."""
    now = now or utc_now()
    actor = require(who, "admin")
    report = import_csv(engine, settings, path, now)
    audit(engine, actor, "press list import", describe_import(report), now)
    return report


def import_pasted(
    engine: Engine, settings: Settings, who: Who, text: str, now: datetime | None = None
) -> ImportReport:
    """Import a CSV press list pasted as text (the console's import box); errors name the
    'pasted CSV'."""
    if not text.strip():
        raise DigestError("Paste the CSV first.")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pasted.csv"
        path.write_text(text, encoding="utf-8")
        try:
            return import_contacts(engine, settings, who, path, now)
        except DigestError as exc:
            raise DigestError(str(exc).replace(str(path), "pasted CSV")) from None


def describe_import(report: ImportReport) -> str:
    """An import's outcome in one line: added, updated, unchanged, rejected."""
    trusted = f", {report.trusted} trusted with embargoed material" if report.trusted else ""
    return (
        f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
        f"{len(report.errors)} rejected{trusted}"
    )


def export_contacts(engine: Engine, settings: Settings, who: Who, out: TextIO) -> int:
    """Write the press list as CSV (the import columns plus status); returns the count."""
    actor = require(who, "admin")
    count = export_csv(iter_subscribers(engine), settings, out)
    audit(engine, actor, "press list export", f"{count} rows")
    return count


def contacts(engine: Engine, status: str | None = None, query: str = "") -> Iterator[Subscriber]:
    """Contacts in address order, of one status (all when None or unknown), where every
    word of `query` is in the address, the name or the outlet (case-insensitive; "Priya
    Nair Science" finds Priya Nair of Science). The status TRUSTED lists the contacts
    trusted with embargoed material."""
    words = query.casefold().split()
    for sub in iter_subscribers(engine, status if status in STATUSES else None):
        if status == TRUSTED and not sub.embargo:
            continue
        fields = [sub.email.casefold(), sub.name.casefold(), sub.outlet.casefold()]
        if all(any(word in field for field in fields) for word in words):
            yield sub


def find_contact(engine: Engine, email: str) -> Subscriber | None:
    """The contact with this address (any case), or None."""
    wanted = email.strip().lower()
    return next((s for s in iter_subscribers(engine) if s.email.lower() == wanted), None)


def digest_audience(engine: Engine, cadence: str = "weekly") -> tuple[int, dict[str, int]]:
    """Who a digest of this cadence is for: the number of active contacts, and how many of
    them it leaves out, by reason ("with digests off", "on the daily digest")."""
    active = list(iter_subscribers(engine, "active"))
    other = "daily" if cadence == "weekly" else "weekly"
    reasons = {
        "with digests off": sum(1 for s in active if not s.weekly),
        f"on the {other} digest": sum(1 for s in active if s.weekly and s.cadence == other),
    }
    return len(active), {reason: count for reason, count in reasons.items() if count}


def contact_counts(engine: Engine) -> dict[str, int]:
    """How many contacts have each status."""
    return count_by_status(engine)


# Readers: the public subscriber pages


def subscribe(
    engine: Engine, settings: Settings, subscriber: Subscriber, now: datetime | None = None
) -> Mailing | None:
    """Double opt-in: store a new address as pending and create the email with its signed
    confirmation link (expiring after CONFIRM_HOURS). An address suppressed by a bounce or
    a complaint gets one too: confirming it is how its owner comes back. The caller
    answers the same whatever happened, and sends the mailing."""
    from digest.render import render_confirm

    now = now or utc_now()
    stored = request_subscription(engine, subscriber, now)
    if stored.id is None:
        return None
    # Links count whole seconds: one asked for in the same second as an unsubscribe counts
    # as made before it, so an older link of that second can never confirm (`confirmable`).
    expires = now + timedelta(hours=CONFIRM_HOURS)
    confirm = signed_link(settings, "confirm", stored.id, stored.email, expires)
    body = render_confirm(settings, confirm, CONFIRM_HOURS)
    return create_confirmation(engine, settings, stored.id, body, now)


def _limited(engine: Engine, rule: Limit, key: str) -> bool:
    return bool(hit(engine, rule, key, time.time()))


def subscribe_wait(engine: Engine, client: str | None) -> float:
    """Seconds this client must wait before another subscribe request (0.0: go ahead);
    counts this request."""
    return hit(engine, SUBSCRIBE_PER_CLIENT, client_key(client), time.time())


def subscription_mail(
    engine: Engine, settings: Settings, subscriber: Subscriber, now: datetime | None = None
) -> Mailing | None:
    """What a subscribe request sends, within the per-address limits: a confirmation for a
    new or pending address (once an hour), a "you are already subscribed, here is your
    preferences link" notice for an active one, a fresh confirmation for an unsubscribed
    or bounced one (either at most once a day): a suppressed address comes back only
    through this double opt-in."""
    from digest.render import render_already

    now = now or utc_now()
    stored = request_subscription(engine, subscriber, now)
    if stored.id is None:
        return None
    address = stored.email.casefold()
    if stored.status == "pending":
        if _limited(engine, CONFIRM_PER_ADDRESS, address):
            return None
        return subscribe(engine, settings, subscriber, now)
    if _limited(engine, NOTICE_PER_ADDRESS, address):
        return None
    if stored.status in ("unsubscribed", "bounced"):
        return subscribe(engine, settings, subscriber, now)
    preferences = signed_link(settings, "preferences", stored.id, stored.email)
    body = render_already(settings, preferences)
    return create_confirmation(engine, settings, stored.id, body, now)


def token_holder(
    engine: Engine, settings: Settings, purpose: str, token: str, now: datetime | None = None
) -> Subscriber | None:
    """The subscriber a signed link for `purpose` was made for, or None when the token is
    malformed, forged, expired or names nobody."""
    subscriber_id = token_subscriber(token)
    subscriber = get_subscriber(engine, subscriber_id) if subscriber_id else None
    if subscriber is None or subscriber.id is None:
        return None
    when = now or utc_now()
    if not verify(settings.secret_key, purpose, token, subscriber.id, subscriber.email, when):
        return None
    return subscriber


class Confirmed(Enum):
    """What a confirm link did."""

    ALREADY = "already active"
    USED = "link already used"
    CONFIRMED = "confirmed"


def confirm(
    engine: Engine, subscriber: Subscriber, token: str, now: datetime | None = None
) -> Confirmed:
    """Confirm an address from its link, once: a pending address, or an unsubscribed one
    that asked again after unsubscribing (the link was made after the last change)."""
    if subscriber.status == "active":
        return Confirmed.ALREADY
    if not confirmable(engine, subscriber, token):
        return Confirmed.USED
    if _limited(engine, LINK_USED, f"confirm\n{token}"):
        return Confirmed.USED
    set_status(engine, subscriber.id or 0, "active", now or utc_now())
    return Confirmed.CONFIRMED


def confirmable(engine: Engine, subscriber: Subscriber, token: str) -> bool:
    """Whether a confirm link can still be used (it has not been, as far as the store
    tells): see `confirm`."""
    if subscriber.status == "pending":
        return True
    if subscriber.status not in ("unsubscribed", "bounced"):
        return False
    issued = int(token.split(".")[1]) - CONFIRM_HOURS * 3600
    updated = last_changed(engine, subscriber.id or 0)
    return updated is not None and updated <= datetime.fromtimestamp(issued, UTC)


def welcome(
    engine: Engine, settings: Settings, subscriber_id: int, now: datetime | None = None
) -> Mailing | None:
    """Create (once) the welcome email of a subscriber who just confirmed: what they will
    get and when, the feeds, the preferences link. None unless the subscriber is active.
    Sending is `send`."""
    subscriber = get_subscriber(engine, subscriber_id)
    if subscriber is None or subscriber.status != "active":
        return None
    return create_welcome(engine, settings, subscriber, now or utc_now())


def choose(
    engine: Engine,
    subscriber: Subscriber,
    types: tuple[str, ...],
    weekly: bool,
    breaking: bool,
    cadence: str | None = None,
    now: datetime | None = None,
) -> Subscriber:
    """Save what a reader chose to receive from their preferences page; returns them as
    stored now."""
    subscriber_id = subscriber.id or 0
    set_preferences(engine, subscriber_id, types, weekly, breaking, now or utc_now(), cadence)
    return get_subscriber(engine, subscriber_id) or subscriber


def unsubscribe(engine: Engine, subscriber: Subscriber, now: datetime | None = None) -> None:
    """A reader leaves the list (one click); a bounced address stays bounced."""
    if subscriber.status != "bounced":
        set_status(engine, subscriber.id or 0, "unsubscribed", now or utc_now())
