"""Form helpers shared by the public and staff pages: urlencoded bodies read with a size
cap, CSRF tokens, signed form timestamps, templates with safe headers."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner
from jinja2 import Environment, select_autoescape
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response

from digest.config import Settings
from digest.resources import template_loader
from digest.web.security import CONTENT_SECURITY_POLICY, PERMISSIONS_POLICY

CSRF_COOKIE = "digest_csrf"
MAX_FORM_BYTES = 64 * 1024
MAX_FORM_FIELDS = 200
COOKIE_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,64}")
FORM_STAMP_SALT = "digest-form-started"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Permissions-Policy": PERMISSIONS_POLICY,
    "Cache-Control": "no-store",
}


class FormTooLarge(HTTPException):
    """A request body over its limit (MAX_FORM_BYTES unless the route allows more):
    answered 413 without reading the rest."""

    def __init__(self, limit: int = MAX_FORM_BYTES) -> None:
        super().__init__(413, f"The form is larger than {limit // 1024} KiB.")


MAX_DIGITS = 15


def whole_number(raw: str | None, default: int, low: int = 0, high: int = 10**15) -> int:
    """A number from a request (query parameter, header): ASCII digits only (str.isdigit also
    takes '²', which int() refuses), at most MAX_DIGITS of them, else `default`; then held
    within [low, high]. The one way digest.web reads numbers."""
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > MAX_DIGITS:
        return default
    return min(max(int(raw), low), high)


async def read_form(request: Request, limit: int = MAX_FORM_BYTES) -> dict[str, str]:
    """An application/x-www-form-urlencoded body as a dict (checkbox lists come back joined
    with ';'). The body is read in chunks and refused (413) as soon as it passes `limit`,
    so a huge POST is never held in memory; bytes that are not UTF-8 become U+FFFD."""
    declared = request.headers.get("content-length", "")
    if whole_number(declared, 0) > limit:
        raise FormTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise FormTooLarge(limit)
            chunks.append(chunk)
    except ClientDisconnect:
        return {}
    text = b"".join(chunks).decode("utf-8", "replace")
    try:
        fields = parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        raise HTTPException(400, "The form has too many fields.") from None
    return {key: ";".join(values) for key, values in fields.items()}


def _csrf_for(secret: str, cookie: str) -> str:
    message = f"csrf\n{cookie}".encode("utf-8", "surrogatepass")
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def same_text(expected: str, given: str) -> bool:
    """Constant-time comparison that also takes non-ASCII input (hmac.compare_digest
    refuses non-ASCII str)."""
    return hmac.compare_digest(
        expected.encode("utf-8", "surrogatepass"), given.encode("utf-8", "surrogatepass")
    )


class _FormSigner(TimestampSigner):
    def __init__(self, secret: str, now: float | None = None) -> None:
        super().__init__(secret, salt=FORM_STAMP_SALT)
        self.now = now

    def get_timestamp(self) -> int:
        return int(self.now) if self.now is not None else super().get_timestamp()


def form_stamp(secret: str, now: float | None = None) -> str:
    """A signed timestamp for a form, to tell how long it took to fill in."""
    return _FormSigner(secret, now).sign("form").decode()


def form_age(secret: str, stamp: str, max_age: float) -> float | None:
    """Seconds since `form_stamp` made `stamp`, or None when it is forged, malformed or
    older than `max_age`."""
    signer = _FormSigner(secret)
    try:
        _, signed_at = signer.unsign(
            stamp.encode("utf-8", "surrogatepass"), max_age=max_age, return_timestamp=True
        )
    except (BadSignature, SignatureExpired, ValueError, OverflowError):
        return None
    return time.time() - signed_at.timestamp()


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
        cookie = request.cookies.get(CSRF_COOKIE, "")
        fresh = not COOKIE_SHAPE.fullmatch(cookie)
        if fresh:
            cookie = secrets.token_urlsafe(24)
        page = self.environment.get_template(name).render(
            settings=self.settings,
            csrf=_csrf_for(self.settings.secret_key, cookie),
            stamp=form_stamp(self.settings.secret_key),
            **context,
        )
        response = HTMLResponse(page, status_code=status_code, headers=SECURITY_HEADERS)
        if fresh:
            response.set_cookie(
                CSRF_COOKIE,
                cookie,
                httponly=True,
                samesite="strict",
                secure=self.settings.base_url.startswith("https:"),
                path="/",
            )
        return response

    def csrf_ok(self, request: Request, form: dict[str, str]) -> bool:
        """Whether the form's csrf field matches this client's CSRF cookie."""
        cookie = request.cookies.get(CSRF_COOKIE, "")
        if not COOKIE_SHAPE.fullmatch(cookie):
            return False
        return same_text(_csrf_for(self.settings.secret_key, cookie), form.get("csrf", ""))

    def refuse(self, request: Request, status_code: int, message: str) -> Response:
        return self.render(
            request, "message.html", status_code=status_code, title="Not possible", message=message
        )
