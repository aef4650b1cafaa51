"""The dashboard: next sends, last mailings, failures and bounces, sources, items, feeds
and the press list at a glance; and the htmx script the console's pages load."""

from __future__ import annotations

from functools import cache

from starlette.requests import Request
from starlette.responses import Response

from digest.actions.overview import dashboard as overview
from digest.resources import TEMPLATES
from digest.staff import StaffMember
from digest.web.console.common import Console, Form

HTMX = TEMPLATES / "web" / "admin" / "vendor" / "htmx-2.0.11.min.js"
HTMX_HEADERS = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}


async def dashboard(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """The dashboard."""
    data = overview(console.engine, console.settings, console.now())
    return console.page(request, "dashboard.html", member, **data)


@cache
def htmx_bytes() -> bytes:
    """The vendored htmx script, read once."""
    return HTMX.read_bytes()


async def htmx_script(request: Request, console: Console) -> Response:
    """The vendored htmx script (cached by browsers for a day)."""
    return Response(htmx_bytes(), media_type="text/javascript", headers=HTMX_HEADERS)
