"""The public pages in the web process: item pages, the news archive, search and the web
versions of the emails, rendered by digest.site (the same bytes `digest feeds` writes as
static files) with a strong ETag, Last-Modified where known, 304 and HEAD."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import quote

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from digest import site
from digest.config import Settings
from digest.feeds import entry_updated

HTML = "text/html; charset=utf-8"
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
CACHE_CONTROL = "public, max-age=60"
MAX_PAGE = 10_000


def _page(request: Request, body: bytes, modified: datetime | None = None) -> Response:
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if modified is not None:
        headers["Last-Modified"] = format_datetime(modified.astimezone(UTC), usegmt=True)
    tags = [
        t.strip().removeprefix("W/") for t in request.headers.get("if-none-match", "").split(",")
    ]
    if etag in tags or "*" in tags:
        return Response(status_code=304, headers=headers)
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return Response(status_code=200, headers=headers, media_type=HTML)
    return Response(body, headers=headers, media_type=HTML)


def routes(settings: Settings, engine: Engine) -> list[BaseRoute]:
    """The public pages' routes."""
    base = settings.base_url

    def not_found(request: Request) -> Response:
        return Response(site.render_not_found(settings), status_code=404, media_type=HTML)

    def threaded(handler: Callable[[Request], Response]) -> Callable:
        async def endpoint(request: Request) -> Response:
            return await run_in_threadpool(handler, request)

        return endpoint

    def slash(request: Request) -> Response:
        """A folder address without its slash: the same address with it (BASE_URL's host,
        never the request's)."""
        return RedirectResponse(base + quote(request.url.path[1:], safe="/") + "/", 301)

    def item(request: Request) -> Response:
        name = request.path_params["name"]
        found = site.find_item_page(engine, datetime.now(UTC), name)
        if found is None:
            return not_found(request)
        if name != found.page or not request.url.path.endswith("/"):
            return RedirectResponse(f"{base}items/{found.page}/", status_code=301)
        page = site.render_item(settings, found, site.correction_notes(engine, found))
        return _page(request, page.body, entry_updated(found))

    def archive(request: Request) -> Response:
        parts = [p for p in (request.path_params.get("a"), request.path_params.get("b")) if p]
        item_type = month = None
        if parts and MONTH.match(parts[-1]):
            month = parts.pop()
        if parts:
            item_type = parts.pop()
        if parts or (item_type is not None and settings.type_by_slug(item_type) is None):
            return not_found(request)
        page = site.render_archive(engine, settings, datetime.now(UTC), item_type, month)
        if page is None:
            return not_found(request)
        if not request.url.path.endswith("/"):
            return RedirectResponse(base + page.path, status_code=301)
        return _page(request, page.body)

    def search(request: Request) -> Response:
        query = request.query_params.get("q", "")
        raw_page = request.query_params.get("page", "1")
        number = int(raw_page) if raw_page.isdigit() else 1
        body = site.render_search(
            engine, settings, datetime.now(UTC), query, min(max(number, 1), MAX_PAGE)
        )
        return _page(request, body)

    def digests(request: Request) -> Response:
        found = site.sent_digests(engine, datetime.now(UTC))
        return _page(request, site.render_digests(settings, found).body)

    def digest(request: Request) -> Response:
        now = datetime.now(UTC)
        found = site.find_digest(engine, now, request.path_params["name"])
        if found is None:
            return not_found(request)
        if not request.url.path.endswith("/"):
            return RedirectResponse(f"{base}digests/{found.page}/", status_code=301)
        return _page(request, site.render_digest(engine, settings, now, found).body)

    methods = ["GET", "HEAD"]
    return [
        Route("/items/{name}/", threaded(item), methods=methods),
        Route("/items/{name}", slash, methods=methods),
        Route("/news/", threaded(archive), methods=methods),
        Route("/news", slash, methods=methods),
        Route("/news/{a}/", threaded(archive), methods=methods),
        Route("/news/{a}", slash, methods=methods),
        Route("/news/{a}/{b}/", threaded(archive), methods=methods),
        Route("/news/{a}/{b}", slash, methods=methods),
        Route("/search", threaded(search), methods=methods),
        Route("/digests/", threaded(digests), methods=methods),
        Route("/digests", slash, methods=methods),
        Route("/digests/{name}/", threaded(digest), methods=methods),
        Route("/digests/{name}", slash, methods=methods),
    ]
