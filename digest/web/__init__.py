"""The web process: feeds and the index from the output folder, the press contacts' pages,
and /healthz. A thin shell over digest.jobs."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Lifespan

from digest import jobs
from digest.config import Settings
from digest.feeds import FEEDS_FOLDER, TEMPLATES
from digest.store import items_stamp, sources
from digest.web import admin, public
from digest.web import site as public_site
from digest.web.forms import Pages
from digest.web.static import StaticFiles


class FeedRefresher:
    """Keeps the web process's own output folder up to date from the store, at most once
    per `feeds.refresh_seconds`: a web process on a machine of its own (no disk shared
    with the clock) still serves fresh feeds, and an unchanged store costs one query."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.lock = threading.Lock()
        self.checked = -float("inf")
        self.stamp: tuple[object, ...] | None = None

    def due(self) -> bool:
        return time.monotonic() - self.checked >= self.settings.feed_refresh_seconds

    def __call__(self) -> None:
        if not self.due():
            return
        with self.lock:
            if time.monotonic() - self.checked < self.settings.feed_refresh_seconds:
                return
            stamp = items_stamp(self.engine)
            if stamp != self.stamp:
                jobs.publish_feeds(self.engine, self.settings)
                self.stamp = stamp
            self.checked = time.monotonic()


def create_app(
    settings: Settings, engine: Engine, lifespan: Lifespan[Starlette] | None = None
) -> Starlette:
    """The Starlette application for these settings and this store; `lifespan` runs
    around it (digest run starts and stops the clock there)."""
    files = StaticFiles(settings.output_dir)
    pages = Pages(settings, TEMPLATES)
    refresh = FeedRefresher(settings, engine)

    async def served(request: Request, name: str) -> Response:
        if refresh.due():
            await run_in_threadpool(refresh)
        return files.response(request, name)

    async def index(request: Request) -> Response:
        return await served(request, "index.html")

    async def feed(request: Request) -> Response:
        return await served(request, f"{FEEDS_FOLDER}/{request.path_params['name']}")

    async def opml(request: Request) -> Response:
        return await served(request, "feeds.opml")

    async def healthz(request: Request) -> Response:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                last_poll = conn.execute(select(func.max(sources.c.polled_at))).scalar()
        except SQLAlchemyError as exc:
            return JSONResponse({"ok": False, "store": f"unreachable: {type(exc).__name__}"}, 503)
        age = (datetime.now(UTC) - last_poll).total_seconds() if last_poll else None
        return JSONResponse({"ok": True, "store": "reachable", "last_poll_age_seconds": age})

    routes = [
        Route("/", index, methods=["GET", "HEAD"]),
        Route("/index.html", index, methods=["GET", "HEAD"]),
        Route("/feeds/{name}", feed, methods=["GET", "HEAD"]),
        Route("/feeds.opml", opml, methods=["GET", "HEAD"]),
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        *public_site.routes(settings, engine),
        *public.routes(settings, engine, pages),
        *admin.routes(settings, engine, pages),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
