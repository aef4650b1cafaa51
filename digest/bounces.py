"""Returned mail: reading delivery status notifications (RFC 3464), complaint reports
(ARF, RFC 5965) and the odd formats real servers send (flufl.bounce, Mailman's detectors),
and what each does to the press list.

A message is read into a Report: its findings (one per failed or complaining recipient,
each hard, soft or a complaint) and, when nothing in it can be used, why. Each finding is
tied to a delivery by the VERP token in the address the bounce came back to (or in the
original message's Return-Path), else by the original Message-ID (messages.message_id),
else by the recipient's address. Applying a finding records it as a bounce event with its
evidence and changes the subscriber: a hard bounce suppresses the address (status
bounced), soft bounces do once `bounces.soft_limit` of them arrive within
`bounces.soft_days`, and a complaint unsubscribes it. Suppressed addresses stay so through
imports and staff edits (subscribers.save_subscriber keeps an inactive status) until their
owner confirms a new subscription by email.
"""

from __future__ import annotations

import email
import email.message
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import getaddresses, parseaddr
from typing import Any

from sqlalchemy import Engine, case, func, select
from sqlalchemy.engine import Connection

from digest.config import Settings
from digest.store import bounce_events, bounce_unread, deliveries, mailings, subscribers
from digest.subscribers import same_address
from digest.text import clean_line
from digest.verp import delivery_of

HARD, SOFT, COMPLAINT = "hard", "soft", "complaint"
RAW_LIMIT = 256 * 1024
STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
SMTP_CODE = re.compile(r"\b([245])\d\d\b")
MAILBOX_FULL = re.compile(r"mailbox (is )?full|quota|over ?quota|insufficient storage", re.I)
AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(out of (the )?office|automatic reply|auto(matic)?[- ]?(reply|response)|auto:|"
    r"vacation|abwesenheit|absence|r[ée]ponse automatique)",
    re.I,
)
# Headers of the bounce that hold the address it came back to (the envelope sender of the
# original): Postfix and Dovecot add Delivered-To / X-Original-To, Exim Envelope-To.
RETURN_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To")
NOT_COMPLAINTS = ("not-spam",)
DSN_PARTS = ("message/delivery-status", "message/global-delivery-status")


@dataclass(frozen=True)
class Finding:
    """One recipient's bounce or complaint, with the evidence staff will see."""

    kind: str
    email: str
    status: str = ""
    detail: str = ""
    delivery: tuple[int, int] | None = None


@dataclass
class Report:
    """What one returned message says: findings, or `ignored` (an auto-reply, a delay
    notice that changes nothing), or else `problem`: why it needs a look."""

    findings: list[Finding] = field(default_factory=list)
    ignored: str = ""
    problem: str = ""
    subject: str = ""
    sender: str = ""
    report_id: str = ""


def read_report(settings: Settings, raw: bytes) -> Report:
    """Read one returned message (bytes as received)."""
    message = email.message_from_bytes(raw)
    report = Report(
        subject=_header(message, "Subject"),
        sender=_header(message, "From"),
        report_id=_header(message, "Message-ID")[:400],
    )
    if _auto_reply(message):
        report.ignored = "an auto-reply (RFC 3834), not a bounce"
        return report
    token = _token_in_headers(settings, message)
    kind = message.get_param("report-type", header="content-type") or ""
    if message.get_content_type() == "multipart/report" and kind.lower() == "feedback-report":
        return _complaint(settings, message, report, token)
    if message.get_content_type() == "multipart/report" and kind.lower() == "delivery-status":
        _dsn(settings, message, report, token)
    if not report.findings and not report.ignored:
        _heuristic(settings, message, report, token)
    return report


def _header(message: email.message.Message, name: str) -> str:
    return clean_line(str(message.get(name, "") or ""))[:300]


def _auto_reply(message: email.message.Message) -> bool:
    """An out-of-office or other automatic answer (RFC 3834), as opposed to a bounce: a
    bounce comes from the mail system (null Return-Path, MAILER-DAEMON, a report), which
    Postfix and Exim mark Auto-Submitted too."""
    if _from_mail_system(message):
        return False
    submitted = str(message.get("Auto-Submitted", "")).strip().lower()
    precedence = str(message.get("Precedence", "")).strip().lower()
    if submitted.startswith("auto-replied") or precedence == "auto_reply":
        return True
    if message.get("X-Autoreply") or message.get("X-Autorespond"):
        return True
    return bool(AUTO_REPLY_SUBJECT.match(_header(message, "Subject")))


