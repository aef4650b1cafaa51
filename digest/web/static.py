"""The output folder served from memory: feeds, the index, and any page or asset written
there later (item pages as items/…/index.html, archive pages, .html files).

Each file is read once per version into an entry holding its bytes, a gzip and a brotli
copy, and the complete header lists of its 200 and 304 answers (strong ETag per encoding,
Last-Modified, Content-Length, Cache-Control with max-age and stale-while-revalidate,
security headers). A raw ASGI handler answers GET and HEAD from that table before Starlette
sees the request; a file is looked at on disk (one stat) at most every CHECK_SECONDS
(10 ms), so a rewritten feed is served at once while a busy path costs one system call
per 10 ms, not several per request."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

from starlette.types import Receive, Scope, Send

try:
    import brotli
except ImportError:  # pragma: no cover - brotli is a dependency; gzip alone still works
    brotli = None

MEDIA_TYPES = {
    ".atom": "application/atom+xml; charset=utf-8",
    ".rss": "application/rss+xml; charset=utf-8",
    ".json": "application/feed+json; charset=utf-8",
    ".opml": "text/x-opml; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
}
COMPRESSIBLE = {".atom", ".rss", ".json", ".opml", ".html", ".xml", ".txt", ".css", ".js", ".svg"}
CACHE_CONTROL = "public, max-age=300, stale-while-revalidate=600, stale-if-error=86400"
CHECK_SECONDS = 0.01
MAX_ENTRIES = 20_000
MAX_CACHE_BYTES = 24 * 1024 * 1024
# Feeds are few, large and hot: their brotli copy is worth the best quality (~14 ms for an
# item page's worth of text). Pages are many and each read by few, so a crawler walking
# the archive gets them compressed cheaply (well under a millisecond) at a few % more bytes.
FEED_SUFFIXES = {".atom", ".rss", ".json", ".opml"}
PAGE_BROTLI_QUALITY = 5
PAGE_GZIP_LEVEL = 6
MAX_FILE_BYTES = 32 * 1024 * 1024
MAX_PATH = 1024
MIN_COMPRESS = 256

Headers = list[tuple[bytes, bytes]]


@dataclass(frozen=True)
class Variant:
    """One encoding of a file: its body and the headers of its 200 and 304 answers, as
    ASGI header lists and as ready HTTP/1.1 heads (status line and header lines)."""

    body: bytes
    etag: bytes
    full: Headers
    not_modified: Headers
    raw_full: bytes
    raw_not_modified: bytes


def _raw_head(status: bytes, headers: Headers) -> bytes:
    return status + b"".join(name + b": " + value + b"\r\n" for name, value in headers)


@dataclass
class Entry:
    """One file of the folder as it is served, and the disk state it was read from."""

    file: str
    stamp: tuple[int, int, int]
    checked: float
    last_modified: bytes
    modified: float
    identity: Variant
    gzip: Variant | None
    br: Variant | None

    @property
    def size(self) -> int:
        """Roughly the bytes this entry holds: its bodies and ready heads."""
        variants = [v for v in (self.identity, self.gzip, self.br) if v is not None]
        return sum(len(v.body) + 2 * len(v.raw_full) for v in variants) + len(self.file)


def file_for(root: str, path: str) -> str | None:
    """The file a URL path names inside `root` (a directory's index.html), or None for a
    path that may not be served: hidden or dot segments, NUL, backslashes, no known type."""
    if len(path) > MAX_PATH or not path.startswith("/") or "\x00" in path or "\\" in path:
        return None
    parts = path[1:].split("/")
    if parts[-1] == "":
        parts[-1] = "index.html"
    if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
        return None
    if os.path.splitext(parts[-1])[1].lower() not in MEDIA_TYPES:
        return None
    return os.path.join(root, *parts)


def _compressed(suffix: str, body: bytes) -> tuple[bytes | None, bytes | None]:
    if suffix not in COMPRESSIBLE or len(body) < MIN_COMPRESS:
        return None, None
    feed = suffix in FEED_SUFFIXES
    zipped = gzip.compress(body, compresslevel=9 if feed else PAGE_GZIP_LEVEL, mtime=0)
    quality = 11 if feed and len(body) < 1 << 20 else PAGE_BROTLI_QUALITY
    squeezed = brotli.compress(body, quality=quality) if brotli else None
    return zipped, squeezed


class StaticFiles:
    """The in-memory table of one folder's files and the ASGI handler that serves it.
    `extra_headers(media_type)` gives the security headers for a type of file."""

    def __init__(
        self,
        folder: Path,
        extra_headers: Callable[[str], Headers],
        max_bytes: int = MAX_CACHE_BYTES,
    ) -> None:
        self.folder = folder
        self.extra_headers = extra_headers
        self.max_bytes = max_bytes
        self.held = 0
        self.entries: OrderedDict[str, Entry] = OrderedDict()
        self.missing: dict[str, float] = {}
        self.encodings: dict[bytes, tuple[bool, bool]] = {}

    @property
    def root(self) -> str:
        return os.path.realpath(self.folder)

    def invalidate(self) -> None:
        """Look at every file on disk again at its next request (after a publish)."""
        for entry in list(self.entries.values()):  # called from the refresh thread
            entry.checked = -CHECK_SECONDS
        self.missing.clear()

    def _variant(
        self, body: bytes, etag: bytes, media_type: str, entry_headers: Headers, encoding: bytes
    ) -> Variant:
        shared = [
            (b"etag", etag),
            *entry_headers,
        ]
        full = [
            (b"content-type", media_type.encode()),
            (b"content-length", str(len(body)).encode()),
            *shared,
        ]
        if encoding:
            full.append((b"content-encoding", encoding))
        extra = self.extra_headers(media_type)
        return Variant(
            body=body,
            etag=etag,
            full=full + extra,
            not_modified=shared + extra,
            raw_full=_raw_head(b"HTTP/1.1 200 OK\r\n", full + extra),
            raw_not_modified=_raw_head(b"HTTP/1.1 304 Not Modified\r\n", shared + extra),
        )

    def load(self, path: str, previous: Entry | None) -> Entry | None:
        """Read (or re-check) the file behind a URL path; None when there is none."""
        file = previous.file if previous else file_for(self.root, path)
        if file is None:
            return None
        try:
            status = os.stat(file)
            if previous and (status.st_mtime_ns, status.st_size, status.st_ino) == previous.stamp:
                previous.checked = time.monotonic()
                return previous
            real = os.path.realpath(file)
            if not real.startswith(self.root + os.sep) or not os.path.isfile(real):
                return None
            if status.st_size > MAX_FILE_BYTES:
                return None
            with open(real, "rb") as handle:
                status = os.fstat(handle.fileno())
                body = handle.read()
        except (OSError, ValueError, UnicodeError):
            return None
        suffix = os.path.splitext(file)[1].lower()
        media_type = MEDIA_TYPES[suffix]
        digest = hashlib.sha256(body).hexdigest()[:32]
        last_modified = formatdate(status.st_mtime, usegmt=True).encode()
        entry_headers = [
            (b"last-modified", last_modified),
            (b"cache-control", CACHE_CONTROL.encode()),
        ]
        if suffix in COMPRESSIBLE:
            entry_headers.append((b"vary", b"Accept-Encoding"))
        zipped, squeezed = _compressed(suffix, body)
        return Entry(
            file=file,
            stamp=(status.st_mtime_ns, len(body), status.st_ino),
            checked=time.monotonic(),
            last_modified=last_modified,
            modified=int(status.st_mtime),
            identity=self._variant(body, f'"{digest}"'.encode(), media_type, entry_headers, b""),
            gzip=self._variant(
                zipped, f'"{digest}-gz"'.encode(), media_type, entry_headers, b"gzip"
            )
            if zipped
            else None,
            br=self._variant(squeezed, f'"{digest}-br"'.encode(), media_type, entry_headers, b"br")
            if squeezed
            else None,
        )

    def _store(self, path: str, entry: Entry | None) -> None:
        """Keep an entry (or note a miss), evicting the least recently used entries while
        the table holds more than `max_bytes` (or MAX_ENTRIES)."""
        previous = self.entries.pop(path, None)
        if previous is not None:
            self.held -= previous.size
        if entry is None:
            if len(self.missing) > MAX_ENTRIES:
                self.missing.clear()
            self.missing[path] = time.monotonic()
            return
        if entry.size > self.max_bytes:
            return
        self.entries[path] = entry
        self.held += entry.size
        while self.held > self.max_bytes or len(self.entries) > MAX_ENTRIES:
            _path, evicted = self.entries.popitem(last=False)
            self.held -= evicted.size

    def fresh(self, path: str) -> Entry | None:
        """The entry for a URL path if its file is unchanged on disk (looked at, one stat,
        at most every CHECK_SECONDS); None when it is not in the table or must be read again.
        The server's own fast path answers these without the ASGI machinery."""
        entry = self.entries.get(path)
        if entry is None:
            return None
        now = time.monotonic()
        if now - entry.checked < CHECK_SECONDS:
            return entry
        try:
            status = os.stat(entry.file)
        except (OSError, ValueError):
            return None
        if (status.st_mtime_ns, status.st_size, status.st_ino) != entry.stamp:
            return None
        entry.checked = now
        self.entries.move_to_end(path)
        return entry

    async def lookup(self, path: str) -> Entry | None:
        """The entry for a URL path, re-checked on disk at most every CHECK_SECONDS."""
        entry = self.entries.get(path)
        now = time.monotonic()
        if entry is not None and now - entry.checked < CHECK_SECONDS:
            self.entries.move_to_end(path)
            return entry
        if entry is None:
            missed = self.missing.get(path)
            if missed is not None and now - missed < CHECK_SECONDS:
                return None
            if file_for(self.folder, path) is None:  # the path alone decides; no disk look
                return None
        loaded = await asyncio.to_thread(self.load, path, entry)
        self._store(path, loaded)
        return loaded

    def _accepts(self, header: bytes) -> tuple[bool, bool]:
        """(brotli, gzip) accepted by an Accept-Encoding value (q=0 refuses)."""
        known = self.encodings.get(header)
        if known is not None:
            return known
        accepted = set()
        for part in header.lower().split(b","):
            name, _, params = part.strip().partition(b";")
            quality = 1.0
            for param in params.split(b";"):
                key, _, value = param.strip().partition(b"=")
                if key == b"q":
                    try:
                        quality = float(value)
                    except ValueError:
                        quality = 0.0
            if quality > 0:
                accepted.add(name.strip())
        result = (b"br" in accepted, b"gzip" in accepted or b"*" in accepted)
        if len(self.encodings) > 256:
            self.encodings.clear()
        self.encodings[header] = result
        return result

    def choose(self, entry: Entry, headers: Headers) -> tuple[int, Variant]:
        """The status (200 or 304) and encoding to answer a request with these headers."""
        accept = if_none_match = if_modified_since = None
        for name, value in headers:
            if name == b"accept-encoding":
                accept = value
            elif name == b"if-none-match":
                if_none_match = value
            elif name == b"if-modified-since":
                if_modified_since = value
        variant = entry.identity
        if accept:
            wants_br, wants_gzip = self._accepts(accept)
            if wants_br and entry.br:
                variant = entry.br
            elif wants_gzip and entry.gzip:
                variant = entry.gzip
        if _not_modified(variant.etag, entry, if_none_match, if_modified_since):
            return 304, variant
        return 200, variant

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Answer a GET or HEAD from the table; False (nothing sent) when the path is not
        a file of the folder, so the caller passes the request on."""
        entry = await self.lookup(scope["path"])
        if entry is None:
            return False
        status, variant = self.choose(entry, scope["headers"])
        headers = variant.full if status == 200 else variant.not_modified
        await send({"type": "http.response.start", "status": status, "headers": headers})
        body = variant.body if status == 200 and scope["method"] != "HEAD" else b""
        await send({"type": "http.response.body", "body": body})
        return True


def _not_modified(
    etag: bytes, entry: Entry, if_none_match: bytes | None, if_modified_since: bytes | None
) -> bool:
    if if_none_match is not None:
        if if_none_match == etag:
            return True
        tags = [tag.strip().removeprefix(b"W/") for tag in if_none_match.split(b",")]
        return b"*" in tags or etag in tags
    if if_modified_since:
        if if_modified_since == entry.last_modified:
            return True
        try:
            since = parsedate_to_datetime(if_modified_since.decode("latin-1")).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return False
        return entry.modified <= since
    return False
