"""Transports: how a message leaves. One small interface (open, send, close); `smtp`
speaks to a relay with aiosmtplib, `outbox` writes .eml files. They know nothing of
mailings; they report each send as a reply string or a DeliveryError."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib

from digest.errors import DigestError
from digest.feeds import write_if_changed
from digest.messages import envelope_address

HARD_BOUNCE = re.compile(r"\b5\.1\.\d{1,3}\b")


class DeliveryError(DigestError):
    """A send that did not succeed. `permanent` is True for 5xx replies (do not retry);
    `hard_bounce` when the reply says the address does not exist (5.1.x)."""

    def __init__(self, reply: str, permanent: bool = False, code: int | None = None):
        super().__init__(reply)
        self.reply = reply
        self.permanent = permanent
        self.code = code

    @property
    def hard_bounce(self) -> bool:
        return self.permanent and bool(HARD_BOUNCE.search(self.reply))


class RelayError(DeliveryError):
    """The relay itself is unusable (cannot connect, 421 at greeting, refused EHLO,
    stalled until the timeout): no recipient's fault, so no recipient's attempt is spent."""


class Transport(Protocol):
    """The way out for messages."""

    async def open(self) -> None: ...

    async def send(self, sender: str, recipient: str, message: bytes, message_id: str) -> str: ...

    async def close(self) -> None: ...


def smtp_data(message: bytes) -> bytes:
    """A CRLF message as the DATA phase carries it: lines starting with a dot doubled
    (RFC 5321 4.5.2) and the terminating dot line."""
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    stuffed = message.replace(b"\r\n.", b"\r\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    return stuffed + b".\r\n"


# RFC 5321 4.5.3.1.10: 552 to RCPT means "too many recipients" and is to be treated as
# temporary; mailbox-full 552s at DATA stay permanent.
TEMPORARY_AT_RCPT = {552}


class SMTPTransport:
    """One persistent SMTP connection: `smtp://user:pass@host:587` (STARTTLS when the server
    offers it) or `smtps://host:465` (implicit TLS). Reconnects after a dropped connection.
    Speaks MAIL, RCPT and DATA itself with bytes built once, so the client neither parses
    addresses nor re-normalises line endings per message."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        self.implicit_tls = parts.scheme == "smtps"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (465 if self.implicit_tls else 587)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.timeout = timeout
        self.client: aiosmtplib.SMTP | None = None
        self.smtputf8 = False
        self._mail_from: dict[tuple[str, bool], bytes] = {}

    @property
    def relay(self) -> str:
        return f"{self.host}:{self.port}"

    async def open(self) -> None:
        client = aiosmtplib.SMTP(
            hostname=self.host, port=self.port, use_tls=self.implicit_tls, timeout=self.timeout
        )
        try:
            await client.connect()
            if client.is_ehlo_or_helo_needed:
                await client.ehlo()
            if self.username:
                if client.transport.get_extra_info("sslcontext") is None:
                    client.close()
                    raise RelayError(f"{self.relay} offers no TLS; refusing to send the password")
                await client.login(self.username, self.password or "")
        except RelayError:
            raise
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            raise RelayError(f"cannot connect to {self.relay}: {exc}") from None
        self.client = client
        self.smtputf8 = client.supports_extension("smtputf8")

    def _mail_command(self, sender: str, utf8: bool) -> bytes:
        key = (sender, utf8)
        if key not in self._mail_from:
            address, sender_utf8 = envelope_address(sender)
            line = b"FROM:<" + address.encode("utf-8") + b">"
            self._mail_from[key] = line + (b" SMTPUTF8" if utf8 or sender_utf8 else b"")
        return self._mail_from[key]

    async def send(self, sender: str, recipient: str, message: bytes, message_id: str) -> str:
        try:
            address, utf8 = envelope_address(recipient)
        except ValueError as exc:
            raise DeliveryError(str(exc), permanent=True) from None
        if self.client is None or not self.client.is_connected:
            await self.open()
        client = self.client
        assert client is not None and client.protocol is not None
        if utf8 and not self.smtputf8:
            raise DeliveryError(
                f"{recipient}: the address has a non-ASCII local part and {self.relay} does "
                "not offer SMTPUTF8 (RFC 6531), so it cannot be delivered",
                permanent=True,
            )
        stage = "MAIL"
        try:
            reply = await client.execute_command(b"MAIL", self._mail_command(sender, utf8))
            if reply.code != 250:
                return await self._refused(reply.code, reply.message)
            stage = "RCPT"
            reply = await client.execute_command(b"RCPT", b"TO:<" + address.encode() + b">")
            if reply.code not in (250, 251):
                return await self._refused(reply.code, reply.message, at_rcpt=True)
            stage = "DATA"
            reply = await client.execute_command(b"DATA")
            if reply.code != 354:
                return await self._refused(reply.code, reply.message)
            protocol = client.protocol
            protocol.write(smtp_data(message))
            reply = await protocol.read_response(timeout=self.timeout)
        except TimeoutError:
            await self._drop()
            stalled = f"{self.relay} stalled: no reply to {stage} in {self.timeout:g} s"
            raise RelayError(stalled) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            await self._drop()
            raise DeliveryError(f"connection lost: {exc or type(exc).__name__}") from None
        if reply.code != 250:
            await self._drop()
            raise self._error(reply.code, reply.message)
        return f"{reply.code} {reply.message}"

    async def _refused(self, code: int, text: str, at_rcpt: bool = False) -> str:
        """A refusal before DATA: reset the envelope and report it; the connection stays."""
        try:
            await self.client.execute_command(b"RSET")  # type: ignore[union-attr]
        except (TimeoutError, aiosmtplib.SMTPException, OSError):
            await self._drop()
        if code == 421:
            await self._drop()
        raise self._error(code, text, temporary=at_rcpt and code in TEMPORARY_AT_RCPT)

    def _error(self, code: int, text: str, temporary: bool = False) -> DeliveryError:
        permanent = 500 <= code < 600 and not temporary
        return DeliveryError(f"{code} {text}", permanent=permanent, code=code)

    async def _drop(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is not None and client.is_connected:
            try:
                await client.quit()
            except (TimeoutError, aiosmtplib.SMTPException, OSError):
                client.close()


class OutboxTransport:
    """Writes each message to `<folder>/<message id>.eml`: the embedded default when
    SMTP_URL is unset. The same Message-ID overwrites its own file, never duplicates."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    async def send(self, sender: str, recipient: str, message: bytes, message_id: str) -> str:
        name = re.sub(r"[^A-Za-z0-9._-]", "_", message_id.strip("<>")) + ".eml"
        path = self.folder / name
        write_if_changed(path, message)
        return f"250 written to {path}"

    async def close(self) -> None:
        pass


def transport_for(smtp_url: str | None, outbox: Path, timeout: float) -> Transport:
    """The configured transport: SMTP when SMTP_URL is set, else the outbox folder."""
    if smtp_url:
        return SMTPTransport(smtp_url, timeout)
    return OutboxTransport(Path(os.fspath(outbox)))