def _from_mail_system(message: email.message.Message) -> bool:
    if message.get_content_type() == "multipart/report" or message.get("X-Failed-Recipients"):
        return True
    if str(message.get("Return-Path", "")).strip() == "<>":
        return True
    sender = parseaddr(str(message.get("From", "")))[1].lower()
    return sender.startswith(("mailer-daemon@", "postmaster@"))


def _token_in_headers(settings: Settings, message: Any) -> tuple[int, int] | None:
    """The delivery named by a VERP address in the bounce's own headers (it came back to
    that address) or in an original message's Return-Path."""
    for name in (*RETURN_HEADERS, "Return-Path"):
        for value in message.get_all(name, []) or []:
            for _, address in getaddresses([str(value)]):
                found = delivery_of(settings, address)
                if found:
                    return found
    return None


def _fields(part: Any) -> list[dict[str, str]]:
    """The field groups of a message/delivery-status or message/feedback-report part, each
    as lower-cased names to values (continuation lines joined)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        text = "\n\n".join(p.as_string() for p in payload)
    else:
        data = part.get_payload(decode=True) or b""
        text = data.decode("utf-8", "replace")
    groups: list[dict[str, str]] = []
    for block in re.split(r"\r?\n\s*\r?\n", text):
        values: dict[str, str] = {}
        last = ""
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and last:
                values[last] += " " + line.strip()
            elif ":" in line:
                name, _, value = line.partition(":")
                last = name.strip().lower()
                values.setdefault(last, value.strip())
        if values:
            groups.append(values)
    return groups


def _original(message: email.message.Message) -> email.message.Message | None:
    """The returned original's headers (message/rfc822 or text/rfc822-headers)."""
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload:
                return payload[0]
        if kind == "text/rfc822-headers":
            data = part.get_payload(decode=True) or b""
            return email.message_from_bytes(data.lstrip())
    return None


def _delivery_from_original(
    settings: Settings, message: email.message.Message, token: tuple[int, int] | None
) -> tuple[int, int] | None:
    """The delivery the bounce is about: the VERP token, else one in the original's
    Return-Path, else our Message-ID found in the original's headers or anywhere."""
    if token:
        return token
    original = _original(message)
    if original is not None:
        found = _token_in_headers(settings, original)
        if found:
            return found
        found = message_id_delivery(settings, str(original.get("Message-ID", "")))
        if found:
            return found
    return message_id_delivery(settings, message.as_string()[:RAW_LIMIT])


def message_id_delivery(settings: Settings, text: str) -> tuple[int, int] | None:
    """The (mailing, subscriber) of a Message-ID this program made, found in `text`."""
    shape = r"<mailing-(\d+)\.subscriber-(\d+)@" + re.escape(settings.email.list_id) + ">"
    found = re.search(shape, text, re.IGNORECASE)
    return (int(found.group(1)), int(found.group(2))) if found else None


def _address(value: str) -> str:
    """The address of a DSN recipient field ("rfc822; someone@example.org")."""
    _, _, rest = value.rpartition(";")
    return parseaddr(rest.strip())[1] or rest.strip().strip("<>")


def classify(action: str, status: str, diagnostic: str) -> str | None:
    """hard, soft or None (nothing to do: delivered, relayed, expanded) for one DSN
    recipient: a permanent failure is hard unless it says the mailbox is full (5.2.2,
    which RFC 3463 counts as persistent but that clears when the owner tidies up)."""
    action = action.lower().strip()
    if action in ("delivered", "relayed", "expanded"):
        return None
    code = status or _status_in(diagnostic)
    if action == "delayed" or code.startswith("4"):
        return SOFT
    if code == "5.2.2" or MAILBOX_FULL.search(diagnostic):
        return SOFT
    if code.startswith("5") or action == "failed":
        return HARD
    return None


