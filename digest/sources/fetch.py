"""Polite requests to other sites: the rules every page the program reads obeys, shared by
the listing reader, its backfill and the item pages.

http(s) only; a page on the listing's own site only (same registrable domain, public-suffix
aware), and on an internal address only when the listing itself is on one; robots.txt
honoured (protego; fetched once per host per run); at most two requests at a time per host,
their starts `fetch.delay_seconds` apart; timeouts; a 20 MB cap on the decompressed body
(decoded here in bounded steps, so a gzip bomb stops at the cap); redirects followed by hand,
at most five, each re-checked against the same rules.
"""

from __future__ import annotations

import ipaddress
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from digest.errors import SourceError

if TYPE_CHECKING:
    import httpx

    from digest.config import Settings

MAX_FETCH_BYTES = 20 * 1024 * 1024
MAX_ROBOTS_BYTES = 512 * 1024
MAX_REDIRECTS = 5
PER_HOST = 2
MAX_CRAWL_DELAY = 30.0
# A page must arrive whole within this many timeouts (a server dripping a byte at a time).
WHOLE_PAGE_TIMEOUTS = 4
AGENT_TOKEN = "newsroom-digest"
REDIRECTS = frozenset({301, 302, 303, 307, 308})
CHUNK = 64 * 1024


class Refused(SourceError):
    """A page the rules do not let the program request: not http(s), another site, an
    internal address, or disallowed by robots.txt. Nothing was asked of its server."""


@dataclass(frozen=True)
class Validators:
    """What a server said about the last copy we read, for a conditional GET."""

    etag: str | None = None
    last_modified: str | None = None


NO_VALIDATORS = Validators()


@dataclass(frozen=True)
class Page:
    """One answer: where it ended up (after redirects), its status, headers and body."""

    url: str
    status_code: int
    headers: Mapping[str, str]
    body: bytes
    charset: str | None

    @property
    def validators(self) -> Validators:
        return Validators(self.headers.get("ETag"), self.headers.get("Last-Modified"))


def user_agent(settings: Settings) -> str:
    """The User-Agent of every request: the program, its version and the newsroom's site."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("newsroom-digest")
    except PackageNotFoundError:
        release = "dev"
    return f"{AGENT_TOKEN}/{release} (+{settings.base_url})"


def site_of(host: str) -> str:
    """The registrable domain of a host (`news.example.co.uk` → `example.co.uk`), or the
    host itself for an IP address or a name under no public suffix (`localhost`)."""
    from courlan import extract_domain

    host = host.lower().rstrip(".")
    try:
        ipaddress.ip_address(host.strip("[]"))
        return host
    except ValueError:
        pass
    return extract_domain(f"http://{host}/") or host


def resolve(host: str) -> list[str]:
    """The addresses a host name stands for (an IP address stands for itself)."""
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    import socket  # 2 ms at start-up, for a host name only (`digest parse` reads none)

    try:
        return [str(info[4][0]).split("%")[0] for info in socket.getaddrinfo(host, None)]
    except (OSError, UnicodeError):
        return []


def is_internal(host: str, lookup: Callable[[str], list[str]] = resolve) -> bool:
    """Whether a host is, or resolves to, an address that is not public (loopback,
    private, link-local, reserved)."""
    return any(not ipaddress.ip_address(address).is_global for address in lookup(host))


def refusal(
    url: str,
    site: str,
    internal_ok: bool,
    lookup: Callable[[str], list[str]] = resolve,
) -> str | None:
    """Why the rules refuse a request for `url` from the listing at `site`, or None."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return f"not an http(s) address ({parts.scheme or 'no scheme'})"
    host = parts.hostname or ""
    if not host:
        return "no host"
    listing = urlsplit(site).hostname or ""
    if site_of(host) != site_of(listing):
        return f"on another site ({host}, not {site_of(listing)})"
    if not internal_ok and is_internal(host, lookup):
        return f"an internal address ({host})"
    return None


