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


class Transport(Protocol):
    """The way out for messages."""

    async def open(self) -> None: ...

    async def send(self, sender: str, recipient: str, message: bytes, message_id: str) -> str: ...

    async def close(self) -> None: ...


class SMTPTransport:
    """One persistent SMTP connection: `smtp://user:pass@host:587` (STARTTLS when the server
    offers it) or `smtps://host:465` (implicit TLS). Reconnects after a dropped connection."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        self.implicit_tls = parts.scheme == "smtps"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (465 if self.implicit_tls else 587)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.timeout = timeout
        self.client: aiosmtplib.SMTP | None = None

    async def open(self) -> None:
        client = aiosmtplib.SMTP(
            hostname=self.host, port=self.port, use_tls=self.implicit_tls, timeout=self.timeout
        )
        try:
            await client.connect()
            if self.username:
                if client.transport.get_extra_info("sslcontext") is None:
                    client.close()
                    raise DeliveryError(
                        f"{self.host}:{self.port} offers no TLS; refusing to send the password"
                    )
                await client.login(self.username, self.password or "")
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"cannot connect to {self.host}:{self.port}: {exc}") from None
        self.client = client

    async def send(self, sender: str, recipient: str, message: bytes, message_id: str) -> str:
        if self.client is None or not self.client.is_connected:
            await self.open()
        assert self.client is not None
        try:
            _errors, reply = await self.client.sendmail(sender, [recipient], message)
            return reply
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refusal = exc.recipients[0]
            raise self._error(refusal.code, refusal.message) from None
        except aiosmtplib.SMTPResponseException as exc:
            await self._drop()
            raise self._error(exc.code, exc.message) from None
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            await self._drop()
            raise DeliveryError(f"connection lost: {exc or type(exc).__name__}") from None

    def _error(self, code: int, text: str) -> DeliveryError:
        return DeliveryError(f"{code} {text}", permanent=500 <= code < 600, code=code)

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
