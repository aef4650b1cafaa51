"""The one gate of the console: each route's row in the table names the right it needs and
whether its forms are checked; `guarded` enforces that (session, enrolment, role, same
origin, CSRF token) before any handler runs, so no handler checks any of it itself."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from digest import staff
from digest.config import Settings
from digest.staff import StaffMember
from digest.web.auth import SESSION_COOKIE, same_origin
from digest.web.console.common import Console, Form, Handler
from digest.web.forms import CSRF_COOKIE, MAX_FORM_BYTES, read_form

OPEN = "open"
SELF = "self"
PREPARE, SEND, ADMIN = "prepare", "send", "admin"
FOREIGN = "This form was sent from another site."
ROLE_REFUSAL = "Your role ({role}) cannot do this: it needs {needed}."
# The largest id an INTEGER column holds on every store (PostgreSQL's is 32-bit).
MAX_ROW_ID = 2**31 - 1

Plain = Callable[[Request, Console], Awaitable[Response]]
Gate = Callable[[Request, Console], Response | dict[str, Any]]
Submit = Callable[[Request, Console, Form, dict[str, Any]], Awaitable[Response]]


@dataclass(frozen=True)
class Door:
    """A form used before a session exists (sign-in, first admin, set password): `gate`
    refuses the visit or gives the template's context, GET shows `template`, a POST that
    passes the checks goes to `submit`, one that fails shows `template` with `expired`."""

    template: str
    gate: Gate
    submit: Submit
    expired: str = "The form had expired."


@dataclass(frozen=True)
class Rule:
    """One console route: its path, methods and handler, the right it needs (OPEN: no
    session; SELF: any signed-in member; else a right of digest.staff.RIGHTS, or a function
    of the settings naming one) and whether its POSTs get the same-origin and CSRF check.
    `refusal` is the message shown to a role without the right; `body_limit` the largest
    form it reads (bytes)."""

    path: str
    handler: Handler | Door | Plain
    right: str | Callable[[Settings], str] = PREPARE
    methods: tuple[str, ...] = ("GET",)
    csrf: bool = False
    refusal: str = ROLE_REFUSAL
    body_limit: int = MAX_FORM_BYTES

    def needs(self, settings: Settings) -> str:
        """The right this route needs under these settings."""
        return self.right(settings) if callable(self.right) else self.right


def session_member(console: Console, request: Request) -> StaffMember | None:
    """The signed-in member of staff behind this request's session cookie, if any."""
    return staff.session_member(console.engine, request.cookies.get(SESSION_COOKIE), console.now())


def session_csrf_ok(console: Console, request: Request, form: Form) -> bool:
    """Whether the form's csrf field is the token bound to this request's session."""
    token = request.cookies.get(SESSION_COOKIE, "")
    expected = staff.csrf_for_session(console.settings.secret_key, token)
    given = form.get("csrf", "").encode("utf-8", "replace")
    return hmac.compare_digest(expected.encode(), given)


def cookie_csrf_ok(console: Console, request: Request, form: Form) -> bool:
    """The CSRF check of the forms used before a session exists (bound to the CSRF cookie);
    a token that is not ASCII is simply wrong."""
    token = form.get("csrf", "")
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return token.isascii() and cookie.isascii() and console.pages.csrf_ok(request, form)


async def guarded(rule: Rule, console: Console, request: Request) -> Response:
    """Answer a console request as its rule says: refuse what the rule does not allow,
    else run the handler with the member and the checked form."""
    if request.path_params.get("id", 0) > MAX_ROW_ID:
        return console.refuse(request, 404, "No such mailing.")
    if rule.right == OPEN:
        return await _open(rule, console, request)
    member = session_member(console, request)
    if member is None:
        if request.method == "GET":
            return RedirectResponse("/admin/signin", status_code=303)
        return console.refuse(request, 403, "Sign in first.")
    form: Form = {}
    if rule.csrf and request.method == "POST":
        if not same_origin(request, console.settings):
            return console.refuse(request, 403, FOREIGN)
        form = await read_form(request, rule.body_limit)
        if not session_csrf_ok(console, request, form):
            return console.refuse(request, 403, "The form had expired. Please try again.")
    refused = _role_refusal(rule, console, request, member)
    if refused is not None:
        return refused
    return await cast(Handler, rule.handler)(request, console, member, form)


def _role_refusal(
    rule: Rule, console: Console, request: Request, member: StaffMember
) -> Response | None:
    right = rule.needs(console.settings)
    if right == SELF:
        return None
    if member.must_enrol_totp:
        return RedirectResponse("/admin/account", status_code=303)
    if member.can(right):
        return None
    needed = "an admin" if right == ADMIN else "a sender"
    message = rule.refusal.format(role=member.role, needed=needed)
    return console.page(request, "forbidden.html", member, 403, message=message)


async def _open(rule: Rule, console: Console, request: Request) -> Response:
    if not isinstance(rule.handler, Door):
        return await cast(Plain, rule.handler)(request, console)
    door = rule.handler
    context = door.gate(request, console)
    if isinstance(context, Response):
        return context
    if request.method == "GET":
        return console.page(request, door.template, None, error=None, **context)
    if rule.csrf and not same_origin(request, console.settings):
        return console.refuse(request, 403, FOREIGN)
    form = await read_form(request)
    if rule.csrf and not cookie_csrf_ok(console, request, form):
        return console.page(request, door.template, None, 403, error=door.expired, **context)
    return await door.submit(request, console, form, context)
