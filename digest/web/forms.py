"""Form helpers shared by the public and staff pages: urlencoded bodies, CSRF tokens,
templates with safe headers."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from jinja2 import Environment, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from digest.config import Settings
from digest.resources import template_loader

CSRF_COOKIE = "digest_csrf"
MAX_FORM_BYTES = 64 * 1024
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
}


async def read_form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body as a dict (last value wins); checkbox
    lists come back joined with ';'."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: ";".join(values) for key, values in fields.items()}


def _csrf_for(secret: str, cookie: str) -> str:
    return hmac.new(secret.encode(), f"csrf\n{cookie}".encode(), hashlib.sha256).hexdigest()


class Pages:
    """Renders templates/web pages and checks CSRF tokens (a random cookie and a field
    that is its HMAC: a form posted from another site cannot know it)."""

    def __init__(self, settings: Settings, templates: Path) -> None:
        self.settings = settings
        self.environment = Environment(
            loader=template_loader("web", templates), autoescape=select_autoescape(["html"])
        )

    def render(
        self, request: Request, name: str, status_code: int = 200, **context: Any
    ) -> Response:
        cookie = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
        page = self.environment.get_template(name).render(
            settings=self.settings,
            csrf=_csrf_for(self.settings.secret_key, cookie),
            **context,
        )
        response = HTMLResponse(page, status_code=status_code, headers=SECURITY_HEADERS)
        if CSRF_COOKIE not in request.cookies:
            response.set_cookie(
                CSRF_COOKIE,
                cookie,
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
                path="/",
            )
        return response

    def csrf_ok(self, request: Request, form: dict[str, str]) -> bool:
        cookie = request.cookies.get(CSRF_COOKIE)
        if not cookie:
            return False
        expected = _csrf_for(self.settings.secret_key, cookie)
        return hmac.compare_digest(expected, form.get("csrf", ""))

    def refuse(self, request: Request, status_code: int, message: str) -> Response:
        return self.render(
            request, "message.html", status_code=status_code, title="Not possible", message=message
        )
