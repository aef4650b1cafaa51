"""Staff accounts, roles, server-side sessions, the sign-in throttle and the TOTP second
factor: everything the console and the `digest staff` commands need to know who acts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Engine, and_, func, select

from digest.config import Settings
from digest.errors import DigestError
from digest.store import signin_failures, staff, staff_sessions
from digest.subscribers import SubscriberError, normalise_email

ROLES = ("editor", "sender", "admin")
RIGHTS = {
    "editor": frozenset({"prepare"}),
    "sender": frozenset({"prepare", "send"}),
    "admin": frozenset({"prepare", "send", "admin"}),
}
ROLE_HELP = {
    "editor": "prepares and previews",
    "sender": "also sends, approves and cancels",
    "admin": "also manages staff, the press list and settings",
}
SESSION_HOURS = 12
SETUP_HOURS = 72
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
PAIR_LIMIT = 5  # failures of one account from one client
CLIENT_LIMIT = 20  # failures of one client, whatever the account
ACCOUNT_LIMIT = 100  # failures of one account from everywhere: many guessers together
FAILURE_WINDOW = timedelta(minutes=15)
PBKDF2_PREFIX = "pbkdf2_sha256$"

# OWASP's argon2id floor (19 MiB, 2 passes): a sign-in costs little memory, so a burst of
# guesses cannot exhaust the web process.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


class StaffError(DigestError):
    """A staff account action that cannot be done, with the reason."""


class SignInError(StaffError):
    """A refused sign-in; `status` is the HTTP status the console answers with."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class StaffMember:
    """One person's account as the console and the CLI see it (never the secrets)."""

    id: int
    email: str
    name: str
    role: str
    created: datetime
    has_password: bool = False
    totp_enabled: bool = False
    totp_required: bool = False
    disabled: bool = False

    def can(self, right: str) -> bool:
        """Whether this person's role carries the right ('prepare', 'send' or 'admin')."""
        return not self.disabled and right in RIGHTS.get(self.role, frozenset())

    @property
    def label(self) -> str:
        """How the audit log names this person."""
        return f"{self.name} ({self.email})" if self.name else self.email

    @property
    def must_enrol_totp(self) -> bool:
        return self.totp_required and not self.totp_enabled


def _member(row: Any) -> StaffMember:
    return StaffMember(
        id=row.id,
        email=row.email,
        name=row.name,
        role=row.role,
        created=row.created,
        has_password=bool(row.password_hash),
        totp_enabled=bool(row.totp_secret),
        totp_required=bool(row.totp_required),
        disabled=bool(row.disabled),
    )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


# Passwords


def hash_password(password: str) -> str:
    """An argon2id hash of a password, for the staff table."""
    return HASHER.hash(password)


def legacy_hash(password: str, iterations: int = 600_000) -> str:
    """A PBKDF2-SHA256 hash as earlier releases made for ADMIN_PASSWORD (still accepted)."""
    salt = secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"{PBKDF2_PREFIX}{iterations}${salt}${base64.b64encode(digest).decode()}"


def verify_password(stored: str, given: str) -> bool:
    """Whether `given` matches a stored argon2 or PBKDF2 hash (or, for ADMIN_PASSWORD, the
    plain value); slow on purpose, so call it off the event loop."""
    given_bytes = given.encode("utf-8", "replace")
    if stored.startswith("$argon2"):
        try:
            return HASHER.verify(stored, given_bytes)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
    if stored.startswith(PBKDF2_PREFIX):
        try:
            iterations, salt, expected = stored.removeprefix(PBKDF2_PREFIX).split("$")
            rounds = int(iterations)
            if not 0 < rounds <= 10_000_000:
                return False
            digest = hashlib.pbkdf2_hmac("sha256", given_bytes, salt.encode(), rounds)
        except ValueError:
            return False
        return hmac.compare_digest(base64.b64encode(digest), expected.encode("utf-8", "replace"))
    return hmac.compare_digest(stored.encode(), given_bytes)


_DUMMY_HASH: list[str] = []


def _dummy_hash() -> str:
    """A hash to check wrong emails against, so an unknown address costs the same time."""
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(hash_password(secrets.token_urlsafe(16)))
    return _DUMMY_HASH[0]