def _status_in(text: str) -> str:
    found = STATUS.search(text)
    if found:
        return found.group(0)
    code = SMTP_CODE.search(text)
    return f"{code.group(1)}.0.0" if code else ""


def _dsn(
    settings: Settings,
    message: email.message.Message,
    report: Report,
    token: tuple[int, int] | None,
) -> None:
    """Findings from an RFC 3464 report: one per recipient block that failed or waits."""
    delivery = _delivery_from_original(settings, message, token)
    seen_status = False
    for part in message.walk():
        if part.get_content_type() not in DSN_PARTS:
            continue
        for group in _fields(part):
            recipient = group.get("final-recipient") or group.get("original-recipient")
            if not recipient:
                continue
            seen_status = True
            status = STATUS.search(group.get("status", ""))
            code = status.group(0) if status else ""
            diagnostic = clean_line(group.get("diagnostic-code", ""))[:500]
            kind = classify(group.get("action", ""), code, diagnostic)
            if kind:
                detail = diagnostic or f"Action: {group.get('action', '')}"
                code = code or _status_in(diagnostic)
                report.findings.append(Finding(kind, _address(recipient), code, detail, delivery))
    if seen_status and not report.findings:
        report.ignored = "a delivery report that needs nothing (delivered or relayed)"


def _complaint(
    settings: Settings,
    message: email.message.Message,
    report: Report,
    token: tuple[int, int] | None,
) -> Report:
    """A finding from an ARF feedback report (RFC 5965)."""
    fields: dict[str, str] = {}
    for part in message.walk():
        if part.get_content_type() == "message/feedback-report":
            for group in _fields(part):
                fields.update({k: v for k, v in group.items() if k not in fields})
    feedback = fields.get("feedback-type", "abuse").lower()
    if feedback in NOT_COMPLAINTS:
        report.ignored = f"a feedback report of type {feedback}, not a complaint"
        return report
    original = _original(message)
    mail_from = fields.get("original-mail-from", "")
    delivery = delivery_of(settings, parseaddr(mail_from)[1]) or _delivery_from_original(
        settings, message, token
    )
    recipient = parseaddr(fields.get("original-rcpt-to", ""))[1]
    if not recipient and original is not None:
        recipient = parseaddr(str(original.get("To", "")))[1]
    if not recipient and delivery is None:
        report.problem = "a complaint report naming neither a recipient nor a message of ours"
        return report
    detail = f"Feedback-Type: {feedback}"
    if fields.get("user-agent"):
        detail += f" (from {clean_line(fields['user-agent'])[:100]})"
    report.findings.append(Finding(COMPLAINT, recipient, "", detail, delivery))
    return report


def _heuristic(
    settings: Settings,
    message: email.message.Message,
    report: Report,
    token: tuple[int, int] | None,
) -> None:
    """Findings from a bounce in no standard form, by flufl.bounce's detectors."""
    from flufl.bounce import all_failures

    try:
        temporary, permanent = all_failures(message)
    except Exception as exc:  # a detector tripping on odd input is one unreadable message
        report.problem = f"the bounce detectors failed on it: {type(exc).__name__}: {exc}"
        return
    delivery = _delivery_from_original(settings, message, token)
    text = _body_text(message)
    status = _status_in(text)
    for kind, found in ((HARD, permanent), (SOFT, temporary)):
        for raw in sorted(found):
            address = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            if "@" not in address:
                continue
            actual = SOFT if kind == HARD and MAILBOX_FULL.search(text) else kind
            detail = f"recognised by flufl.bounce ({_header(message, 'Subject') or 'no subject'})"
            report.findings.append(Finding(actual, address, status, detail, delivery))
    if not report.findings:
        report.problem = "no failed recipient could be found in it"


def _body_text(message: email.message.Message) -> str:
    chunks = []
    for part in message.walk():
        if part.get_content_maintype() == "text":
            data = part.get_payload(decode=True) or b""
            chunks.append(data.decode("utf-8", "replace"))
    return "\n".join(chunks)[:RAW_LIMIT]


# What a finding does


@dataclass(frozen=True)
class Applied:
    """What one finding did: the subscriber it touched (None: no one on the list) and the
    effect in words."""

    finding: Finding
    subscriber_id: int | None
    email: str
    effect: str