def capped_body(response: httpx.Response, url: str, cap: int, deadline: float) -> bytes:
    """The decoded body of an answer, refused past `cap` bytes: gzip and deflate are
    decoded here in bounded steps (never more than the cap in memory, whatever the
    compression ratio), and a body still coming at `deadline` is refused."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > cap:
        raise SourceError(f"{url} is larger than {cap:,} bytes; not read")
    decoder = _decoder(response.headers.get("Content-Encoding", ""), url)
    chunks: list[bytes] = []
    size = 0
    for raw in response.iter_raw(CHUNK):
        if time.monotonic() > deadline:
            raise SourceError(f"{url} is too slow to arrive; not read")
        pending = raw
        while pending:
            if decoder is None:
                out, pending = pending, b""
            else:
                out = decoder.decompress(pending, cap - size + 1)
                pending = decoder.unconsumed_tail
            size += len(out)
            if size > cap:
                raise SourceError(f"{url} is larger than {cap:,} bytes; not read")
            chunks.append(out)
    return b"".join(chunks)


def _peer(response: httpx.Response) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address the answer came from: a name that resolved to a public address when
    checked and to an internal one when connected (DNS rebinding) is caught here."""
    stream = response.extensions.get("network_stream")
    address = stream.get_extra_info("server_addr") if stream is not None else None
    try:
        return ipaddress.ip_address(str(address[0]).split("%")[0]) if address else None
    except ValueError:
        return None


def _decoder(encoding: str, url: str) -> Any:
    name = encoding.strip().lower()
    if name in ("", "identity"):
        return None
    if name in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if name == "deflate":
        return zlib.decompressobj()
    raise SourceError(f"{url}: unsupported Content-Encoding {encoding!r}; not read")


