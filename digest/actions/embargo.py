"""Sending under embargo: an item still embargoed goes to trusted contacts only, with the undo
window, approval and test send of any alert; their private pages and feeds; revoking a link;
who received a send and which links were opened; who is trusted (admins only)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from digest.actions.common import Who, audit, require, utc_now
from digest.actions.items import item_for
from digest.errors import DigestError
from digest.mailings import AWAITING, SCHEDULED, SENDING, Mailing

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from digest.config import Settings
    from digest.embargo import Recipient
    from digest.model import Item
    from digest.transports import Transport


def _lift_of(engine: Engine, item: Item, now: datetime) -> datetime:
    """When the item's embargo lifts; DigestError when it has none still ahead."""
    from digest.store import embargo_of

    lift = embargo_of(engine, item.key)
    if lift is None or lift <= now:
        raise DigestError(
            f"{item.title!r} is not under embargo, so it cannot be sent under embargo: set "
            "one first (digest items embargo ITEM --until 'YYYY-MM-DD HH:MM'), or send it "
            "as an ordinary alert"
        )
    return lift


def _recipients(engine: Engine, group: str | None) -> int:
    """How many trusted contacts (of the group) there are; DigestError when none."""
    from digest.embargo import group_names, trusted_count

    count = trusted_count(engine, group)
    if count:
        return count
    if group:
        known = ", ".join(group_names(engine)) or "none yet"
        raise DigestError(
            f"no trusted contact is in the group {group!r} (groups: {known}); nothing sent"
        )
    raise DigestError(
        "no contact is trusted with embargoed material; nothing sent. An admin marks "
        "contacts: the CSV column embargo=yes, digest subscribers add ADDRESS --embargo, "
        "or the console's press list"
    )


@dataclass(frozen=True)
class EmbargoOutline:
    """A send under embargo as it would go now: its subject, lift time, how many it reaches."""

    subject: str
    lift: datetime
    recipients: int


def embargo_outline(
    settings: Settings,
    engine: Engine,
    item_key: str,
    group: str | None = None,
    now: datetime | None = None,
) -> EmbargoOutline:
    """What `digest breaking ITEM --under-embargo` would send (a dry run); DigestError when
    the item has no embargo ahead or nobody is trusted."""
    from digest.render import embargo_subject

    item = item_for(engine, item_key)
    lift = _lift_of(engine, item, now or utc_now())
    count = _recipients(engine, group)
    return EmbargoOutline(embargo_subject(settings, item, lift), lift, count)


def send_under_embargo(
    settings: Settings,
    engine: Engine,
    item_key: str,
    who: Who,
    group: str | None = None,
    now: datetime | None = None,
) -> Mailing:
    """Ask for an item still under embargo to go to the trusted contacts (of one group)
    only, before the lift: with `breaking.approval` it waits for a second sender, else for
    the undo window (0: at once). Asking twice returns the first request."""
    from digest.actions.notices import notify_senders
    from digest.embargo import create_send, send_of

    now = now or utc_now()
    actor = require(who, "prepare" if settings.breaking.approval else "send")
    item = item_for(engine, item_key)
    lift = _lift_of(engine, item, now)
    count = _recipients(engine, group)
    if (existing := send_of(engine, item.key)) is not None:
        return existing
    if settings.breaking.approval:
        status, send_after = AWAITING, None
    else:
        send_after = now + timedelta(seconds=settings.breaking.undo_seconds)
        status = SENDING if send_after <= now else SCHEDULED
    mailing = create_send(
        engine, settings, item, lift, now, status, send_after, actor.name, group or None
    )
    to = f"group {group!r}" if group else "every trusted contact"
    detail = f"{item.title} to {to} ({count}), lifts {lift.isoformat()} (mailing {mailing.id})"
    audit(engine, actor, "embargo send request", detail, now)
    if mailing.status == AWAITING:
        notify_senders(settings, engine, mailing, actor.name, count)
    return mailing


def test_embargo_send(
    settings: Settings,
    engine: Engine,
    item: Item,
    address: str,
    who: Who,
    factory: Callable[[], Transport] | None = None,
) -> str:
    """Send a member of staff a copy of an item's embargoed mail, as for any alert test
    (their own address or the test list); its private link opens nothing."""
    from digest.actions.mailings import test_alert
    from digest.render import render_embargoed

    body = render_embargoed(settings, item, _lift_of(engine, item, utc_now()), 0)
    return test_alert(settings, engine, item, address, who, factory, body)


@dataclass(frozen=True)
class PrivatePage:
    """What a private link answers: the page (before the lift), where the public page is
    (after it), or neither (a 404)."""

    body: bytes | None = None
    redirect: str | None = None


