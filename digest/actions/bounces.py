"""Returned mail: reading bounces and complaint reports (files, a Maildir, a pipe, the
bounce mailbox) and what staff see of them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from digest.actions.common import Who, audit, require, utc_now
from digest.errors import DigestError

if TYPE_CHECKING:
    import ssl

    from sqlalchemy import Engine

    from digest.bounces import MailingRate
    from digest.config import Settings


@dataclass
class BounceOutcome:
    """What reading one returned message did, in words, and whether it was understood
    (False: it went to the needs-a-look list)."""

    source: str
    understood: bool
    said: list[str] = field(default_factory=list)
    mailings: set[int] = field(default_factory=set)


@dataclass
class BounceRun:
    """What one read did: an outcome per message, and mailings whose hard-bounce rate
    now passes the warning threshold."""

    outcomes: list[BounceOutcome] = field(default_factory=list)
    warnings: list[MailingRate] = field(default_factory=list)

    @property
    def not_understood(self) -> int:
        """How many messages went to the needs-a-look list."""
        return sum(not o.understood for o in self.outcomes)


def read_bounces(
    engine: Engine,
    settings: Settings,
    who: Who,
    messages: Iterable[tuple[str, bytes]],
    now: datetime | None = None,
) -> BounceRun:
    """Read returned messages (name, bytes): apply each bounce and complaint, audit it with
    its evidence, keep what cannot be understood for staff; nothing is dropped."""
    from digest.bounces import mailing_rates

    actor = require(who, "admin")
    run = BounceRun()
    for source, raw in messages:
        run.outcomes.append(_read_one(engine, settings, actor, source, raw, now or utc_now()))
    touched = sorted({m for o in run.outcomes for m in o.mailings})
    if touched:
        run.warnings = [r for r in mailing_rates(engine, settings, touched) if r.warn]
    return run


def _read_one(
    engine: Engine, settings: Settings, who: Who, source: str, raw: bytes, now: datetime
) -> BounceOutcome:
    from digest.bounces import apply, keep_for_a_look, read_report

    try:
        report = read_report(settings, raw)
    except Exception as exc:  # garbage in one message never stops the others
        from digest.bounces import Report

        report = Report(problem=f"unreadable: {type(exc).__name__}: {exc}")
    outcome = BounceOutcome(source, understood=not report.problem)
    with engine.begin() as conn:
        if report.ignored:
            outcome.said.append(f"ignored: {report.ignored}")
        elif report.problem:
            ident = keep_for_a_look(conn, report, source, raw, report.problem, now)
            outcome.said.append(f"needs a look (#{ident}): {report.problem}")
        for finding in report.findings:
            applied = apply(conn, settings, finding, source, now, report.report_id)
            evidence = " ".join(p for p in (finding.status, finding.detail) if p)
            outcome.said.append(f"{finding.kind} {applied.email}: {applied.effect} ({evidence})")
            if finding.delivery:
                outcome.mailings.add(finding.delivery[0])
    for line in outcome.said:
        if not line.startswith("ignored"):
            audit(engine, who, "bounce", f"{line} [{source}]"[:2000], now)
    return outcome


def read_bounce_mailbox(
    engine: Engine,
    settings: Settings,
    who: Who,
    now: datetime | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> BounceRun:
    """Read the bounce mailbox (BOUNCE_MAILBOX_URL, IMAP): every message in its folder is
    read, then moved to `bounces.processed` or deleted. Nothing configured: an empty run."""
    require(who, "admin")
    url = settings.bounces.mailbox_url
    if not url:
        return BounceRun()
    with _mailbox(url, ssl_context) as box:
        fetched = [(m.uid, m.obj.as_bytes()) for m in box.fetch(mark_seen=False, bulk=True)]
        name = _redacted_mailbox(url)
        messages = [(f"{name} uid {uid}", raw) for uid, raw in fetched if uid]
        run = read_bounces(engine, settings, who, messages, now)
        uids = [uid for uid, _ in fetched if uid]
        if uids and settings.bounces.processed:
            if not box.folder.exists(settings.bounces.processed):
                box.folder.create(settings.bounces.processed)
            box.move(uids, settings.bounces.processed)
        elif uids:
            box.delete(uids)
    return run


def _mailbox(url: str, ssl_context: ssl.SSLContext | None) -> Any:
    """A logged-in imap_tools mailbox for imaps:// (or imap:// with STARTTLS) URL. The
    server's certificate is checked (imaplib alone would not)."""
    import ssl

    from imap_tools import MailBox, MailBoxStartTls

    ssl_context = ssl_context or ssl.create_default_context()
    parts = urlsplit(url)
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    try:
        if parts.scheme == "imaps":
            box = MailBox(parts.hostname or "", parts.port or 993, ssl_context=ssl_context)
        else:
            box = MailBoxStartTls(parts.hostname or "", parts.port or 143, ssl_context=ssl_context)
        return box.login(user, password, folder)
    except Exception as exc:
        raise DigestError(
            f"bounce mailbox {_redacted_mailbox(url)}: {type(exc).__name__}: {exc}"
        ) from None


def _redacted_mailbox(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.username or ''}@{host}{port}{parts.path}"


def bounce_history(engine: Engine, who: Who, email: str) -> list[dict[str, Any]]:
    """One contact's bounces and complaints, newest first, with reasons."""
    from digest.bounces import events_for

    require(who, "prepare")
    return events_for(engine, email)


def dismiss_returned_mail(engine: Engine, who: Who, unread_id: int) -> str:
    """Take one message off the needs-a-look list (staff have dealt with it by hand); the
    audit log keeps who did so and what the message was. Says what was dismissed."""
    from digest.bounces import dismiss_unread

    require(who, "admin")
    gone = dismiss_unread(engine, unread_id)
    if gone is None:
        raise DigestError(f"returned mail {unread_id} is not on the needs-a-look list")
    what = f"from {gone['sender'] or 'an unknown sender'}: {gone['subject'] or '(no subject)'}"
    audit(engine, who, "returned mail dismissed", what[:500])
    return f"Dismissed the returned mail {what}."


def bounce_overview(engine: Engine, settings: Settings, who: Who) -> dict[str, Any]:
    """What the bounces page shows: recent events, the needs-a-look list and each
    mailing's hard-bounce and complaint counts (with the warning)."""
    from digest.bounces import mailing_rates, needs_a_look, recent_events

    require(who, "admin")
    return {
        "events": recent_events(engine),
        "unread": needs_a_look(engine),
        "rates": mailing_rates(engine, settings)[:20],
        "threshold": settings.bounces.hard_rate_warning,
    }