class Fetcher:
    """One run's polite HTTP client (see the module's rules). Its robots.txt cache and
    per-host slots are shared by the threads that use it, so one Fetcher per run keeps the
    per-host limit whatever the number of workers."""

    def __init__(self, settings: Settings, lookup: Callable[[str], list[str]] = resolve):
        self.delay = settings.fetch.delay_seconds
        self.timeout = settings.fetch.timeout_seconds
        self.lookup = lookup
        self.settings = settings
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._next_start: dict[str, float] = {}
        self._host_delay: dict[str, float] = {}
        self._robots: dict[str, Any] = {}
        self._robots_locks: dict[str, threading.Lock] = {}
        self._internal: dict[str, bool] = {}

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._client is not None:
            self._client.close()

    @property
    def client(self) -> httpx.Client:
        """The HTTP client, made on first use (a run reading only files never loads httpx)."""
        with self._lock:
            if self._client is None:
                import httpx

                self._client = httpx.Client(
                    timeout=self.timeout,
                    follow_redirects=False,
                    headers={
                        "User-Agent": user_agent(self.settings),
                        "Accept-Encoding": "gzip, deflate",
                    },
                )
            return self._client

    def get(
        self,
        url: str,
        site: str,
        validators: Validators = NO_VALIDATORS,
        *,
        robots: bool = True,
        cap: int = MAX_FETCH_BYTES,
    ) -> Page:
        """GET a page of the listing at `site`, conditionally when validators are given;
        a 304 gives a Page with an empty body. Anything but 200 or 304 raises SourceError
        naming the page, and so does a request the rules refuse (Refused)."""
        headers = {}
        if validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        page = self.exchange("GET", url, site, headers, robots=robots, cap=cap)
        if page.status_code not in (200, 304):
            raise SourceError(f"{page.url} answered HTTP {page.status_code}")
        return page

    def head(self, url: str, site: str) -> tuple[str | None, int | None]:
        """The media type and byte length a HEAD request gives for a document (never its
        body); None for what the server does not say."""
        page = self.exchange("HEAD", url, site, {"Accept-Encoding": "identity"}, cap=0)
        if page.status_code != 200:
            return None, None
        mime = page.headers.get("Content-Type", "").split(";")[0].strip().lower() or None
        length = page.headers.get("Content-Length", "").strip()
        return mime, int(length) if length.isdigit() else None

    def exchange(
        self,
        method: str,
        url: str,
        site: str,
        headers: Mapping[str, str],
        *,
        robots: bool = True,
        cap: int = MAX_FETCH_BYTES,
    ) -> Page:
        """One request and its redirects, each hop checked against the rules; the final
        answer whatever its status. Errors name the page asked for (and the hop)."""
        hop = url
        for _ in range(MAX_REDIRECTS + 1):
            if reason := self.refusal(hop, site, robots=robots):
                where = url if hop == url else f"{url} (redirected to {hop})"
                raise Refused(f"{where}: {reason}; not read")
            page = self._once(method, hop, headers, cap, self._internal_ok(site))
            location = page.headers.get("Location")
            if page.status_code not in REDIRECTS or not location:
                return page
            hop = urljoin(hop, location.strip())
        raise SourceError(f"{url}: more than {MAX_REDIRECTS} redirects; not followed")

    def refusal(self, url: str, site: str, *, robots: bool = True) -> str | None:
        """Why the rules forbid asking for a page (robots.txt included), or None."""
        reason = refusal(url, site, self._internal_ok(site), self.lookup)
        if reason is None and robots and not self._robots_allow(url, site):
            reason = "disallowed by robots.txt"
        return reason

    def _internal_ok(self, site: str) -> bool:
        host = urlsplit(site).hostname or ""
        with self._lock:
            if host not in self._internal:
                self._internal[host] = is_internal(host, self.lookup)
            return self._internal[host]

    def _once(
        self, method: str, url: str, headers: Mapping[str, str], cap: int, internal_ok: bool
    ) -> Page:
        import httpx

        try:
            with (
                self._slot(url),
                self.client.stream(method, url, headers=dict(headers)) as response,
            ):
                if not internal_ok and (peer := _peer(response)) and not peer.is_global:
                    raise Refused(f"{url}: answered from an internal address ({peer}); not read")
                body = b""
                if method == "GET" and response.status_code == 200:
                    deadline = time.monotonic() + self.timeout * WHOLE_PAGE_TIMEOUTS
                    body = capped_body(response, url, cap, deadline)
        except httpx.HTTPError as exc:
            raise SourceError(f"{url}: cannot fetch: {exc or type(exc).__name__}") from None
        return Page(url, response.status_code, response.headers, body, response.charset_encoding)

    @contextmanager
    def _slot(self, url: str) -> Iterator[None]:
        """Hold one of the host's two slots, starting no sooner than the host's delay
        after the previous request to it started."""
        host = urlsplit(url).netloc.lower()
        with self._lock:
            slot = self._slots.setdefault(host, threading.BoundedSemaphore(PER_HOST))
        with slot:
            with self._lock:
                start = max(time.monotonic(), self._next_start.get(host, 0.0))
                self._next_start[host] = start + self._host_delay.get(host, self.delay)
            time.sleep(max(0.0, start - time.monotonic()))
            yield

    def _robots_allow(self, url: str, site: str) -> bool:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc.lower()}"
        with self._lock:
            host_lock = self._robots_locks.setdefault(origin, threading.Lock())
        with host_lock:
            if origin not in self._robots:
                self._robots[origin] = self._read_robots(origin, site)
        rules = self._robots[origin]
        return rules is not None and rules.can_fetch(url, AGENT_TOKEN)

    def _read_robots(self, origin: str, site: str) -> Any:
        """The host's robots.txt rules (RFC 9309): none found (4xx) allows everything; a
        server error or no answer disallows everything for this run (None)."""
        from protego import Protego

        try:
            page = self.exchange(
                "GET", origin + "/robots.txt", site, {}, robots=False, cap=MAX_ROBOTS_BYTES
            )
        except SourceError:
            return None
        if 400 <= page.status_code < 500:
            return Protego.parse("")
        if page.status_code != 200:
            return None
        rules = Protego.parse(page.body.decode("utf-8", "replace"))
        crawl_delay = rules.crawl_delay(AGENT_TOKEN)
        if crawl_delay:
            host = urlsplit(origin).netloc
            with self._lock:
                self._host_delay[host] = max(self.delay, min(float(crawl_delay), MAX_CRAWL_DELAY))
        return rules
