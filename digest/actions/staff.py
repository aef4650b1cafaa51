"""Staff accounts: what an admin does to them (add, role, second factor, reset, remove) and
what each person does with their own (sign in and out, set or change a password, TOTP)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from digest import staff
from digest.actions.common import Actor, Forbidden, Who, audit, require, utc_now
from digest.staff import StaffMember

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from digest.config import Settings


def actor_for(engine: Engine, email: str, right: str | None = None) -> Actor:
    """The Actor for a staff account named by address (the CLI's --as). Before any account
    exists, the name is only what the audit log records, with every right. With `right`,
    refuse at once an account whose role lacks it."""
    if not staff.list_staff(engine):
        return Actor(email.strip())
    member = staff.find_staff(engine, email)
    if member is None or member.disabled:
        raise Forbidden("no active staff account has this address")
    actor = Actor.of(member)
    return require(actor, right) if right else actor


def list_members(engine: Engine) -> list[StaffMember]:
    """Every account, removed ones included (they stay for the audit log)."""
    return staff.list_staff(engine)


def add_member(
    engine: Engine, who: Who, email: str, name: str, role: str, now: datetime | None = None
) -> tuple[StaffMember, str]:
    """Create an account; returns it and the token of its one-time set-password link."""
    now = now or utc_now()
    actor = require(who, "admin")
    member, token = staff.add_staff(engine, email, name, role, now)
    audit(engine, actor, "staff added", f"{member.label} as {member.role}", now)
    return member, token


def change_role(engine: Engine, who: Who, email: str, role: str) -> StaffMember:
    """Give an account another role (the last admin keeps theirs)."""
    actor = require(who, "admin")
    member = staff.set_role(engine, email, role)
    audit(engine, actor, "staff role", f"{member.label} is now {member.role}")
    return member


def require_second_factor(engine: Engine, who: Who, email: str, required: bool) -> StaffMember:
    """Require (or stop requiring) a TOTP second factor for an account."""
    actor = require(who, "admin")
    member = staff.require_totp(engine, email, required)
    audit(engine, actor, "staff second factor", f"{member.label}: required={required}")
    return member


def reset_member(engine: Engine, who: Who, email: str, now: datetime | None = None) -> str:
    """Clear an account's password and second factor and end its sessions; returns the
    token of a new one-time set-password link."""
    now = now or utc_now()
    actor = require(who, "admin")
    token = staff.reset_staff(engine, email, now)
    audit(engine, actor, "staff reset", email, now)
    return token


def remove_member(engine: Engine, who: Who, email: str) -> StaffMember:
    """Remove an account: its sessions end at once; it stays, disabled, for the audit log."""
    actor = require(who, "admin")
    member = staff.remove_staff(engine, email)
    audit(engine, actor, "staff removed", member.label)
    return member


def setup_link(settings: Settings, token: str) -> str:
    """The one-time set-password address for a token."""
    return staff.setup_link(settings, token)


# One's own account


def sign_in(
    engine: Engine, email: str, password: str, code: str, client: str, now: datetime | None = None
) -> tuple[StaffMember, str]:
    """Check a sign-in (password, then TOTP when enrolled; throttled per account and
    client) and start a session; returns the member and the session token."""
    now = now or utc_now()
    member = staff.authenticate(engine, email, password, code, client, now)
    audit(engine, Actor.of(member), "sign-in", "", now)
    return member, staff.start_session(engine, member, now)


def create_first_admin(
    engine: Engine,
    settings: Settings,
    form: dict[str, str],
    client: str,
    now: datetime | None = None,
) -> tuple[StaffMember, str]:
    """Create the first admin with ADMIN_PASSWORD (throttled per client) and start their
    session; SignInError when the password is wrong or too many attempts were made."""
    now = now or utc_now()
    if (until := staff.locked_until(engine, "ADMIN_PASSWORD", client, now)) is not None:
        raise staff.SignInError(staff.lock_message(until, now), 429)
    try:
        member = staff.bootstrap_admin(
            engine,
            settings.admin_password,
            form.get("admin_password", ""),
            form.get("email", ""),
            form.get("name", ""),
            form.get("password", ""),
            now,
        )
    except staff.SignInError:
        staff.record_failure(engine, "ADMIN_PASSWORD", client, now)
        raise
    audit(engine, Actor.of(member), "first admin", "created with ADMIN_PASSWORD", now)
    return member, staff.start_session(engine, member, now)


def set_password_from_link(
    engine: Engine, token: str, password: str, now: datetime | None = None
) -> tuple[StaffMember, str]:
    """Set a password from a one-time link and start a session."""
    now = now or utc_now()
    member = staff.set_password_with_token(engine, token, password, now)
    audit(engine, Actor.of(member), "password set", "from a one-time link", now)
    return member, staff.start_session(engine, member, now)


def sign_out(engine: Engine, member: StaffMember, token: str | None) -> None:
    """End this session."""
    staff.end_session(engine, token)
    audit(engine, Actor.of(member), "sign-out")


def change_password(
    engine: Engine,
    member: StaffMember,
    current: str,
    new: str,
    client: str,
    now: datetime | None = None,
) -> str:
    """Change one's own password (wrong current passwords throttled like sign-ins from
    `client`): every session ends; returns a new session's token."""
    now = now or utc_now()
    staff.change_password(engine, member, current, new, client, now)
    audit(engine, Actor.of(member), "password changed", "every session ended", now)
    return staff.start_session(engine, member, now)


def second_factor_on(
    engine: Engine, member: StaffMember, secret: str, code: str, now: datetime | None = None
) -> None:
    """Enrol a TOTP second factor, proven by a current code."""
    now = now or utc_now()
    staff.enable_totp(engine, member, secret, code, now)
    audit(engine, Actor.of(member), "second factor on", "", now)


def second_factor_off(
    engine: Engine, member: StaffMember, proof: str, client: str, now: datetime | None = None
) -> None:
    """Drop one's TOTP second factor, proven by the current password or a current code
    (refused while an admin requires it; wrong proofs are throttled like sign-ins). Slow:
    call it off the event loop."""
    now = now or utc_now()
    staff.disable_totp(engine, member, proof, client, now)
    audit(engine, Actor.of(member), "second factor off", "", now)


def session_member(
    engine: Engine, token: str | None, now: datetime | None = None
) -> StaffMember | None:
    """The signed-in member a session cookie names, or None."""
    return staff.session_member(engine, token, now or utc_now())


def console_open(engine: Engine, settings: Settings) -> bool:
    """Whether anyone can sign in: an account exists, or ADMIN_PASSWORD can create one."""
    return bool(settings.admin_password) or bool(staff.list_staff(engine))


def first_admin_possible(engine: Engine, settings: Settings) -> bool:
    """Whether ADMIN_PASSWORD may still create the first admin (no admin exists yet)."""
    return bool(settings.admin_password) and not staff.admin_exists(engine)
