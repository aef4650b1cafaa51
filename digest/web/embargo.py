"""The private pages of material sent under embargo: one recipient's page of an item, by its
signed token, and a trusted journalist's private Atom feed. Never cached by anyone but the
reader, never indexed, never sent on as a referrer; a bad, changed or revoked token is a 404
like any missing page, and after the lift the page leads to the public one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from digest import actions, site
from digest.config import Settings

if TYPE_CHECKING:
    from digest.store import Engine

PRIVATE = {
    "Cache-Control": "private, no-store",
    "X-Robots-Tag": "noindex, nofollow, noarchive",
    "Referrer-Policy": "no-referrer",
}
TOKEN_MAX = 120


def routes(settings: Settings, engine: Engine) -> list[BaseRoute]:
    """The private page and feed routes."""

    async def page(request: Request) -> Response:
        token = request.path_params["token"][:TOKEN_MAX]
        found = await run_in_threadpool(actions.open_private_page, settings, engine, token)
        if found.redirect is not None:
            return RedirectResponse(found.redirect, 303, headers=PRIVATE)
        if found.body is None:
            return _missing(settings)
        return Response(found.body, headers=PRIVATE, media_type="text/html; charset=utf-8")

    async def feed(request: Request) -> Response:
        token = request.path_params["token"][:TOKEN_MAX]
        body = await run_in_threadpool(actions.private_feed, settings, engine, token)
        if body is None:
            return _missing(settings)
        return Response(body, headers=PRIVATE, media_type="application/atom+xml; charset=utf-8")

    methods = ["GET", "HEAD"]
    return [
        Route("/embargoed/feed/{token}", feed, methods=methods),
        Route("/embargoed/{token}/", page, methods=methods),
    ]


def _missing(settings: Settings) -> Response:
    body = site.render_not_found(settings)
    return Response(body, 404, headers=PRIVATE, media_type="text/html; charset=utf-8")
