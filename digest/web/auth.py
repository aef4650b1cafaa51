"""Staff sign-in over HTTP: the session cookie, the same-origin check on every state-changing
request, and a small thread pool for password hashing so that no guess ever holds the event
loop (feeds and public pages keep answering during a burst of sign-ins)."""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from digest.config import Settings
from digest.staff import legacy_hash as hash_password  # noqa: F401  (ADMIN_PASSWORD hashes)

SESSION_COOKIE = "digest_staff"
COOKIE_PATH = "/admin"
HASH_WORKERS = max(1, min(4, os.cpu_count() or 1))
HASH_POOL = ThreadPoolExecutor(max_workers=HASH_WORKERS, thread_name_prefix="digest-hash")
SAME_SITE = frozenset({"same-origin", "none"})

T = TypeVar("T")


async def off_loop(work: Callable[..., T], *args: object) -> T:
    """Run slow work (argon2, PBKDF2) in the hashing pool, never on the event loop; at most
    HASH_WORKERS hashes run at once, whatever the number of requests."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(HASH_POOL, functools.partial(work, *args))


def client_address(request: Request) -> str:
    """The client's address as the server sees it (a trusted proxy's header already
    applied by the server, never taken from the request here)."""
    return request.client.host if request.client else "unknown"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin(request: Request, settings: Settings) -> bool:
    """Whether a state-changing request comes from the console's own pages. A browser says
    so in Sec-Fetch-Site, which decides when present (a page under Referrer-Policy
    no-referrer posts with `Origin: null`); else Origin must be this site's. A request from
    another site is refused even with a valid CSRF token. Clients that send neither header
    (scripts) pass this check and still need the token."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in SAME_SITE
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    allowed = {_origin(settings.base_url), f"{request.url.scheme}://{host}".lower()}
    return origin.lower() in allowed


def set_session_cookie(
    response: Response, request: Request, settings: Settings, token: str
) -> None:
    """The session cookie: HttpOnly, SameSite=Strict, Secure when the site is https (even
    behind a proxy that speaks http to us), only for /admin; it holds a random token, the
    session itself lives in the store."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https" or settings.base_url.startswith("https:"),
        path=COOKIE_PATH,
    )


def clear_session_cookie(response: Response) -> None:
    """Ask the browser to forget the session cookie (the session is deleted anyway)."""
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
