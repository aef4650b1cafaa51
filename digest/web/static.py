"""Feeds and the index page from the output folder, cheap to poll: strong ETags from the
content, Last-Modified from the file, 304 for If-None-Match / If-Modified-Since, HEAD,
Cache-Control, and a gzip copy made once per version of a file."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

MEDIA_TYPES = {
    ".atom": "application/atom+xml; charset=utf-8",
    ".rss": "application/rss+xml; charset=utf-8",
    ".json": "application/feed+json; charset=utf-8",
    ".opml": "text/x-opml; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}
CACHE_CONTROL = "public, max-age=300"


@dataclass(frozen=True)
class _Version:
    body: bytes
    gzipped: bytes
    etag: str
    last_modified: str
    modified: float


class StaticFiles:
    """Serves the files of one folder that have a known media type; each file's bytes,
    gzip copy and ETag are kept in memory until the file changes."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder.resolve()
        self.versions: dict[Path, tuple[int, int, _Version]] = {}

    def _version(self, path: Path) -> _Version | None:
        try:
            stat = path.stat()
        except OSError:
            return None
        cached = self.versions.get(path)
        if cached and cached[0] == stat.st_mtime_ns and cached[1] == stat.st_size:
            return cached[2]
        body = path.read_bytes()
        version = _Version(
            body=body,
            gzipped=gzip.compress(body, compresslevel=6, mtime=0),
            etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
            last_modified=formatdate(stat.st_mtime, usegmt=True),
            modified=int(stat.st_mtime),
        )
        self.versions[path] = (stat.st_mtime_ns, stat.st_size, version)
        return version

    def response(self, request: Request, name: str) -> Response:
        """The response for GET or HEAD of one file of the folder."""
        path = (self.folder / name).resolve()
        media_type = MEDIA_TYPES.get(path.suffix)
        if media_type is None or not path.is_relative_to(self.folder):
            return Response("Not found\n", status_code=404, media_type="text/plain")
        version = self._version(path)
        if version is None:
            return Response("Not found\n", status_code=404, media_type="text/plain")
        wants_gzip = "gzip" in request.headers.get("accept-encoding", "").lower()
        etag = version.etag[:-1] + '-gz"' if wants_gzip else version.etag
        headers = {
            "ETag": etag,
            "Last-Modified": version.last_modified,
            "Cache-Control": CACHE_CONTROL,
            "Vary": "Accept-Encoding",
        }
        if _not_modified(request, etag, version.modified):
            return Response(status_code=304, headers=headers)
        body = version.gzipped if wants_gzip else version.body
        if wants_gzip:
            headers["Content-Encoding"] = "gzip"
        headers["Content-Length"] = str(len(body))
        if request.method == "HEAD":
            return Response(status_code=200, headers=headers, media_type=media_type)
        return Response(body, headers=headers, media_type=media_type)


def _not_modified(request: Request, etag: str, modified: float) -> bool:
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        return "*" in tags or etag in tags
    if_modified_since = request.headers.get("if-modified-since")
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since).timestamp()
        except (TypeError, ValueError, IndexError):
            return False
        return modified <= since
    return False