def check_new_password(password: str) -> None:
    """Refuse a password too short or too long to be a reasonable one."""
    if len(password) < MIN_PASSWORD:
        raise StaffError(f"the password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise StaffError(f"the password has more than {MAX_PASSWORD} characters")


# Accounts


def _email(raw: str) -> str:
    try:
        return normalise_email(raw)
    except SubscriberError as exc:
        raise StaffError(str(exc)) from None


def _role(role: str) -> str:
    if role not in ROLES:
        raise StaffError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    return role


def find_staff(engine: Engine, email: str) -> StaffMember | None:
    """The account with this address (case-insensitive), disabled or not."""
    with engine.connect() as conn:
        row = conn.execute(
            select(staff).where(func.lower(staff.c.email) == email.strip().lower())
        ).first()
    return _member(row) if row else None


def list_staff(engine: Engine) -> list[StaffMember]:
    """Every account, active ones first, by email."""
    with engine.connect() as conn:
        rows = conn.execute(select(staff).order_by(staff.c.disabled, staff.c.email))
        return [_member(row) for row in rows]


def admin_exists(engine: Engine) -> bool:
    """Whether an active admin account has been made (then ADMIN_PASSWORD no longer works)."""
    query = select(func.count()).where(staff.c.role == "admin", staff.c.disabled.is_(False))
    with engine.connect() as conn:
        return bool(conn.execute(query).scalar())


def _new_setup_token(now: datetime) -> tuple[str, dict[str, Any]]:
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(hours=SETUP_HOURS)
    return token, {"setup_token_hash": _digest(token), "setup_expires": expires}


def add_staff(
    engine: Engine, email: str, name: str, role: str, now: datetime
) -> tuple[StaffMember, str]:
    """Create an account (or re-enable a removed one) with no password yet; returns it and
    the one-time token of its set-password link."""
    address, role = _email(email), _role(role)
    name = " ".join(name.split())[:200]
    token, setup = _new_setup_token(now)
    existing = find_staff(engine, address)
    with engine.begin() as conn:
        if existing is None:
            conn.execute(
                staff.insert().values(
                    email=address, name=name, role=role, created=now, disabled=False, **setup
                )
            )
        elif existing.disabled:
            conn.execute(
                staff.update()
                .where(staff.c.id == existing.id)
                .values(
                    name=name or existing.name,
                    role=role,
                    disabled=False,
                    password_hash=None,
                    totp_secret=None,
                    **setup,
                )
            )
        else:
            raise StaffError(f"{address} already has an account ({existing.role})")
    member = find_staff(engine, address)
    assert member is not None
    return member, token


def setup_link(settings: Settings, token: str) -> str:
    """The set-password link for a token from add_staff or reset_staff."""
    return f"{settings.base_url.rstrip('/')}/admin/password/{token}"


def _require(engine: Engine, email: str) -> StaffMember:
    member = find_staff(engine, email)
    if member is None:
        raise StaffError(f"{email} has no staff account")
    return member


def reset_staff(engine: Engine, email: str, now: datetime) -> str:
    """Clear an account's password and second factor, end its sessions, and return the
    token of a new set-password link."""
    member = _require(engine, email)
    if member.disabled:
        raise StaffError(f"{member.email} was removed; add it again instead")
    token, setup = _new_setup_token(now)
    with engine.begin() as conn:
        conn.execute(
            staff.update()
            .where(staff.c.id == member.id)
            .values(password_hash=None, totp_secret=None, totp_last=None, **setup)
        )
        conn.execute(staff_sessions.delete().where(staff_sessions.c.staff_id == member.id))
    return token


def remove_staff(engine: Engine, email: str) -> StaffMember:
    """Disable an account and end its sessions at once; the row stays for the audit log.
    The last active admin cannot be removed."""
    member = _require(engine, email)
    if member.disabled:
        raise StaffError(f"{member.email} was already removed")
    if member.role == "admin" and _active_admins(engine) <= 1:
        raise StaffError("the last admin cannot be removed; make someone else admin first")
    with engine.begin() as conn:
        conn.execute(
            staff.update()
            .where(staff.c.id == member.id)
            .values(disabled=True, password_hash=None, setup_token_hash=None)
        )
        conn.execute(staff_sessions.delete().where(staff_sessions.c.staff_id == member.id))
    return member


def _active_admins(engine: Engine) -> int:
    query = select(func.count()).where(staff.c.role == "admin", staff.c.disabled.is_(False))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def set_role(engine: Engine, email: str, role: str) -> StaffMember:
    """Change an account's role; the last active admin keeps theirs."""
    member, role = _require(engine, email), _role(role)
    if member.role == "admin" and role != "admin" and _active_admins(engine) <= 1:
        raise StaffError("the last admin must stay admin; make someone else admin first")
    with engine.begin() as conn:
        conn.execute(staff.update().where(staff.c.id == member.id).values(role=role))
    return _require(engine, email)


def require_totp(engine: Engine, email: str, required: bool) -> StaffMember:
    """Make the second factor compulsory (or optional again) for an account."""
    member = _require(engine, email)
    with engine.begin() as conn:
        conn.execute(staff.update().where(staff.c.id == member.id).values(totp_required=required))
    return _require(engine, email)


def account_for_setup(engine: Engine, token: str, now: datetime) -> StaffMember | None:
    """The account a set-password token belongs to, while it is unused and unexpired."""
    if not token or len(token) > 200:
        return None
    query = select(staff).where(
        staff.c.setup_token_hash == _digest(token),
        staff.c.setup_expires > now,
        staff.c.disabled.is_(False),
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return _member(row) if row else None


def set_password_with_token(
    engine: Engine, token: str, password: str, now: datetime
) -> StaffMember:
    """Set an account's password from its one-time link (which then stops working) and end
    every session it had; hashing is slow, so call it off the event loop."""
    check_new_password(password)
    member = account_for_setup(engine, token, now)
    if member is None:
        raise StaffError("this link was used already or has expired; ask an admin for a new one")
    hashed = hash_password(password)
    with engine.begin() as conn:
        used = conn.execute(
            staff.update()
            .where(staff.c.id == member.id, staff.c.setup_token_hash == _digest(token))
            .values(password_hash=hashed, setup_token_hash=None, setup_expires=None)
        )
        if not used.rowcount:
            raise StaffError("this link was used already; ask an admin for a new one")
        conn.execute(staff_sessions.delete().where(staff_sessions.c.staff_id == member.id))
    return _require(engine, member.email)


def change_password(
    engine: Engine, member: StaffMember, current: str, new: str, client: str, now: datetime
) -> None:
    """Change one's own password after checking the current one; every session of the
    account ends (the caller starts a fresh one). Wrong current passwords count in the
    sign-in throttle, so a stolen session cannot guess its way to the password. Off the
    event loop: it hashes twice."""
    if (until := locked_until(engine, member.email, client, now)) is not None:
        raise SignInError(lock_message(until, now, "Changing your password"), 429)
    check_new_password(new)
    with engine.connect() as conn:
        stored = conn.execute(select(staff.c.password_hash).where(staff.c.id == member.id)).scalar()
    if not stored or not verify_password(stored, current):
        record_failure(engine, member.email, client, now)
        raise StaffError("the current password is not right")
    hashed = hash_password(new)
    with engine.begin() as conn:
        conn.execute(staff.update().where(staff.c.id == member.id).values(password_hash=hashed))
        conn.execute(staff_sessions.delete().where(staff_sessions.c.staff_id == member.id))


def bootstrap_admin(
    engine: Engine,
    admin_password: str | None,
    given: str,
    email: str,
    name: str,
    password: str,
    now: datetime,
) -> StaffMember:
    """Create the first admin account with ADMIN_PASSWORD: works only while no active
    admin exists. Off the event loop: it hashes."""
    if admin_exists(engine):
        raise SignInError("an admin account exists: ADMIN_PASSWORD no longer signs in", 403)
    if not admin_password or not verify_password(admin_password, given):
        raise SignInError("ADMIN_PASSWORD is not right")
    check_new_password(password)
    if not name.strip():
        raise StaffError("give your name: the audit log names who did what")
    existing = find_staff(engine, email)
    if existing is not None and not existing.disabled:
        set_role(engine, existing.email, "admin")
        member = existing
    else:
        member, _ = add_staff(engine, email, name, "admin", now)
    with engine.begin() as conn:
        conn.execute(
            staff.update()
            .where(staff.c.id == member.id)
            .values(password_hash=hash_password(password), setup_token_hash=None, name=name)
        )
    return _require(engine, member.email)


# Sign-in throttle (in the store, so it holds across web processes)


def _scopes(email: str, client: str) -> tuple[str, str, str]:
    """The throttle's buckets for one attempt: the (account, client) pair, the account
    (every client together) and the client (every account together)."""
    account, peer = email.strip().lower()[:320], client[:64]
    return f"pair:{account}|{peer}", f"account:{account}", f"client:{peer}"


def locked_until(engine: Engine, email: str, client: str, now: datetime) -> datetime | None:
    """When sign-in for this account from this client opens again, or None when it is
    open: PAIR_LIMIT failures of this account from this client, CLIENT_LIMIT failures of
    this client whatever the account, or the much higher ACCOUNT_LIMIT failures of the
    account from everywhere (many clients guessing together) in FAILURE_WINDOW lock it.
    A guesser elsewhere thus locks only themselves, never the owner's own machine."""
    scopes = dict(
        zip(_scopes(email, client), (PAIR_LIMIT, ACCOUNT_LIMIT, CLIENT_LIMIT), strict=True)
    )
    since = now - FAILURE_WINDOW
    ends = []
    with engine.connect() as conn:
        for scope, limit in scopes.items():
            # the failure whose leaving the window brings the count under the limit
            leaving = conn.execute(
                select(signin_failures.c.at)
                .where(signin_failures.c.scope == scope, signin_failures.c.at > since)
                .order_by(signin_failures.c.at.desc())
                .offset(limit - 1)
                .limit(1)
            ).scalar()
            if leaving is not None:
                ends.append(leaving + FAILURE_WINDOW)
    return max(ends) if ends else None


def throttled(engine: Engine, email: str, client: str, now: datetime) -> bool:
    """Whether sign-in for this account from this client is locked now (locked_until)."""
    return locked_until(engine, email, client, now) is not None


def lock_message(until: datetime, now: datetime, locked: str = "Signing in") -> str:
    """The refusal of a locked sign-in (or of what the sign-in throttle also guards:
    `locked` names it), saying when the lock ends."""
    minutes = max(1, -(-int((until - now).total_seconds()) // 60))
    return (
        f"Too many attempts. {locked} from here is locked for {minutes} "
        f"minute{'s' if minutes != 1 else ''} (until {until:%H:%M} UTC)."
    )


def record_failure(engine: Engine, email: str, client: str, now: datetime) -> None:
    """Count one failed sign-in against the pair, the account and the client; old ones are
    dropped."""
    with engine.begin() as conn:
        conn.execute(
            signin_failures.insert(),
            [{"scope": scope, "at": now} for scope in _scopes(email, client)],
        )
        conn.execute(signin_failures.delete().where(signin_failures.c.at < now - FAILURE_WINDOW))


# TOTP


def new_totp_secret() -> str:
    """A fresh base32 secret for an authenticator app."""
    return pyotp.random_base32()


def totp_uri(settings: Settings, member: StaffMember, secret: str) -> str:
    """The otpauth:// URI an authenticator app reads (typed in, or as a QR code)."""
    return pyotp.TOTP(secret).provisioning_uri(
        name=member.email, issuer_name=settings.newsroom_name
    )


def valid_totp_secret(secret: str) -> bool:
    """Whether a secret (sent back by the set-up form) is a base32 key of a sane length."""
    return 16 <= len(secret) <= 64 and all(c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" for c in secret)


def _totp_step(secret: str, code: str, now: datetime, after: int | None) -> int | None:
    """The time step a six-digit code belongs to (this one or a neighbour), if it is valid
    and later than the last one used (no replays)."""
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in (current - 1, current, current + 1):
        if after is not None and step <= after:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def enable_totp(engine: Engine, member: StaffMember, secret: str, code: str, now: datetime) -> None:
    """Turn the second factor on once the person shows a code from their app."""
    if not valid_totp_secret(secret):
        raise StaffError("the set-up form was damaged; reload the page and start again")
    step = _totp_step(secret, code, now, None)
    if step is None:
        raise StaffError("that code is not right; check the time on your phone and try again")
    with engine.begin() as conn:
        conn.execute(
            staff.update().where(staff.c.id == member.id).values(totp_secret=secret, totp_last=step)
        )


def proven(engine: Engine, member: StaffMember, proof: str, now: datetime) -> bool:
    """Whether `proof` is the account's current password or a current, unused code from
    its authenticator app (the code is then used up). Slow: call it off the event loop."""
    with engine.connect() as conn:
        row = conn.execute(select(staff).where(staff.c.id == member.id)).first()
    if row is None or not proof.strip():
        return False
    step = _totp_step(row.totp_secret, proof, now, row.totp_last) if row.totp_secret else None
    if step is not None:
        with engine.begin() as conn:
            used = conn.execute(
                staff.update()
                .where(staff.c.id == row.id, staff.c.totp_last == row.totp_last)
                .values(totp_last=step)
            )
        return bool(used.rowcount)
    stored = row.password_hash or _dummy_hash()
    return verify_password(stored, proof[:MAX_PASSWORD]) and bool(row.password_hash)


def disable_totp(
    engine: Engine, member: StaffMember, proof: str, client: str, now: datetime
) -> None:
    """Turn one's own second factor off, unless an admin requires it, once the person shows
    their current password or a current code: a session alone (a borrowed laptop, a stolen
    cookie) is not enough. Wrong proofs count in the sign-in throttle."""
    if member.totp_required:
        raise StaffError("an admin requires a second factor for your account")
    if (until := locked_until(engine, member.email, client, now)) is not None:
        raise SignInError(lock_message(until, now, "Turning off your second factor"), 429)
    if not proven(engine, member, proof, now):
        record_failure(engine, member.email, client, now)
        raise StaffError(
            "to turn the second factor off, type your current password or a current code "
            "from your authenticator app"
        )
    with engine.begin() as conn:
        conn.execute(staff.update().where(staff.c.id == member.id).values(totp_secret=None))


# Sign-in and sessions


def authenticate(
    engine: Engine, email: str, password: str, code: str, client: str, now: datetime
) -> StaffMember:
    """Check a sign-in (throttle, password, second factor) and return the account, or
    raise SignInError. Slow on purpose: call it off the event loop."""
    email = email.strip()[:320]
    if (until := locked_until(engine, email, client, now)) is not None:
        raise SignInError(lock_message(until, now), 429)
    with engine.connect() as conn:
        row = conn.execute(
            select(staff).where(
                func.lower(staff.c.email) == email.lower(), staff.c.disabled.is_(False)
            )
        ).first()
    stored = row.password_hash if row is not None and row.password_hash else None
    matched = verify_password(stored or _dummy_hash(), password[:MAX_PASSWORD])
    if row is None or stored is None or not matched:
        record_failure(engine, email, client, now)
        raise SignInError("Email or password not right.")
    if row.totp_secret:
        step = _totp_step(row.totp_secret, code, now, row.totp_last)
        if step is None:
            record_failure(engine, email, client, now)
            if _totp_step(row.totp_secret, code, now, None) is not None:
                raise SignInError(
                    "This code was just used — wait for the next one your app shows, "
                    "then type that."
                )
            raise SignInError("The code from your authenticator app is missing or not right.")
        with engine.begin() as conn:
            conn.execute(staff.update().where(staff.c.id == row.id).values(totp_last=step))
    if not stored.startswith("$argon2") or HASHER.check_needs_rehash(stored):
        with engine.begin() as conn:
            conn.execute(
                staff.update()
                .where(staff.c.id == row.id)
                .values(password_hash=hash_password(password))
            )
    with engine.begin() as conn:
        conn.execute(
            signin_failures.delete().where(signin_failures.c.scope == _scopes(email, client)[0])
        )
    return _member(row)


def start_session(engine: Engine, member: StaffMember, now: datetime) -> str:
    """A new server-side session for an account; returns the cookie value (only its hash
    is stored)."""
    token = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(
            staff_sessions.insert().values(
                token_hash=_digest(token),
                staff_id=member.id,
                created=now,
                expires=now + timedelta(hours=SESSION_HOURS),
            )
        )
        conn.execute(staff_sessions.delete().where(staff_sessions.c.expires < now))
    return token


def session_member(engine: Engine, token: str | None, now: datetime) -> StaffMember | None:
    """The account a session cookie belongs to, while the session exists, has not expired
    and the account is active."""
    if not token or len(token) > 200:
        return None
    query = (
        select(staff)
        .join(staff_sessions, staff_sessions.c.staff_id == staff.c.id)
        .where(
            and_(
                staff_sessions.c.token_hash == _digest(token),
                staff_sessions.c.expires > now,
                staff.c.disabled.is_(False),
            )
        )
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return _member(row) if row else None


def end_session(engine: Engine, token: str | None) -> None:
    """Delete a session (sign-out): its cookie stops working at once."""
    if token:
        with engine.begin() as conn:
            conn.execute(
                staff_sessions.delete().where(staff_sessions.c.token_hash == _digest(token))
            )


def session_count(engine: Engine, member: StaffMember) -> int:
    """How many live sessions an account has."""
    query = select(func.count()).where(staff_sessions.c.staff_id == member.id)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def csrf_for_session(secret: str, token: str) -> str:
    """The CSRF token of a session: an HMAC of its cookie, so it dies with the session."""
    return hmac.new(secret.encode(), f"staff-csrf\n{token}".encode(), hashlib.sha256).hexdigest()
