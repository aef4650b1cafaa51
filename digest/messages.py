"""MIME messages: one recipient's copy of a rendered body, with the headers that make
bulk mail welcome (RFC 8058 one-click unsubscribe, List-Id, a stable Message-ID)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from digest.config import Settings
from digest.links import link, sign
from digest.render import Rendered, personalise
from digest.text import clean_line

# Bodies are quoted-printable at 76 characters (RFC 2045); headers may run to RFC 5322's
# 998 octets, so a long List-Unsubscribe URL is never turned into encoded-words.
BODY_POLICY = SMTP.clone(max_line_length=76)
HEADER_POLICY = SMTP.clone(max_line_length=998)


def serialise(message: EmailMessage) -> bytes:
    """The message as SMTP wants it: CRLF line ends, no line over 998 octets."""
    return message.as_bytes(policy=HEADER_POLICY)


@dataclass(frozen=True)
class Recipient:
    """Who one delivery goes to."""

    subscriber_id: int
    email: str
    name: str = ""


def message_id(settings: Settings, mailing_id: int, subscriber_id: int) -> str:
    """The same Message-ID for every attempt of one (mailing, subscriber), so a copy sent
    twice after a crash can be recognised as one message."""
    return f"<mailing-{mailing_id}.subscriber-{subscriber_id}@{settings.email.list_id}>"


def _address(name: str, email: str) -> Address:
    local, _, domain = email.rpartition("@")
    return Address(display_name=clean_line(name), username=local, domain=domain)


def build_message(
    settings: Settings,
    mailing_id: int,
    body: Rendered,
    recipient: Recipient,
    now: datetime,
) -> EmailMessage:
    """A multipart/alternative message (text first, then HTML, both quoted-printable) for
    one recipient: their name and signed links filled in, headers set. Names and subjects
    pass through clean_line, so a newline in them can never start a new header."""
    secret = settings.secret_key
    sid, email = recipient.subscriber_id, recipient.email
    preferences = link(settings.base_url, "preferences", sign(secret, "preferences", sid, email))
    unsubscribe_token = sign(secret, "unsubscribe", sid, email)
    unsubscribe = link(settings.base_url, "unsubscribe", unsubscribe_token)
    fill = {"name": recipient.name, "email": email, "preferences": preferences,
            "unsubscribe": unsubscribe}  # fmt: skip

    message = EmailMessage(policy=BODY_POLICY)
    message["Subject"] = clean_line(body.subject)
    message["From"] = _address(settings.email.from_name, settings.email.from_address)
    message["To"] = _address(recipient.name, email)
    if settings.email.reply_to:
        message["Reply-To"] = settings.email.reply_to
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(settings, mailing_id, sid)
    message["List-Id"] = (
        f"{clean_line(settings.newsroom_name)} press list <{settings.email.list_id}>"
    )
    mailto = (
        f"mailto:{settings.email.unsubscribe_address}?subject=unsubscribe%20{unsubscribe_token}"
    )
    message["List-Unsubscribe"] = f"<{unsubscribe}>, <{mailto}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(personalise(body.text, **fill, as_html=False), cte="quoted-printable")
    message.add_alternative(
        personalise(body.html, **fill, as_html=True), subtype="html", cte="quoted-printable"
    )
    return message
