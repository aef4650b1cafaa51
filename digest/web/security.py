"""What every response of the web process carries and what it refuses before a handler
runs: security headers (CSP, nosniff, frame-ancestors, Referrer-Policy, Permissions-Policy,
HSTS for an https BASE_URL) and a cap on request bodies (413 before reading past it).

Other modules use them as plain ASGI middleware around any app: `SecureHeaders(app,
settings)` adds the headers a response lacks, `BodyLimit(app, limit)` refuses big bodies."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from digest.config import Settings

MAX_BODY_BYTES = 64 * 1024
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
HSTS = "max-age=31536000; includeSubDomains"


def common_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
    """Headers for every response: nosniff, and HSTS when BASE_URL is https."""
    headers = [(b"x-content-type-options", b"nosniff")]
    if settings.base_url.startswith("https:"):
        headers.append((b"strict-transport-security", HSTS.encode()))
    return headers


def page_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
    """Headers for every HTML response, on top of the common ones."""
    return [
        *common_headers(settings),
        (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"strict-origin-when-cross-origin"),
        (b"permissions-policy", PERMISSIONS_POLICY.encode()),
    ]


def _missing(
    headers: list[tuple[bytes, bytes]], extra: Iterable[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    present = {name.lower() for name, _ in headers}
    return [(name, value) for name, value in extra if name not in present]


class SecureHeaders:
    """ASGI middleware: adds the common headers to every response and the page headers to
    every HTML one, leaving any a handler set itself (an admin preview's own CSP)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.common = common_headers(settings)
        self.page = page_headers(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                extra = self.page if content_type.startswith(b"text/html") else self.common
                message["headers"] = headers + _missing(headers, extra)
            await send(message)

        await self.app(scope, receive, secured)


class BodyTooLarge(HTTPException):
    """A request body went past the limit while a handler read it (Starlette answers 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body too large (the limit is {limit // 1024} KiB).")


class BodyLimit:
    """ASGI middleware: a request whose Content-Length is over `limit` gets 413 without a
    byte of its body read; a chunked body is counted as it streams in and stopped (413)
    the moment it passes the limit. Nothing is buffered here. `wider` names the paths
    allowed a larger body (the console's press-list import) and their limits."""

    def __init__(
        self, app: ASGIApp, limit: int = MAX_BODY_BYTES, wider: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.limit = limit
        self.wider = wider or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.wider.get(scope.get("path", ""), self.limit)
        for name, value in scope["headers"]:
            if name == b"content-length" and (
                not value.isdigit() or len(value) > 15 or int(value) > limit
            ):
                await too_large(send, limit)
                return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if not started:
                await too_large(send, limit)


async def too_large(send: Send, limit: int) -> None:
    """The 413 answer; the connection is closed after it (the body is not read)."""
    body = f"Request body too large (the limit is {limit // 1024} KiB).\n".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class TrustedProxies:
    """ASGI middleware: the client address from `X-Forwarded-For`, believed only when the
    connecting peer is a trusted proxy. The header is read from the right (each proxy
    appends the address it saw): trusted proxy addresses are skipped and the first other
    one is the client. With "*" (a platform router, the only way to reach the process) the
    last entry is taken — the one the router added, which no client can forge; uvicorn's
    own handling of "*" takes the first entry, which any client can set."""

    def __init__(self, app: ASGIApp, proxies: tuple[str, ...]) -> None:
        import ipaddress

        self.app = app
        self.any = "*" in proxies
        self.networks = [ipaddress.ip_network(p, strict=False) for p in proxies if p != "*"]

    def trusts(self, host: str) -> bool:
        """Whether a connecting peer is a trusted proxy (its X-Forwarded-For is believed)."""
        return self._trusted(host)

    def _trusted(self, host: str) -> bool:
        import ipaddress

        if self.any:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def client(self, peer: str, forwarded: list[str]) -> str:
        """The client's address for a request from `peer` with these X-Forwarded-For
        entries (oldest first)."""
        if not self._trusted(peer):
            return peer
        for entry in reversed(forwarded):
            if self.any or not self._trusted(entry):
                return entry
        return forwarded[0] if forwarded else peer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (self.any or self.networks) and scope.get("client"):
            values = [v for k, v in scope["headers"] if k == b"x-forwarded-for"]
            forwarded = [
                entry.strip()
                for value in values
                for entry in value.decode("latin-1").split(",")
                if entry.strip()
            ]
            peer = scope["client"][0]
            client = self.client(peer, forwarded[-20:])
            if client != peer:
                scope = scope | {"client": (client[:100], 0)}
        await self.app(scope, receive, send)
