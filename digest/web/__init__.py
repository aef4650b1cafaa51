"""The web process: the output folder (feeds, the index, pages) served from memory by a
raw ASGI handler, then the Starlette app for the press contacts' pages, the staff console
and /healthz, behind a body limit and security headers. A thin shell over digest.actions."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_from_bytes

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Lifespan, Receive, Scope, Send

from digest import actions
from digest.actions.overview import store_health
from digest.config import Settings, check_production_secret, load_settings
from digest.resources import TEMPLATES
from digest.store import impatient, items_stamp, store_busy
from digest.web import console, embargo, public
from digest.web import site as public_site
from digest.web.forms import Pages
from digest.web.security import (
    BodyLimit,
    SecureHeaders,
    TrustedProxies,
    common_headers,
    page_headers,
)
from digest.web.static import Entry, StaticFiles, file_for

if TYPE_CHECKING:
    from digest.store import Engine

log = logging.getLogger(__name__)
SAFE = "".join(chr(c) for c in range(33, 127))
MAX_CONCURRENCY = 1000
# How long a request waits for another writer's lock on an SQLite store before it answers
# 503 "try again" (the CLI and the clock wait 30 s); and the Retry-After it then sends.
BUSY_SECONDS = 5.0
RETRY_AFTER_SECONDS = 10
KEEP_ALIVE_SECONDS = 5


class FeedRefresher:
    """Keeps the web process's own output folder up to date from the store, at most once
    per `feeds.refresh_seconds`: a web process on a machine of its own (no disk shared
    with the clock) still serves fresh feeds, and an unchanged store costs one query.
    `start()` runs a due refresh in a background thread, so requests are answered from
    what is on disk meanwhile (a publish over a large store takes seconds)."""

    def __init__(
        self, settings: Settings, engine: Engine, files: StaticFiles | None = None
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.files = files
        self.lock = threading.Lock()
        self.checked = -float("inf")
        self.stamp: tuple[object, ...] | None = None
        self.rewriting_foreign = False

    def due(self) -> bool:
        return time.monotonic() - self.checked >= self.settings.feed_refresh_seconds

    def warming(self) -> bool:
        """Whether a refresh is rewriting a folder written for another address (`digest
        run --port` after `digest publish`): its pages' links lead elsewhere, so they are
        not served meanwhile and a request is told to try again shortly."""
        return self.rewriting_foreign

    def start(self) -> threading.Thread | None:
        """Run a due refresh in the background (one at a time); the thread, or None. The
        lock is taken, and the folder's address checked, before the thread starts, so a
        request right after sees both."""
        if not self.due() or not self.lock.acquire(blocking=False):
            return None
        self.rewriting_foreign = actions.written_for_another_site(self.settings)
        thread = threading.Thread(target=self._background, name="feed-refresh", daemon=True)
        thread.start()
        return thread

    def _background(self) -> None:
        try:
            self._refresh()
        except Exception:
            log.exception("refreshing the output folder from the store failed")
            self.checked = time.monotonic()
        finally:
            self.rewriting_foreign = False
            self.lock.release()

    def __call__(self) -> None:
        if not self.due():
            return
        with self.lock:
            self._refresh()

    def _refresh(self) -> None:
        """Publish when the store changed since the folder was written (the lock held)."""
        if time.monotonic() - self.checked < self.settings.feed_refresh_seconds:
            return
        stamp = items_stamp(self.engine)
        if stamp != self.stamp and not actions.published_from(self.settings, stamp):
            actions.publish_feeds(self.engine, self.settings)
            self.stamp = stamp
            if self.files is not None:
                self.files.invalidate()
        self.checked = time.monotonic()


class WebApp:
    """The ASGI application: GET and HEAD of a file of the output folder are answered from
    memory before anything else runs; every other request goes to Starlette."""

    def __init__(
        self,
        files: StaticFiles,
        refresh: FeedRefresher,
        dynamic: ASGIApp,
        per_client: int | None = None,
    ) -> None:
        self.files = files
        self.refresh = refresh
        self.dynamic = dynamic
        self.per_client = per_client

    def connection_cap(self, peer: str) -> int | None:
        """How many connections a peer address may hold open in `digest serve`: the
        configured `site.connections_per_client`, or no cap for a trusted proxy (it speaks
        for many clients; limit them at the proxy, docs/security.md)."""
        proxies = self.dynamic
        if isinstance(proxies, TrustedProxies) and proxies.trusts(peer):
            return None
        return self.per_client

    def in_memory(self, path: str) -> Entry | None:
        """The output-folder file for a path when it can be answered from memory at once
        (unchanged on disk); else None. A due refresh starts in the background."""
        if self.refresh.due():
            self.refresh.start()
        return None if self.refresh.warming() else self.files.fresh(path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            if self.refresh.due():
                self.refresh.start()
            if not self.refresh.warming() and await self.files(scope, receive, send):
                return
        if scope["type"] == "http" and not scope.get("query_string", b"").isascii():
            scope = scope | {"query_string": quote_from_bytes(scope["query_string"], SAFE).encode()}
        await self.dynamic(scope, receive, send)


BUSY = "The site is busy right now and nothing was saved. Please try again in a few seconds."
DOWN = "The site cannot reach its store right now and nothing was saved. Please try again soon."


def store_refused(pages: Pages) -> Callable[[Request, Exception], Awaitable[Response]]:
    """The handler of a store that refused work (another writer's lock past BUSY_SECONDS,
    or the store down), for every public and console route: 503 with Retry-After and a
    page saying nothing was saved and to try again, never a bare 500."""

    async def refused(request: Request, exc: Exception) -> Response:
        message = BUSY if store_busy(exc) else DOWN
        response = pages.render(
            request, "message.html", status_code=503, title="Please try again", message=message
        )
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    return refused


WARMING = "The site is being written for this address. Please try again in a few seconds."


def http_refusal(
    settings: Settings, files: StaticFiles, pages: Pages, warming: Callable[[], bool]
) -> Callable[[Request, Exception], Awaitable[Response]]:
    """The answer to a request Starlette refuses: a folder's address without its slash
    redirects to it; 404 and 405 get the site's page (a 404 while a folder written for
    another address is written again is a 503 to try again); anything else its own
    status."""

    async def refused(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 400
        if status == 404 and warming():
            response = pages.refuse(request, 503, WARMING)
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        if status == 404 and request.method in ("GET", "HEAD"):
            index = file_for(files.root, request.url.path + "/")
            if index and not request.url.path.endswith("/") and os.path.isfile(index):
                folder = quote(request.url.path[1:], safe="/")
                return RedirectResponse(f"{settings.base_url}{folder}/", 301)
        if status == 404:
            return pages.refuse(request, 404, "There is no page at this address.")
        if status == 405:
            response = pages.refuse(request, 405, "This page does not take that method.")
            response.headers.update(getattr(exc, "headers", None) or {})
            return response
        detail = getattr(exc, "detail", "") or "The request could not be read."
        response = pages.refuse(request, status, detail)
        if status == 413:
            response.headers["Connection"] = "close"
        return response

    return refused


def create_app(
    settings: Settings, engine: Engine, lifespan: Lifespan[Starlette] | None = None
) -> WebApp:
    """The web application for these settings and this store; `lifespan` runs around it
    (digest run starts and stops the clock there)."""
    engine = impatient(engine, BUSY_SECONDS)
    page, common = page_headers(settings), common_headers(settings)
    files = StaticFiles(
        settings.output_dir,
        lambda media_type: page if media_type.startswith("text/html") else common,
    )
    pages = Pages(settings, TEMPLATES)
    refresh = FeedRefresher(settings, engine, files)

    async def healthz(request: Request) -> Response:
        health = store_health(engine, datetime.now(UTC))
        return JSONResponse(health, 200 if health["ok"] else 503)

    refused = http_refusal(settings, files, pages, refresh.warming)

    routes = [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        *public_site.routes(settings, engine),
        *embargo.routes(settings, engine),
        *public.routes(settings, engine, pages),
        *console.routes(settings, engine, pages, files.invalidate),
    ]
    starlette = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: refused, actions.StoreTrouble: store_refused(pages)},
    )
    starlette.router.redirect_slashes = False
    dynamic = SecureHeaders(BodyLimit(starlette, wider=console.wider_bodies()), settings)
    return WebApp(
        files,
        refresh,
        TrustedProxies(dynamic, settings.trusted_proxies),
        settings.connections_per_client,
    )


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's settings for the web process: its own proxy-header handling off (the app
    believes X-Forwarded-For only from TRUSTED_PROXIES), limits on connections, idle
    keep-alive, request head size and time, and the fastest event loop and HTTP parser
    installed (uvloop, httptools)."""
    from digest.web.server import MAX_HEADER_BYTES

    options: dict[str, Any] = {
        "proxy_headers": False,
        "limit_concurrency": MAX_CONCURRENCY,
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        "server_header": False,
        "access_log": False,
    }
    try:
        import uvloop  # noqa: F401

        from digest.web.server import GuardedHttpToolsProtocol
    except ImportError:
        return options | {"http": "h11"}
    return options | {"http": GuardedHttpToolsProtocol, "loop": "uvloop"}


def from_environment() -> WebApp:
    """The app as `digest serve` runs it in each worker: settings and store from the
    environment (uvicorn's factory for WEB_CONCURRENCY workers)."""
    settings = load_settings()
    check_production_secret(settings)
    return create_app(settings, actions.open_store(settings))