def open_private_page(
    settings: Settings, engine: Engine, token: str, now: datetime | None = None
) -> PrivatePage:
    """One recipient's private page of an embargoed item, by its signed token: forged,
    changed, revoked or unknown tokens get nothing; after the lift, the public page. The
    first open is audited (the address, never the reader's IP)."""
    from digest.embargo import open_link, render_private_page
    from digest.links import read_private_token

    now = now or utc_now()
    ids = read_private_token(settings.secret_key, token)
    if ids is None:
        return PrivatePage()
    opened = open_link(engine, settings, *ids, now)
    if opened.public_url is not None:
        return PrivatePage(redirect=opened.public_url)
    if opened.item is None:
        return PrivatePage()
    if opened.first:
        detail = f"{opened.item.title}: {opened.email} (mailing {ids[0]})"
        audit(engine, opened.email, "embargo link opened", detail, now)
    return PrivatePage(body=render_private_page(settings, opened, *ids))


def private_feed(
    settings: Settings, engine: Engine, token: str, now: datetime | None = None
) -> bytes | None:
    """A trusted journalist's private Atom feed of the items sent to them that are still
    embargoed; None (a 404) for a forged token or a contact no longer trusted."""
    from digest.embargo import feed_entries, render_private_feed
    from digest.links import read_feed_token

    subscriber_id = read_feed_token(settings.secret_key, token)
    if subscriber_id is None:
        return None
    found = feed_entries(engine, subscriber_id, now or utc_now())
    if found is None:
        return None
    return render_private_feed(settings, subscriber_id, *found)


def revoke_private_link(
    engine: Engine, mailing_id: int, email: str, who: Who, now: datetime | None = None
) -> None:
    """Staff revoke one recipient's private link of an embargoed send: it shows nothing
    from now on. Audited; DigestError when there is no such live link."""
    from digest.embargo import revoke

    now = now or utc_now()
    actor = require(who, "prepare")
    if not revoke(engine, mailing_id, email.strip(), actor.name, now):
        raise DigestError(
            f"mailing {mailing_id} has no private link for {email!r} that is not revoked"
        )
    audit(engine, actor, "embargo link revoked", f"{email} (mailing {mailing_id})", now)


@dataclass(frozen=True)
class EmbargoAccount:
    """One send under embargo, accounted for: who received it, which links were opened."""

    mailing: Mailing
    lift: datetime | None
    recipients: list[Recipient]


def embargo_account(engine: Engine, mailing_id: int) -> EmbargoAccount:
    """Who an embargoed send went to, and which private links were opened and when (no
    IP addresses are kept); DigestError when the mailing is not a send under embargo."""
    from digest.embargo import SEND, recipients_of
    from digest.mailings import get_mailing
    from digest.store import embargo_of

    mailing = get_mailing(engine, mailing_id)
    if mailing is None or mailing.kind != SEND or mailing.item_key is None:
        raise DigestError(f"mailing {mailing_id} is not a send under embargo")
    lift = embargo_of(engine, mailing.item_key)
    return EmbargoAccount(mailing, lift, recipients_of(engine, mailing_id))


def embargo_sends(engine: Engine) -> list[Mailing]:
    """The latest sends under embargo, newest first (the console's list)."""
    from digest.embargo import sends

    return sends(engine)


def trust_contact(
    engine: Engine,
    email: str,
    trusted: bool,
    who: Who,
    groups: tuple[str, ...] | None = None,
    now: datetime | None = None,
) -> None:
    """An admin marks a contact as trusted with embargoed material, or not (and its named
    groups, when given). Audited; DigestError when the address is not on the list."""
    from digest.subscribers import set_trusted

    now = now or utc_now()
    actor = require(who, "admin")
    if not set_trusted(engine, email, trusted, groups, now):
        raise DigestError(f"{email} is not on the press list")
    named = f", groups: {'; '.join(groups)}" if groups else ""
    detail = f"{email}: {'trusted' if trusted else 'not trusted'}{named}"
    audit(engine, actor, "press list embargo", detail, now)


def trusted_groups(engine: Engine) -> list[str]:
    """The named groups of trusted contacts (to choose from when sending)."""
    from digest.embargo import group_names

    return group_names(engine)


@dataclass(frozen=True)
class EmbargoChoice:
    """What the console offers beside an item's embargo: how many contacts are trusted,
    their named groups (name, how many), and the item's send under embargo when made."""

    trusted: int
    groups: list[tuple[str, int]]
    sent: Mailing | None


def embargo_choice(engine: Engine, item_key: str) -> EmbargoChoice:
    """The send-under-embargo choices for an item (the breaking-news page), each group with
    how many trusted contacts it would reach."""
    from digest.embargo import group_names, send_of, trusted_count

    groups = [(name, trusted_count(engine, name)) for name in group_names(engine)]
    return EmbargoChoice(trusted_count(engine), groups, send_of(engine, item_key))
