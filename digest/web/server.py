"""uvicorn's fast HTTP protocol (httptools) with the two limits it lacks: the size of a
request head (431 past MAX_HEADER_BYTES) and the time a client may take to send it (408
and close after HEADER_SECONDS), so a slow or endless head cannot hold a connection or
memory. Everything else is uvicorn's own code."""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEADER_BYTES = 16 * 1024
HEADER_SECONDS = 10.0
REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that refuses request heads that are too big or too slow."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.head_size = 0
        self.head_open = True
        self.head_timer: asyncio.TimerHandle | None = None
        self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        if self.head_timer is None:
            self.head_timer = self.loop.call_later(HEADER_SECONDS, self._head_too_slow)

    def _disarm_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _refuse(self, status: int) -> None:
        reason = REASONS[status]
        body = reason + b"\n"
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (status, reason, len(body), body)
        )
        self.transport.close()

    def _head_too_slow(self) -> None:
        self.head_timer = None
        if self.head_open and not self.transport.is_closing():
            self._refuse(408)

    def data_received(self, data: bytes) -> None:
        if self.head_open:
            end = data.find(b"\r\n\r\n")
            self.head_size += len(data) if end < 0 else end + 4
            if self.head_size > MAX_HEADER_BYTES:
                self._disarm_head_timer()
                if not self.transport.is_closing():
                    self._refuse(431)
                return
            self._arm_head_timer()
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self.head_open = False
        self.head_size = 0
        self._disarm_head_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            self.head_open = True
            self.head_size = 0

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)
