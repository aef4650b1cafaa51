"""MIME messages: one recipient's copy of a rendered body, with the headers that make bulk
mail welcome (RFC 8058 one-click unsubscribe, List-Id, a stable Message-ID).

The standard `email` package builds and serialises each mailing body once, as a template;
a recipient's copy then only fills in its own headers (To, Message-ID, Date,
List-Unsubscribe) and the body lines that hold placeholders, quoted-printable encoded
line by line (a hard line break ends a quoted-printable line, so the other lines are
encoded once for everyone)."""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr

import dkim
from email_validator import EmailNotValidError, validate_email

from digest.config import Settings
from digest.links import private_link, signed_link
from digest.render import PLACEHOLDER_MARK, Rendered, personalise
from digest.text import clean_line

# Bodies are quoted-printable at 76 characters (RFC 2045); headers may run to RFC 5322's
# 998 octets, so a long List-Unsubscribe URL is never turned into encoded-words.
BODY_POLICY = SMTP.clone(max_line_length=76)
HEADER_POLICY = SMTP.clone(max_line_length=998)
TEXT_SLOT, HTML_SLOT = "@@TEXT-BODY@@", "@@HTML-BODY@@"
SIGNED_HEADERS = [
    b"From",
    b"To",
    b"Subject",
    b"Date",
    b"Message-ID",
    b"Reply-To",
    b"List-Id",
    b"List-Unsubscribe",
    b"List-Unsubscribe-Post",
    b"MIME-Version",
    b"Content-Type",
]


@dataclass(frozen=True)
class Recipient:
    """Who one delivery goes to."""

    subscriber_id: int
    email: str
    name: str = ""


def envelope_address(address: str) -> tuple[str, bool]:
    """The address as the envelope and the To header carry it: an internationalised
    domain in its IDNA (xn--) form; and whether it still needs SMTPUTF8 (RFC 6531), which
    only a non-ASCII local part does. ValueError when the domain has no IDNA form."""
    if address.isascii():
        return address, False
    try:
        valid = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"{address}: {exc}") from None
    return f"{valid.local_part}@{valid.ascii_domain}", not valid.local_part.isascii()


def message_id(settings: Settings, mailing_id: int, subscriber_id: int) -> str:
    """The same Message-ID for every attempt of one (mailing, subscriber), so a copy sent
    twice after a crash can be recognised as one message."""
    return f"<mailing-{mailing_id}.subscriber-{subscriber_id}@{settings.email.list_id}>"


def _qp(text: str) -> bytes:
    return binascii.b2a_qp(text.encode(), istext=True)


def _encoded_lines(body: str) -> list[bytes | str]:
    """A body as CRLF quoted-printable chunks: bytes encoded once, or str lines holding
    placeholders, to be filled in and encoded per recipient."""
    chunks: list[bytes | str] = []
    plain: list[str] = []
    lines = body.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for line in lines:
        if PLACEHOLDER_MARK in line:
            if plain:
                chunks.append(_qp("".join(plain)))
                plain = []
            chunks.append(line + "\r\n")
        else:
            plain.append(line + "\r\n")
    if plain:
        chunks.append(_qp("".join(plain)))
    return chunks


@dataclass(frozen=True)
class MessageTemplate:
    """A mailing body serialised once, with the per-recipient parts left open."""

    settings: Settings
    mailing_id: int
    head_and_body: bytes
    text: list[bytes | str]
    html: list[bytes | str]


def prepare(settings: Settings, mailing_id: int, body: Rendered) -> MessageTemplate:
    """Build and serialise a body's message once: multipart/alternative, text part first,
    both quoted-printable; the subject goes through clean_line so a newline in it can
    never start a header."""
    message = EmailMessage(policy=BODY_POLICY)
    message["Subject"] = clean_line(body.subject)
    message["From"] = _address(settings.email.from_name, settings.email.from_address)
    if settings.email.reply_to:
        message["Reply-To"] = settings.email.reply_to
    list_name = clean_line(settings.newsroom_name)
    message["List-Id"] = f"{list_name} press list <{settings.email.list_id}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(TEXT_SLOT + "\n", cte="quoted-printable")
    message.add_alternative(HTML_SLOT + "\n", subtype="html", cte="quoted-printable")
    return MessageTemplate(
        settings=settings,
        mailing_id=mailing_id,
        head_and_body=message.as_bytes(policy=HEADER_POLICY),
        text=_encoded_lines(body.text),
        html=_encoded_lines(body.html),
    )


