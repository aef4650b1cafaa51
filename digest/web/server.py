"""uvicorn's fast HTTP protocol (httptools) with the three limits it lacks: the size of a
request head (431 past MAX_HEADER_BYTES), the time a client may take to send it (408
and close after HEADER_SECONDS), so a slow or endless head cannot hold a connection or
memory, and the connections one client address may hold open (503 and close past the
web app's `connection_cap`, so one address cannot take every connection the server
takes in all and shut everyone else out); and the fastest path for the output folder: a
GET or HEAD of a file the app holds in memory is answered right where the request head
is parsed, with one write of a prepared head and body, without starting an ASGI task.
Everything else is uvicorn's."""

from __future__ import annotations

import asyncio
import ipaddress
import urllib.parse
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEADER_BYTES = 16 * 1024
HEADER_SECONDS = 10.0
REASONS = {
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
    503: b"Too many connections from your address",
}
PER_CLIENT_DEFAULT = 100


def peer_key(host: str) -> str:
    """The connection-count key of a peer: IPv4 as is, IPv6 by its /64 (one household or
    server has a whole /64), anything else as given."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that refuses request heads that are too big or too slow."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.head_timer: asyncio.TimerHandle | None = None
        self.head_open = False
        self.peer_key: str | None = None
        if not self._count_peer():
            self._refuse(503)
            return
        self._open_head()

    def _count_peer(self) -> bool:
        """Count this connection against its peer address; False when the peer already
        holds as many as it may (the web app's `connection_cap`; none for a trusted proxy,
        whose clients the proxy itself limits)."""
        host = self.client[0] if self.client else None
        if not host:
            return True
        web = self._cached_web_app()
        cap = web.connection_cap(host) if web is not None else PER_CLIENT_DEFAULT
        if cap is None:
            return True
        counts: dict[str, int] = self.server_state.__dict__.setdefault("per_peer", {})
        key = peer_key(host)
        if counts.get(key, 0) >= cap:
            return False
        counts[key] = counts.get(key, 0) + 1
        self.peer_key = key
        return True

    def _release_peer(self) -> None:
        if self.peer_key is None:
            return
        counts: dict[str, int] = self.server_state.__dict__["per_peer"]
        left = counts.get(self.peer_key, 1) - 1
        if left > 0:
            counts[self.peer_key] = left
        else:
            counts.pop(self.peer_key, None)
        self.peer_key = None

    def _open_head(self) -> None:
        """Wait for the next request head: an idle connection is closed after the
        keep-alive timeout, a head begun but not finished gets 408 after HEADER_SECONDS.
        One timer per connection, re-armed only when it fires (no timer per request)."""
        self.head_open = True
        self.head_size = 0
        self.head_since = self.loop.time()
        if self.head_timer is None:
            self.head_timer = self.loop.call_later(self.timeout_keep_alive, self._check_head)

    def _check_head(self) -> None:
        self.head_timer = None
        if not self.head_open or self.transport.is_closing():
            return
        limit = HEADER_SECONDS if self.head_size else self.timeout_keep_alive
        waited = self.loop.time() - self.head_since
        if waited < limit:
            self.head_timer = self.loop.call_later(limit - waited, self._check_head)
        elif self.head_size:
            self._refuse(408)
        else:
            self.transport.close()

    def _disarm_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _refuse(self, status: int) -> None:
        reason = REASONS[status]
        body = reason + b"\n"
        wait = b"retry-after: 10\r\n" if status == 503 else b""
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n%s"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s"
            % (status, reason, wait, len(body), body)
        )
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        if self.head_open:
            if not self.head_size:
                self.head_since = self.loop.time()
            end = data.find(b"\r\n\r\n")
            self.head_size += len(data) if end < 0 else end + 4
            if self.head_size > MAX_HEADER_BYTES:
                self._disarm_head_timer()
                if not self.transport.is_closing():
                    self._refuse(431)
                return
        super().data_received(data)

    def on_message_begin(self) -> None:
        self.answered = False
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self.head_open = False
        if self._answer_from_memory():
            self.answered = True
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not getattr(self, "answered", False):
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not getattr(self, "answered", False):
            super().on_message_complete()

    def _web_app(self) -> Any:
        """The application under uvicorn's wrappers that can answer from memory (the
        web app's `in_memory`), or None."""
        app = self.app
        while not hasattr(app, "in_memory") and hasattr(app, "app"):
            app = app.app
        return app if hasattr(app, "in_memory") else None

    def _answer_from_memory(self) -> bool:
        """Answer a GET or HEAD of an in-memory file at once; False to go the ASGI way."""
        if self.cycle is not None and not self.cycle.response_complete:
            return False
        if self.parser.should_upgrade():
            return False
        method = self.parser.get_method()
        if method != b"GET" and method != b"HEAD":
            return False
        found = self._memory_entry()
        if found is None:
            return False
        web, entry = found
        self._write_entry(web, entry, method == b"GET")
        return True

    def _cached_web_app(self) -> Any:
        web = getattr(self, "web", False)
        if web is False:
            web = self.web = self._web_app()
        return web

    def _memory_entry(self) -> tuple[Any, Any] | None:
        """The web app and the in-memory file this request's path names, when it has no
        body; else None."""
        web = self._cached_web_app()
        if web is None:
            return None
        try:
            path = httptools.parse_url(self.url).path.decode("ascii")
        except (httptools.HttpParserInvalidURLError, UnicodeDecodeError):
            return None
        if "%" in path:
            path = urllib.parse.unquote(path)
        entry = web.in_memory(path)
        if entry is None:
            return None
        for name, _ in self.headers:
            if name == b"content-length" or name == b"transfer-encoding":
                return None
        return web, entry

    def _write_entry(self, web: Any, entry: Any, with_body: bool) -> None:
        """Write the whole response for an in-memory file (200 or 304) in one go."""
        status, variant = web.files.choose(entry, self.headers)
        keep_alive = self.parser.get_http_version() != "1.0" and self.parser.should_keep_alive()
        parts = [variant.raw_full if status == 200 else variant.raw_not_modified]
        parts.extend(
            name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers
        )
        if not keep_alive:
            parts.append(b"connection: close\r\n")
        parts.append(b"\r\n")
        if status == 200 and with_body:
            parts.append(variant.body)
        self.transport.write(b"".join(parts))
        if not keep_alive:
            self.transport.close()
            return
        self.on_response_complete()

    def on_response_complete(self) -> None:
        """uvicorn's own, except that the keep-alive wait is the head timer's job (no
        timer is made and cancelled per request)."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        else:
            self._open_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        self._release_peer()
        super().connection_lost(exc)
