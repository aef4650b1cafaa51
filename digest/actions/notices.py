"""Short plain-text emails to staff about an alert that waits for approval and about the
decision on it: the senders hear when one is asked for, the person who asked hears when
it is approved or cancelled. Sent through the configured transport (SMTP, else the
outbox) on a thread of their own, so neither the page nor the command waits for the
relay; a notice that cannot be sent is written to the audit log, never an error."""

from __future__ import annotations

import asyncio
import threading
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING

from digest.actions.common import audit, utc_now
from digest.staff import list_staff

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from digest.config import Settings
    from digest.mailings import Mailing

NOTICE_ACTOR = "digest (staff notice)"


def staff_message(settings: Settings, to: str, subject: str, text: str) -> tuple[bytes, str]:
    """One plain-text notice to a member of staff, as bytes to hand to the relay."""
    message = EmailMessage(policy=SMTP)
    unique = make_msgid(domain=settings.email.list_id or None)
    message["From"] = settings.email.from_address
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(utc_now())
    message["Message-ID"] = unique
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    return message.as_bytes(), unique


def send_notices(
    settings: Settings, engine: Engine, to: list[str], subject: str, text: str
) -> threading.Thread | None:
    """Send one notice to each address, in the background; the thread (None when nobody
    is to be told). Whatever the relay says is written to the audit log."""
    if not to:
        return None

    def deliver() -> None:
        from digest.actions.delivery import transport_factory

        async def run() -> list[str]:
            transport = transport_factory(settings)()
            failed = []
            try:
                for address in to:
                    message, unique = staff_message(settings, address, subject, text)
                    try:
                        await transport.send(settings.email.from_address, address, message, unique)
                    except Exception as exc:
                        failed.append(f"{address}: {exc}")
            finally:
                await transport.close()
            return failed

        try:
            failed = asyncio.run(run())
        except Exception as exc:
            failed = [f"{', '.join(to)}: {exc}"]
        outcome = f"not sent ({'; '.join(failed)})" if failed else f"sent to {', '.join(to)}"
        audit(engine, NOTICE_ACTOR, "staff notice", f"{subject}: {outcome}")

    thread = threading.Thread(target=deliver, name="digest-staff-notice")
    thread.start()
    return thread


def mailing_link(settings: Settings, mailing: Mailing) -> str:
    """The console address of a mailing."""
    return f"{settings.base_url}admin/mailings/{mailing.id}"


def notify_senders(
    settings: Settings, engine: Engine, mailing: Mailing, asked_by: str, recipients: int
) -> threading.Thread | None:
    """Tell every member of staff who may approve (the send right; not the one who asked)
    that an alert waits for them."""
    senders = [
        member.email
        for member in list_staff(engine)
        if member.can("send") and member.label != asked_by
    ]
    text = (
        f"{asked_by} asks for this breaking alert to go to {recipients} recipients:\n\n"
        f"  {mailing.subject}\n\n"
        "It goes only once another sender approves it. Approve or cancel it here:\n"
        f"{mailing_link(settings, mailing)}\n"
    )
    return send_notices(settings, engine, senders, f"Approval needed: {mailing.subject}", text)


def notify_requester(
    settings: Settings, engine: Engine, mailing: Mailing, decision: str, by: str
) -> threading.Thread | None:
    """Tell the member of staff who asked for an alert that it was approved or cancelled."""
    asked = [m.email for m in list_staff(engine) if m.label == mailing.requested_by]
    if decision == "approved" and mailing.send_after:
        when = mailing.send_after.astimezone(settings.timezone)
        going = f"It goes at {when:%a %d %b %Y, %H:%M %Z}."
    else:
        going = "Nothing was sent." if decision == "cancelled" else "It is going out now."
    text = (
        f"Your breaking alert was {decision} by {by}:\n\n  {mailing.subject}\n\n"
        f"{going}\n{mailing_link(settings, mailing)}\n"
    )
    return send_notices(settings, engine, asked, f"Alert {decision}: {mailing.subject}", text)
