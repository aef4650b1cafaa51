"""The web process: feeds and the index from the output folder, the press contacts' pages,
and /healthz. A thin shell over digest.jobs."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from digest.config import Settings
from digest.feeds import FEEDS_FOLDER, TEMPLATES
from digest.store import sources
from digest.web import public
from digest.web.forms import Pages
from digest.web.static import StaticFiles


def create_app(settings: Settings, engine: Engine) -> Starlette:
    """The Starlette application for these settings and this store."""
    files = StaticFiles(settings.output_dir)
    pages = Pages(settings, TEMPLATES)

    async def index(request: Request) -> Response:
        return files.response(request, "index.html")

    async def feed(request: Request) -> Response:
        return files.response(request, f"{FEEDS_FOLDER}/{request.path_params['name']}")

    async def opml(request: Request) -> Response:
        return files.response(request, "feeds.opml")

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
        *public.routes(settings, engine, pages),
    ]
    return Starlette(routes=routes)
