"""Staff sign-in: one shared ADMIN_PASSWORD (plain, or a PBKDF2 hash of it), a signed
session cookie naming the staff member, and a limit on failed attempts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import defaultdict, deque

SESSION_COOKIE = "digest_admin"
SESSION_SECONDS = 12 * 3600
PBKDF2_PREFIX = "pbkdf2_sha256$"
MAX_FAILURES = 5
FAILURE_WINDOW_SECONDS = 15 * 60


def hash_password(password: str, iterations: int = 600_000) -> str:
    """A PBKDF2-SHA256 hash to put in ADMIN_PASSWORD instead of the password itself."""
    salt = secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"{PBKDF2_PREFIX}{iterations}${salt}${base64.b64encode(digest).decode()}"


def password_ok(configured: str, given: str) -> bool:
    """Whether `given` is the configured password (or matches its hash); constant time."""
    if configured.startswith(PBKDF2_PREFIX):
        try:
            iterations, salt, expected = configured.removeprefix(PBKDF2_PREFIX).split("$")
            digest = hashlib.pbkdf2_hmac("sha256", given.encode(), salt.encode(), int(iterations))
        except ValueError:
            return False
        return hmac.compare_digest(base64.b64encode(digest).decode(), expected)
    return hmac.compare_digest(configured.encode(), given.encode())


def _mac(secret: str, payload: str) -> str:
    mac = hmac.new(secret.encode(), f"admin-session\n{payload}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def session_cookie(secret: str, staff: str, now: float) -> str:
    """A session for a staff member, valid SESSION_SECONDS."""
    name = base64.urlsafe_b64encode(staff.encode()).decode()
    payload = f"{int(now) + SESSION_SECONDS}.{name}"
    return f"{payload}.{_mac(secret, payload)}"


def session_staff(secret: str, cookie: str | None, now: float) -> str | None:
    """The staff member a session cookie names, or None if it is forged or expired."""
    if not cookie or cookie.count(".") != 2:
        return None
    expires, name, mac = cookie.split(".")
    if not hmac.compare_digest(_mac(secret, f"{expires}.{name}"), mac):
        return None
    if not expires.isdigit() or int(expires) < now:
        return None
    try:
        return base64.urlsafe_b64decode(name.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        return None


class SignInLimiter:
    """At most MAX_FAILURES failed sign-ins per client in FAILURE_WINDOW_SECONDS."""

    def __init__(self) -> None:
        self.failures: dict[str, deque[float]] = defaultdict(deque)
        self.lock = threading.Lock()

    def _recent(self, client: str) -> deque[float]:
        times = self.failures[client]
        while times and times[0] < time.monotonic() - FAILURE_WINDOW_SECONDS:
            times.popleft()
        return times

    def blocked(self, client: str) -> bool:
        with self.lock:
            return len(self._recent(client)) >= MAX_FAILURES

    def failed(self, client: str) -> None:
        with self.lock:
            self._recent(client).append(time.monotonic())
