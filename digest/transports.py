"""Transports: how a message leaves. One small interface (open, send, close); `smtp`
speaks to a relay with aiosmtplib, `outbox` writes .eml files. They know nothing of
mailings; they report each send as a reply string or a DeliveryError."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import re
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib

from digest.errors import DigestError
from digest.files import write_if_changed
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
    """The relay itself is unusable (cannot connect, 421 at greeting, refused EHLO): no
    recipient's fault, so no recipient's attempt is spent. `doubtful` when it may be one
    recipient's instead (a stall in the middle of a transaction): the sender decides by
    what happens to the other recipients (digest.sender)."""

    def __init__(self, reply: str, doubtful: bool = False) -> None:
        super().__init__(reply)
        self.doubtful = doubtful


class TransportUnusable(DigestError):
    """The way out cannot take any message (the outbox folder cannot be written): the run
    stops, every delivery stays as it was, and the message says what to do."""


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
CRLF = b"\r\n"


class _Replies(asyncio.Protocol):
    """The connection's protocol once aiosmtplib has greeted, secured and logged in: it
    only splits the server's replies (RFC 5321 4.2) into a queue, so several pipelined
    commands (RFC 2920) can be answered from one read."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.lines: list[str] = []
        self.ready: collections.deque[tuple[int, str]] = collections.deque()
        self.waiter: asyncio.Future[None] | None = None
        self.lost: Exception | None = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\n")) >= 0:
            line = bytes(self.buffer[: end + 1]).rstrip(b"\r\n")
            del self.buffer[: end + 1]
            self.lines.append(line[4:].decode("utf-8", "replace"))
            if line[3:4] != b"-":
                code = int(line[:3]) if line[:3].isdigit() else 0
                self.ready.append((code, "\n".join(self.lines)))
                self.lines = []
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc or ConnectionError("the server closed the connection")
        self._wake()

    def eof_received(self) -> bool:
        self.lost = ConnectionError("the server closed the connection")
        self._wake()
        return False

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def reply(self) -> tuple[int, str]:
        while not self.ready:
            if self.lost is not None:
                raise ConnectionError(str(self.lost) or "connection lost")
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        return self.ready.popleft()