def apply(
    conn: Connection,
    settings: Settings,
    finding: Finding,
    source: str,
    now: datetime,
    report_id: str = "",
) -> Applied:
    """Record one finding as a bounce event and change its subscriber accordingly. A
    report read before (same Message-ID, same subscriber: a mailbox read again after a
    crash) changes nothing and is not counted twice."""
    row, mailing_id = _subscriber_for(conn, finding)
    if row is None:
        return Applied(finding, None, finding.email, "no such address on the press list")
    if report_id and _seen(conn, report_id, row.id):
        return Applied(finding, row.id, row.email, "already read (the same report)")
    if finding.kind == COMPLAINT:
        effect = _set_inactive(conn, row, "unsubscribed", now, "unsubscribed (complaint)")
    elif finding.kind == HARD:
        effect = _set_inactive(conn, row, "bounced", now, "suppressed (hard bounce)")
        _mark_delivery(conn, mailing_id, row.id, finding)
    else:
        effect = _soft(conn, settings, row, now)
    conn.execute(
        bounce_events.insert().values(
            at=now,
            email=row.email,
            subscriber_id=row.id,
            mailing_id=mailing_id,
            kind=finding.kind,
            status=finding.status[:20],
            detail=finding.detail[:2000],
            source=source[:400],
            effect=effect[:200],
            report_id=report_id,
        )
    )
    return Applied(finding, row.id, row.email, effect)


def _seen(conn: Connection, report_id: str, subscriber_id: int) -> bool:
    query = select(bounce_events.c.id).where(
        bounce_events.c.report_id == report_id, bounce_events.c.subscriber_id == subscriber_id
    )
    return conn.execute(query.limit(1)).first() is not None


def _subscriber_for(conn: Connection, finding: Finding) -> tuple[Any, int | None]:
    """The subscriber row and mailing id a finding is about: by its delivery when known
    (and the mailing exists), else by the recipient's address."""
    if finding.delivery:
        mailing_id, subscriber_id = finding.delivery
        row = conn.execute(select(subscribers).where(subscribers.c.id == subscriber_id)).first()
        known = conn.execute(select(mailings.c.id).where(mailings.c.id == mailing_id)).scalar()
        if row is not None:
            return row, known
    if "@" not in finding.email:
        return None, None
    row = conn.execute(select(subscribers).where(same_address(finding.email))).first()
    return row, None


def _set_inactive(conn: Connection, row: Any, status: str, now: datetime, effect: str) -> str:
    if row.status == status:
        return f"already {status}"
    if row.status == "bounced" and status == "unsubscribed":
        return "already suppressed (bounced)"
    conn.execute(
        subscribers.update().where(subscribers.c.id == row.id).values(status=status, updated=now)
    )
    return effect


def _mark_delivery(
    conn: Connection, mailing_id: int | None, subscriber_id: int, finding: Finding
) -> None:
    if mailing_id is None:
        return
    conn.execute(
        deliveries.update()
        .where(
            deliveries.c.mailing_id == mailing_id,
            deliveries.c.subscriber_id == subscriber_id,
            deliveries.c.status == "sent",
        )
        .values(status="bounced", reply=f"{finding.status} {finding.detail}".strip()[:1000])
    )


def _soft(conn: Connection, settings: Settings, row: Any, now: datetime) -> str:
    """Count a soft bounce; the limit-th within the window suppresses the address."""
    limit, days = settings.bounces.soft_limit, settings.bounces.soft_days
    since = now - timedelta(days=days)
    earlier = conn.execute(
        select(func.count()).where(
            bounce_events.c.subscriber_id == row.id,
            bounce_events.c.kind == SOFT,
            bounce_events.c.at >= since,
        )
    ).scalar()
    count = int(earlier or 0) + 1
    if row.status in ("bounced", "unsubscribed"):
        return f"soft bounce {count} in {days} days (already {row.status})"
    if count >= limit:
        _set_inactive(conn, row, "bounced", now, "")
        return f"suppressed: {count} soft bounces in {days} days"
    return f"soft bounce {count} of {limit} in {days} days"