def _address(name: str, email: str) -> Address:
    local, _, domain = email.rpartition("@")
    return Address(display_name=clean_line(name), username=local, domain=domain)


def personal_message(template: MessageTemplate, recipient: Recipient, now: datetime) -> bytes:
    """One recipient's copy, ready for SMTP: CRLF line ends, no line over 998 octets.
    The name goes through clean_line, so a newline in it can never add a header."""
    settings = template.settings
    sid, email = recipient.subscriber_id, recipient.email
    name = clean_line(recipient.name)
    preferences = signed_link(settings, "preferences", sid, email)
    unsubscribe = signed_link(settings, "unsubscribe", sid, email)
    token = unsubscribe.rsplit("/", 1)[1]
    mailto = f"mailto:{settings.email.unsubscribe_address}?subject=unsubscribe%20{token}"
    fill = {"name": name, "email": email, "preferences": preferences, "unsubscribe": unsubscribe}
    head = (
        f"To: {_to_header(name, email)}\r\n"
        f"Date: {format_datetime(now)}\r\n"
        f"Message-ID: {message_id(settings, template.mailing_id, sid)}\r\n"
        f"List-Unsubscribe: <{unsubscribe}>, <{mailto}>\r\n"
    ).encode()

    def private(mailing_id: int) -> str:
        return private_link(settings, mailing_id, sid)

    text = _fill(template.text, fill, False, private)
    html = _fill(template.html, fill, True, private)
    body = template.head_and_body.replace(TEXT_SLOT.encode() + b"\r\n", text, 1)
    message = head + body.replace(HTML_SLOT.encode() + b"\r\n", html, 1)
    if settings.email.dkim_key:
        return dkim_signature(settings, message) + message
    return message


def _to_header(name: str, email: str) -> str:
    """The To header: the name encoded for 7-bit transport; the address in IDNA form, left
    in UTF-8 only when its local part needs SMTPUTF8 (RFC 6532)."""
    address, _utf8 = envelope_address(email)
    if address.isascii():
        return formataddr((name, address), charset="utf-8")
    if not name:
        return address
    placeholder = "x@x.invalid"
    display = formataddr((name, placeholder), charset="utf-8").removesuffix(f"<{placeholder}>")
    return f"{display}<{address}>"


def dkim_signature(settings: Settings, message: bytes) -> bytes:
    """The DKIM-Signature header (relaxed/relaxed, rsa-sha256) for a message."""
    return dkim.sign(
        message,
        settings.email.dkim_selector.encode(),
        settings.email.dkim_domain.encode(),
        settings.email.dkim_key or b"",
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=SIGNED_HEADERS,
    )


PRIVATE_URL = re.compile(r"@@PRIVATE_URL-(\d+)@@")


def _fill(
    chunks: list[bytes | str], fill: dict[str, str], as_html: bool, private: Callable[[int], str]
) -> bytes:
    def one(chunk: str) -> bytes:
        linked = PRIVATE_URL.sub(lambda match: private(int(match[1])), chunk)
        return _qp(personalise(linked, **fill, as_html=as_html))

    return b"".join(chunk if isinstance(chunk, bytes) else one(chunk) for chunk in chunks)


def build_message(
    settings: Settings, mailing_id: int, body: Rendered, recipient: Recipient, now: datetime
) -> bytes:
    """One message, template and all (for previews and test sends)."""
    return personal_message(prepare(settings, mailing_id, body), recipient, now)