class SMTPTransport:
    """One persistent SMTP connection: `smtp://user:pass@host:587` (STARTTLS when the server
    offers it) or `smtps://host:465` (implicit TLS). Reconnects after a dropped connection.
    aiosmtplib connects, negotiates TLS and logs in; each message then goes as MAIL, RCPT
    and DATA written by this class from bytes built once (pipelined when the server offers
    PIPELINING), so nothing is parsed or re-normalised per message."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        self.implicit_tls = parts.scheme == "smtps"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (465 if self.implicit_tls else 587)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.timeout = timeout
        self.transport: asyncio.WriteTransport | None = None
        self.replies: _Replies | None = None
        self.smtputf8 = False
        self.pipelining = False
        self._mail_from: dict[tuple[str, bool], bytes] = {}

    @property
    def relay(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        return (
            self.transport is not None
            and not self.transport.is_closing()
            and self.replies is not None
            and self.replies.lost is None
        )

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
        self.smtputf8 = client.supports_extension("smtputf8")
        self.pipelining = client.supports_extension("pipelining")
        transport = client.transport
        assert transport is not None
        self.replies = _Replies()
        transport.set_protocol(self.replies)
        self.transport = transport  # type: ignore[assignment]

    def _mail_command(self, sender: str, utf8: bool) -> bytes:
        key = (sender, utf8)
        if key not in self._mail_from:
            address, sender_utf8 = envelope_address(sender)
            line = b"MAIL FROM:<" + address.encode("utf-8") + b">"
            self._mail_from[key] = line + (b" SMTPUTF8" if utf8 or sender_utf8 else b"") + CRLF
        return self._mail_from[key]

    async def send(self, sender: str, recipient: str, message: bytes, message_id: str) -> str:
        try:
            address, utf8 = envelope_address(recipient)
        except ValueError as exc:
            raise DeliveryError(str(exc), permanent=True) from None
        if not address.isprintable() or any(c in address for c in "<> "):
            raise DeliveryError(f"{recipient!r}: not a mailbox", permanent=True)
        if not self.connected:
            await self.open()
        if utf8 and not self.smtputf8:
            raise DeliveryError(
                f"{recipient}: the address has a non-ASCII local part and {self.relay} does "
                "not offer SMTPUTF8 (RFC 6531), so it cannot be delivered",
                permanent=True,
            )
        commands = [
            self._mail_command(sender, utf8),
            b"RCPT TO:<" + address.encode("utf-8") + b">" + CRLF,
            b"DATA" + CRLF,
        ]
        try:
            async with asyncio.timeout(self.timeout):
                code, text = await self._transaction(commands, message)
        except TimeoutError:
            await self._drop()
            stalled = f"{self.relay} stalled: no reply within {self.timeout:g} s"
            raise RelayError(stalled, doubtful=True) from None
        except OSError as exc:
            await self._drop()
            raise DeliveryError(f"connection lost: {exc or type(exc).__name__}") from None
        return f"{code} {text}"

    async def _transaction(self, commands: list[bytes], message: bytes) -> tuple[int, str]:
        """MAIL, RCPT, DATA and the message; a refusal before the message raises
        DeliveryError after resetting the envelope."""
        assert self.transport is not None and self.replies is not None
        expected = (250, (250, 251), 354)
        if self.pipelining:
            self.transport.write(b"".join(commands))
            replies = [await self.replies.reply() for _ in commands]
        else:
            replies = []
            for command, wanted in zip(commands, expected, strict=True):
                self.transport.write(command)
                replies.append(await self.replies.reply())
                if replies[-1][0] not in (wanted if isinstance(wanted, tuple) else (wanted,)):
                    break
        for stage, ((code, text), wanted) in enumerate(zip(replies, expected, strict=False)):
            if code not in (wanted if isinstance(wanted, tuple) else (wanted,)):
                if len(replies) == 3 and replies[2][0] == 354:
                    self.transport.write(b"." + CRLF)
                    await self.replies.reply()
                await self._reset(code)
                raise self._error(code, text, temporary=stage == 1 and code in TEMPORARY_AT_RCPT)
        self.transport.write(smtp_data(message))
        code, text = await self.replies.reply()
        if code != 250:
            await self._drop()
            raise self._error(code, text)
        return code, text

    async def _reset(self, code: int) -> None:
        """After a refusal: RSET, or a new connection next time when the server is leaving."""
        if code == 421 or self.transport is None or self.replies is None:
            await self._drop()
            return
        self.transport.write(b"RSET" + CRLF)
        if (await self.replies.reply())[0] != 250:
            await self._drop()

    async def check(self, sender: str) -> None:
        """Probe the relay as a message would use it: connect, log in and ask MAIL FROM
        (then RSET). RelayError when it refuses, so a relay that greets but refuses every
        sender (452 "insufficient system storage", a rate limit) still counts as down."""
        await self.open()
        assert self.transport is not None and self.replies is not None
        try:
            async with asyncio.timeout(self.timeout):
                self.transport.write(self._mail_command(sender, False))
                code, text = await self.replies.reply()
                if code == 250:
                    self.transport.write(b"RSET" + CRLF)
                    await self.replies.reply()
        except (TimeoutError, OSError) as exc:
            await self._drop()
            raise RelayError(f"{self.relay} did not answer MAIL FROM: {exc!r}") from None
        if code != 250:
            await self._drop()
            raise RelayError(f"{code} {text}")

    def _error(self, code: int, text: str, temporary: bool = False) -> DeliveryError:
        permanent = 500 <= code < 600 and not temporary
        return DeliveryError(f"{code} {text}", permanent=permanent, code=code)

    async def _drop(self) -> None:
        transport, self.transport, self.replies = self.transport, None, None
        if transport is not None:
            transport.close()

    async def close(self) -> None:
        if self.connected:
            assert self.transport is not None and self.replies is not None
            with contextlib.suppress(TimeoutError, OSError):
                async with asyncio.timeout(self.timeout):
                    self.transport.write(b"QUIT" + CRLF)
                    await self.replies.reply()
        await self._drop()


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
        try:
            write_if_changed(path, message)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise TransportUnusable(
                f"the outbox {self.folder} cannot be written: {reason}. Nothing was lost: "
                "no delivery was counted as sent or failed, and the unsent ones go with the "
                "next `digest send`. Free space (or fix the folder) and run it again."
            ) from None
        return f"250 written to {path}"

    async def close(self) -> None:
        pass


def transport_for(smtp_url: str | None, outbox: Path, timeout: float) -> Transport:
    """The configured transport: SMTP when SMTP_URL is set, else the outbox folder."""
    if smtp_url:
        return SMTPTransport(smtp_url, timeout)
    return OutboxTransport(Path(os.fspath(outbox)))