def keep_for_a_look(
    conn: Connection, report: Report, source: str, raw: bytes, reason: str, now: datetime
) -> int:
    """Keep a message nobody could read in the needs-a-look list; returns its id."""
    text = raw[:RAW_LIMIT].decode("utf-8", "replace")
    result = conn.execute(
        bounce_unread.insert().values(
            at=now,
            source=source[:400],
            reason=reason,
            subject=report.subject,
            sender=report.sender,
            raw=text,
        )
    )
    return int(result.inserted_primary_key[0])


# What staff see


def events_for(engine: Engine, email_address: str) -> list[dict[str, Any]]:
    """One address's bounce and complaint history, newest first."""
    query = (
        select(bounce_events)
        .where(func.lower(bounce_events.c.email) == email_address.lower())
        .order_by(bounce_events.c.at.desc(), bounce_events.c.id.desc())
    )
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def recent_events(engine: Engine, limit: int = 100) -> list[dict[str, Any]]:
    """The newest bounce and complaint events."""
    query = select(bounce_events).order_by(bounce_events.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def needs_a_look(engine: Engine, limit: int = 100) -> list[dict[str, Any]]:
    """Returned mail nobody could read, newest first (without the raw text)."""
    columns = [c for c in bounce_unread.c if c.name != "raw"]
    query = select(*columns).order_by(bounce_unread.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def dismiss_unread(engine: Engine, unread_id: int) -> dict[str, Any] | None:
    """Take a message off the needs-a-look list once staff have seen to it; returns what
    it was (when, from, subject), or None when no such message is listed."""
    columns = [bounce_unread.c.at, bounce_unread.c.sender, bounce_unread.c.subject]
    with engine.begin() as conn:
        row = conn.execute(select(*columns).where(bounce_unread.c.id == unread_id)).first()
        if row is None:
            return None
        conn.execute(bounce_unread.delete().where(bounce_unread.c.id == unread_id))
    return dict(row._mapping)


@dataclass(frozen=True)
class MailingRate:
    """A mailing's sends, hard bounces and complaints, and whether it passes the warning."""

    mailing_id: int
    subject: str
    sent: int
    hard: int
    complaints: int
    warn: bool

    @property
    def hard_rate(self) -> float:
        """Hard bounces as a percentage of the messages sent."""
        return 100.0 * self.hard / self.sent if self.sent else 0.0


def mailing_rates(
    engine: Engine, settings: Settings, mailing_ids: list[int] | None = None
) -> list[MailingRate]:
    """Bounce and complaint counts of mailings that have any (or of the ones given)."""
    counted = (
        select(
            bounce_events.c.mailing_id,
            func.sum(case((bounce_events.c.kind == HARD, 1), else_=0)).label("hard"),
            func.sum(case((bounce_events.c.kind == COMPLAINT, 1), else_=0)).label("complaints"),
        )
        .where(bounce_events.c.mailing_id.is_not(None))
        .group_by(bounce_events.c.mailing_id)
    )
    if mailing_ids is not None:
        counted = counted.where(bounce_events.c.mailing_id.in_(mailing_ids))
    rates = []
    with engine.connect() as conn:
        for row in conn.execute(counted).all():
            rates.append(_rate(conn, settings, row))
    return sorted(rates, key=lambda r: r.mailing_id, reverse=True)


def _rate(conn: Connection, settings: Settings, row: Any) -> MailingRate:
    sent = conn.execute(
        select(func.count()).where(
            deliveries.c.mailing_id == row.mailing_id,
            deliveries.c.status.in_(("sent", "bounced", "failed")),
        )
    ).scalar()
    subject = conn.execute(select(mailings.c.subject).where(mailings.c.id == row.mailing_id))
    hard, complaints = int(row.hard or 0), int(row.complaints or 0)
    sent = int(sent or 0)
    warn = bool(sent) and 100.0 * hard / sent > settings.bounces.hard_rate_warning
    return MailingRate(row.mailing_id, subject.scalar() or "", sent, hard, complaints, warn)


def maildir_messages(path: Any) -> Iterator[tuple[str, bytes]]:
    """The messages of a Maildir (new/ then cur/), each with its file name."""
    for folder in ("new", "cur"):
        directory = path / folder
        if directory.is_dir():
            for entry in sorted(directory.iterdir()):
                if entry.is_file():
                    yield str(entry), entry.read_bytes()
