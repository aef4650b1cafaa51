"""The public pages in the web process: item pages, the news archive, search and the web
versions of the emails, rendered by digest.site (the same bytes `digest feeds` writes as
static files) with a strong ETag, Last-Modified where known, 304 and HEAD."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import partial
from typing import TYPE_CHECKING
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from digest import site
from digest.catalog import entry_updated
from digest.config import Settings
from digest.web.forms import whole_number

if TYPE_CHECKING:
    from digest.store import Engine

HTML = "text/html; charset=utf-8"
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
PAGE = re.compile(r"^[1-9]\d{0,4}$")
CACHE_CONTROL = "public, max-age=60"
MAX_PAGE = 10_000
# Searches take turns on their own threads: on SQLite one answers more of them than many
# (they would contend for the interpreter lock); on PostgreSQL a second overlaps one's wait
# for the server with the other's rendering.
SEARCH_THREADS = {"sqlite": 1}
SEARCH_THREADS_SERVER = 2


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


@dataclass(frozen=True)
class Site:
    """What the public pages need: the settings and the store."""

    settings: Settings
    engine: Engine

    @property
    def base(self) -> str:
        """BASE_URL, the only host redirects name."""
        return self.settings.base_url


def not_found(here: Site) -> Response:
    """The site's own 404 page."""
    return Response(site.render_not_found(here.settings), status_code=404, media_type=HTML)


def threaded(
    handler: Callable[[Site, Request], Response], here: Site, threads: int | None = None
) -> Callable:
    """An endpoint that runs a page handler (store reads, rendering) in the thread pool;
    on its own `threads` when given (many threads contending for the interpreter lock each
    answer slower than a few taking turns; a plain executor hands work over in a fraction
    of what anyio's limiter costs, which counts at hundreds of searches a second)."""
    # an executor starts its threads at the first search, not when made
    own = ThreadPoolExecutor(threads, thread_name_prefix=handler.__name__) if threads else None

    async def endpoint(request: Request) -> Response:
        if own is None:
            return await run_in_threadpool(handler, here, request)
        work = partial(copy_context().run, handler, here, request)
        return await asyncio.get_running_loop().run_in_executor(own, work)

    return endpoint


async def slash(here: Site, request: Request) -> Response:
    """A folder address without its slash: the same address with it (BASE_URL's host,
    never the request's)."""
    return RedirectResponse(here.base + quote(request.url.path[1:], safe="/") + "/", 301)


def item(here: Site, request: Request) -> Response:
    """An item's page, at its canonical address."""
    name = request.path_params["name"]
    found = site.find_item_page(here.engine, datetime.now(UTC), name)
    if found is None:
        return not_found(here)
    if name != found.page or not request.url.path.endswith("/"):
        return RedirectResponse(f"{here.base}items/{found.page}/", status_code=301)
    page = site.render_item(here.settings, found, site.correction_notes(here.engine, found))
    return _page(request, page.body, entry_updated(found))


def archive(here: Site, request: Request) -> Response:
    """The news archive: everything, one type, one month, or one type in one month, and a
    month's older pages (…/<month>/<n>/)."""
    parts = [request.path_params.get(k) for k in ("a", "b", "c")]
    parts = [p for p in parts if p]
    number = None
    if len(parts) > 1 and PAGE.match(parts[-1]):
        number = int(parts.pop())
        if not MONTH.match(parts[-1]):
            return not_found(here)
    item_type = month = None
    if parts and MONTH.match(parts[-1]):
        month = parts.pop()
    if parts:
        item_type = parts.pop()
    if parts or (item_type is not None and here.settings.type_by_slug(item_type) is None):
        return not_found(here)
    now = datetime.now(UTC)
    page = site.render_archive(here.engine, here.settings, now, item_type, month, page=number)
    if page is None:
        return not_found(here)
    if not request.url.path.endswith("/"):
        return RedirectResponse(here.base + page.path, status_code=301)
    return _page(request, page.body)


def search(here: Site, request: Request) -> Response:
    """The search page for ?q=, one page of results at a time."""
    query = request.query_params.get("q", "")
    number = whole_number(request.query_params.get("page"), 1, low=1, high=MAX_PAGE)
    now = datetime.now(UTC)
    return _page(request, site.render_search(here.engine, here.settings, now, query, number))


def digests(here: Site, request: Request) -> Response:
    """The list of digests sent so far."""
    found = site.sent_digests(here.engine, datetime.now(UTC), here.settings)
    return _page(request, site.render_digests(here.settings, found).body)


def digest(here: Site, request: Request) -> Response:
    """The web version of one sent digest."""
    now = datetime.now(UTC)
    found = site.find_digest(here.engine, now, request.path_params["name"], here.settings)
    if found is None:
        return not_found(here)
    if not request.url.path.endswith("/"):
        return RedirectResponse(f"{here.base}digests/{found.page}/", status_code=301)
    return _page(request, site.render_digest(here.engine, here.settings, now, found).body)


def routes(settings: Settings, engine: Engine) -> list[BaseRoute]:
    """The public pages' routes."""
    here = Site(settings, engine)
    methods = ["GET", "HEAD"]
    folder = partial(slash, here)
    searchers = SEARCH_THREADS.get(engine.dialect.name, SEARCH_THREADS_SERVER)
    return [
        Route("/items/{name}/", threaded(item, here), methods=methods),
        Route("/items/{name}", folder, methods=methods),
        Route("/news/", threaded(archive, here), methods=methods),
        Route("/news", folder, methods=methods),
        Route("/news/{a}/", threaded(archive, here), methods=methods),
        Route("/news/{a}", folder, methods=methods),
        Route("/news/{a}/{b}/", threaded(archive, here), methods=methods),
        Route("/news/{a}/{b}", folder, methods=methods),
        Route("/news/{a}/{b}/{c}/", threaded(archive, here), methods=methods),
        Route("/news/{a}/{b}/{c}", folder, methods=methods),
        Route("/search", threaded(search, here, searchers), methods=methods),
        Route("/digests/", threaded(digests, here), methods=methods),
        Route("/digests", folder, methods=methods),
        Route("/digests/{name}/", threaded(digest, here), methods=methods),
        Route("/digests/{name}", folder, methods=methods),
    ]
