"""Signing in and one's own account: the sign-in form, the first admin from ADMIN_PASSWORD,
one-time set-password links, signing out, changing one's password and the second factor."""

from __future__ import annotations

import io
from typing import Any

import segno
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from digest import actions, staff
from digest.errors import DigestError
from digest.staff import StaffMember
from digest.web.auth import SESSION_COOKIE, clear_session_cookie, client_address, off_loop
from digest.web.console.common import Console, Form, notice_parts, signed_in_response
from digest.web.console.guard import Door

CLOSED = (
    "The staff console has no accounts yet: run `digest staff add EMAIL "
    "--role admin`, or set ADMIN_PASSWORD to create the first admin here."
)


def signin_gate(request: Request, console: Console) -> Response | dict[str, Any]:
    """The sign-in form exists once there is an account or ADMIN_PASSWORD; it offers the
    first-admin form while no admin exists."""
    if not actions.console_open(console.engine, console.settings):
        return console.refuse(request, 503, CLOSED)
    return {"first": actions.first_admin_possible(console.engine, console.settings)}


async def signin(
    request: Request, console: Console, form: Form, context: dict[str, Any]
) -> Response:
    """Check the address, password and (when enrolled) code, off the event loop."""
    try:
        _, session = await off_loop(
            actions.sign_in,
            console.engine,
            form.get("email", ""),
            form.get("password", ""),
            form.get("code", ""),
            client_address(request),
        )
    except staff.SignInError as exc:
        return console.page(request, "signin.html", None, exc.status, error=str(exc), **context)
    return signed_in_response(console, request, session, "/admin")


def first_admin_gate(request: Request, console: Console) -> Response | dict[str, Any]:
    """The first-admin form exists only while ADMIN_PASSWORD is set and no admin exists."""
    if not actions.first_admin_possible(console.engine, console.settings):
        return console.refuse(request, 404, "An admin account exists: sign in with your own.")
    return {}


async def first_admin(
    request: Request, console: Console, form: Form, context: dict[str, Any]
) -> Response:
    """Create the first admin from ADMIN_PASSWORD (throttled per client like a sign-in)."""
    try:
        _, session = await off_loop(
            actions.create_first_admin,
            console.engine,
            console.settings,
            form,
            client_address(request),
        )
    except staff.SignInError as exc:
        return console.page(request, "first_admin.html", None, exc.status, error=str(exc))
    except DigestError as exc:
        return console.page(request, "first_admin.html", None, 400, error=str(exc))
    return signed_in_response(console, request, session, "/admin")


def set_password_gate(request: Request, console: Console) -> Response | dict[str, Any]:
    """A set-password link works once, until it expires."""
    member = staff.account_for_setup(console.engine, request.path_params["token"], console.now())
    if member is None:
        return console.refuse(request, 404, "This link was used already or has expired.")
    return {"account": member}


async def set_password(
    request: Request, console: Console, form: Form, context: dict[str, Any]
) -> Response:
    """Set the password from a one-time link, then sign in."""
    if form.get("password", "") != form.get("repeat", ""):
        return console.page(
            request, "set_password.html", None, 400, error="They differ.", **context
        )
    try:
        _, session = await off_loop(
            actions.set_password_from_link,
            console.engine,
            request.path_params["token"],
            form.get("password", ""),
        )
    except DigestError as exc:
        return console.page(request, "set_password.html", None, 400, error=str(exc), **context)
    return signed_in_response(console, request, session, "/admin")


SIGNIN = Door("signin.html", signin_gate, signin)
FIRST_ADMIN = Door("first_admin.html", first_admin_gate, first_admin)
SET_PASSWORD = Door("set_password.html", set_password_gate, set_password, expired="Expired.")


async def signout(request: Request, console: Console, member: StaffMember, form: Form) -> Response:
    """End this session on the server and forget its cookie."""
    actions.sign_out(console.engine, member, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/admin/signin", status_code=303)
    clear_session_cookie(response)
    return response


def qr_svg(text: str) -> Markup:
    """A QR code of `text` as inline SVG, drawn on the server (no script, no image
    request): what an authenticator app scans to add the key."""
    code = segno.make(text, error="m")
    out = io.BytesIO()
    code.save(out, kind="svg", xmldecl=False, svgns=True, scale=5, border=4, title="QR code")
    svg = out.getvalue().decode()
    label = 'role="img" aria-label="QR code of the key for your authenticator app" '
    return Markup(svg.replace("<svg ", f'<svg id="totp-qr" {label}', 1))


def account_view(
    request: Request, console: Console, member: StaffMember, form: Form, notice: str | None = None
) -> Response:
    """One's account page, with a fresh TOTP secret unless the form carried a valid one."""
    secret = form.get("secret", "")
    if not staff.valid_totp_secret(secret):
        secret = staff.new_totp_secret()
    status_code, shown = notice_parts(notice)
    return console.page(
        request,
        "account.html",
        member,
        status_code=status_code,
        notice=shown,
        failed=status_code >= 400,
        secret=secret,
        key_groups=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        qr=qr_svg(staff.totp_uri(console.settings, member, secret)),
        uri=staff.totp_uri(console.settings, member, secret),
        sessions=staff.session_count(console.engine, member),
    )


async def account_page(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """One's own account (after a password change, saying it is done)."""
    done = request.query_params.get("done") == "password"
    notice = "Password changed: every other session of your account has ended." if done else None
    return account_view(request, console, member, form, notice)


async def account_password(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """Change one's password: every session ends, this one starts afresh."""
    if form.get("new", "") != form.get("repeat", ""):
        return account_view(request, console, member, {}, "!The new passwords differ.")
    try:
        session = await off_loop(
            actions.change_password,
            console.engine,
            member,
            form.get("current", ""),
            form.get("new", ""),
            client_address(request),
        )
    except DigestError as exc:
        return account_view(request, console, member, {}, f"!{exc}")
    return signed_in_response(console, request, session, "/admin/account?done=password")


async def account_totp(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """Turn one's second factor on (with a code from the new secret) or off (with the
    current password or a current code, checked off the event loop)."""
    if form.get("action") == "off":
        try:
            await off_loop(
                actions.second_factor_off,
                console.engine,
                member,
                form.get("proof", ""),
                client_address(request),
            )
        except DigestError as exc:
            return account_view(request, console, member, {}, f"!{exc}")
        return RedirectResponse("/admin/account", status_code=303)
    code = form.get("code", "")
    try:
        actions.second_factor_on(console.engine, member, form.get("secret", ""), code)
    except DigestError as exc:
        return account_view(request, console, member, form, f"!{exc}")
    return RedirectResponse("/admin/account", status_code=303)
