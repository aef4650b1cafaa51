"""The staff console under /admin: sign-in with personal accounts, a dashboard, the items,
this week's digest as it will go out, the breaking-news send (pick, preview, test, confirm,
watch), the staff list, one's own account, the audit log. Every page needs a session and
the right role; every form a CSRF token bound to the session and a same-origin request."""

from __future__ import annotations

import hmac
import io
import re
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from digest import actions, staff
from digest.config import WEEKDAYS, Settings
from digest.errors import DigestError
from digest.feeds import TEMPLATES, feed_specs
from digest.mailings import (
    AWAITING,
    CANCELLED,
    DONE,
    EMPTY,
    PAUSED,
    SCHEDULED,
    SENDING,
    breaking_recipient_count,
    plan_weekly,
    recent_mailings,
    release_due,
    sent_alert,
    weekly_recipient_count,
)
from digest.model import ALL_TYPES, STATUSES, Item, Subscriber
from digest.render import (
    breaking_subject,
    personalise,
    render_breaking,
    render_weekly,
    sample_copy,
    weekly_subject,
)
from digest.staff import StaffMember
from digest.store import (
    all_sources,
    audit_log,
    correction_notes,
    count_items,
    deliveries,
    find_item,
    latest_items,
    mailings,
    record_audit,
)
from digest.subscribers import (
    add_subscriber,
    count_by_status,
    export_csv,
    import_csv,
    iter_subscribers,
    normalise_email,
    remove_subscriber,
)
from digest.web.auth import (
    SESSION_COOKIE,
    clear_session_cookie,
    client_address,
    off_loop,
    same_origin,
    set_session_cookie,
)
from digest.web.forms import CSRF_COOKIE, SECURITY_HEADERS, Pages, read_form

CONSOLE_HEADERS = SECURITY_HEADERS | {"Referrer-Policy": "same-origin"}
FRAMEABLE = SECURITY_HEADERS | {
    "X-Frame-Options": "SAMEORIGIN",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src *; "
    "frame-ancestors 'self'",
}

Form = dict[str, str]
PRESS_PAGE = 200
Handler = Callable[[Request, StaffMember, Form], Awaitable[Response]]


def human_time(moment: datetime | None, zone: Any) -> str:
    """A moment in the newsroom's zone, as people read it: 'Mon 23 Nov, 14:05 CET' (with
    the year when it is not this year)."""
    if moment is None:
        return "never"
    local = moment.astimezone(zone)
    this_year = datetime.now(zone).year
    year = "" if local.year == this_year else f" {local.year}"
    return f"{local:%a} {local.day} {local:%b}{year}, {local:%H:%M} {local:%Z}"


def human_date(day: date | datetime | None, zone: Any) -> str:
    """A day as people read it: 'Mon 23 Nov 2026'."""
    if day is None:
        return ""
    if isinstance(day, datetime):
        day = day.astimezone(zone).date()
    return f"{day:%a} {day.day} {day:%b %Y}"


ISO_MOMENT = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:[+-]\d\d:\d\d|Z)?")


def humane_text(text: str, zone: Any) -> str:
    """Text (an audit entry's detail) with every ISO 8601 moment in it written as people
    read it, in the newsroom's zone; a moment without an offset is taken as UTC."""

    def human(match: re.Match[str]) -> str:
        try:
            moment = datetime.fromisoformat(match.group(0).replace("Z", "+00:00"))
        except ValueError:
            return match.group(0)
        return human_time(moment if moment.tzinfo else moment.replace(tzinfo=UTC), zone)

    return ISO_MOMENT.sub(human, text)


# The largest id an INTEGER column holds on every store (PostgreSQL's is 32-bit).
MAX_ROW_ID = 2**31 - 1


def routes(settings: Settings, engine: Engine, pages: Pages) -> list[Route]:
    """The staff routes."""
    zone = settings.timezone
    pages.environment.filters["when"] = lambda moment: human_time(moment, zone)
    pages.environment.filters["day"] = lambda day: human_date(day, zone)
    pages.environment.filters["humane"] = lambda text: humane_text(text, zone)

    def now() -> datetime:
        return datetime.now(UTC)

    def today() -> date:
        return datetime.now(zone).date()

    def audit(member: StaffMember | str, action: str, detail: str = "") -> None:
        actor = member.label if isinstance(member, StaffMember) else member
        record_audit(engine, actor[:200], action, detail, now())

    def console_open() -> bool:
        return bool(settings.admin_password) or bool(staff.list_staff(engine))

    def page(
        request: Request,
        name: str,
        member: StaffMember | None,
        status_code: int = 200,
        **context: object,
    ) -> Response:
        token = request.cookies.get(SESSION_COOKIE)
        if member is None or not token:
            return pages.render(request, f"admin/{name}", status_code, staff=None, **context)
        html = pages.environment.get_template(f"admin/{name}").render(
            settings=settings,
            csrf=staff.csrf_for_session(settings.secret_key, token),
            staff=member,
            **context,
        )
        return HTMLResponse(html, status_code=status_code, headers=CONSOLE_HEADERS)

    def refuse(request: Request, status_code: int, message: str) -> Response:
        return pages.refuse(request, status_code, message)

    def form_ok(request: Request, form: Form) -> bool:
        """The CSRF check of the forms used before a session exists (sign-in, first admin,
        set password); a token that is not ASCII is simply wrong."""
        token = form.get("csrf", "")
        cookie = request.cookies.get(CSRF_COOKIE, "")
        return token.isascii() and cookie.isascii() and pages.csrf_ok(request, form)

    def current(request: Request) -> StaffMember | None:
        return staff.session_member(engine, request.cookies.get(SESSION_COOKIE), now())

    def guard(handler: Handler, right: str = "prepare") -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            if request.path_params.get("id", 0) > MAX_ROW_ID:
                return refuse(request, 404, "No such mailing.")
            member = current(request)
            if member is None:
                if request.method == "GET":
                    return RedirectResponse("/admin/signin", status_code=303)
                return refuse(request, 403, "Sign in first.")
            form: Form = {}
            if request.method == "POST":
                if not same_origin(request, settings):
                    return refuse(request, 403, "This form was sent from another site.")
                form = await read_form(request)
                token = request.cookies.get(SESSION_COOKIE, "")
                expected = staff.csrf_for_session(settings.secret_key, token)
                given = form.get("csrf", "").encode("utf-8", "replace")
                if not hmac.compare_digest(expected.encode(), given):
                    return refuse(request, 403, "The form had expired. Please try again.")
            if member.must_enrol_totp and right != "self":
                return RedirectResponse("/admin/account", status_code=303)
            if right != "self" and not member.can(right):
                return page(
                    request,
                    "forbidden.html",
                    member,
                    403,
                    message=f"Your role ({member.role}) cannot do this: it needs "
                    f"{'an admin' if right == 'admin' else 'a sender'}.",
                )
            return await handler(request, member, form)

        return guarded

    def signed_in_response(request: Request, member: StaffMember, to: str) -> Response:
        token = staff.start_session(engine, member, now())
        response = RedirectResponse(to, status_code=303)
        set_session_cookie(response, request, settings, token)
        return response

    # Sign-in, first admin, set-password links, sign-out

    async def signin(request: Request) -> Response:
        if not console_open():
            return refuse(
                request,
                503,
                "The staff console has no accounts yet: run `digest staff add EMAIL "
                "--role admin`, or set ADMIN_PASSWORD to create the first admin here.",
            )
        first = bool(settings.admin_password) and not staff.admin_exists(engine)
        if request.method == "GET":
            return page(request, "signin.html", None, error=None, first=first)
        if not same_origin(request, settings):
            return refuse(request, 403, "This form was sent from another site.")
        form = await read_form(request)
        if not form_ok(request, form):
            return page(
                request, "signin.html", None, 403, error="The form had expired.", first=first
            )
        email = form.get("email", "")
        try:
            member = await off_loop(
                staff.authenticate,
                engine,
                email,
                form.get("password", ""),
                form.get("code", ""),
                client_address(request),
                now(),
            )
        except staff.SignInError as exc:
            return page(request, "signin.html", None, exc.status, error=str(exc), first=first)
        audit(member, "sign-in")
        return signed_in_response(request, member, "/admin")

    async def first_admin(request: Request) -> Response:
        if not settings.admin_password or staff.admin_exists(engine):
            return refuse(request, 404, "An admin account exists: sign in with your own.")
        if request.method == "GET":
            return page(request, "first_admin.html", None, error=None)
        if not same_origin(request, settings):
            return refuse(request, 403, "This form was sent from another site.")
        form = await read_form(request)
        if not form_ok(request, form):
            return page(request, "first_admin.html", None, 403, error="The form had expired.")
        client = client_address(request)
        if staff.throttled(engine, "ADMIN_PASSWORD", client, now()):
            return page(request, "first_admin.html", None, 429, error="Too many attempts.")
        try:
            member = await off_loop(
                staff.bootstrap_admin,
                engine,
                settings.admin_password,
                form.get("admin_password", ""),
                form.get("email", ""),
                form.get("name", ""),
                form.get("password", ""),
                now(),
            )
        except staff.SignInError as exc:
            staff.record_failure(engine, "ADMIN_PASSWORD", client, now())
            return page(request, "first_admin.html", None, exc.status, error=str(exc))
        except DigestError as exc:
            return page(request, "first_admin.html", None, 400, error=str(exc))
        audit(member, "first admin", "created with ADMIN_PASSWORD")
        return signed_in_response(request, member, "/admin")

    async def set_password(request: Request) -> Response:
        token = request.path_params["token"]
        member = staff.account_for_setup(engine, token, now())
        if member is None:
            return refuse(request, 404, "This link was used already or has expired.")
        if request.method == "GET":
            return page(request, "set_password.html", None, account=member, error=None)
        if not same_origin(request, settings):
            return refuse(request, 403, "This form was sent from another site.")
        form = await read_form(request)
        if not form_ok(request, form):
            return page(request, "set_password.html", None, 403, account=member, error="Expired.")
        if form.get("password", "") != form.get("repeat", ""):
            return page(
                request, "set_password.html", None, 400, account=member, error="They differ."
            )
        try:
            member = await off_loop(
                staff.set_password_with_token, engine, token, form.get("password", ""), now()
            )
        except DigestError as exc:
            return page(request, "set_password.html", None, 400, account=member, error=str(exc))
        audit(member, "password set", "from a one-time link")
        return signed_in_response(request, member, "/admin")

    async def signout(request: Request, member: StaffMember, form: Form) -> Response:
        staff.end_session(engine, request.cookies.get(SESSION_COOKIE))
        audit(member, "sign-out")
        response = RedirectResponse("/admin/signin", status_code=303)
        clear_session_cookie(response)
        return response

    # One's own account

    async def account_page(
        request: Request, member: StaffMember, form: Form, notice: str | None = None
    ) -> Response:
        secret = form.get("secret", "")
        if not staff.valid_totp_secret(secret):
            secret = staff.new_totp_secret()
        return page(
            request,
            "account.html",
            member,
            status_code=400 if notice and notice.startswith("!") else 200,
            notice=notice.removeprefix("!") if notice else None,
            secret=secret,
            uri=staff.totp_uri(settings, member, secret),
            sessions=staff.session_count(engine, member),
        )

    async def account_password(request: Request, member: StaffMember, form: Form) -> Response:
        if form.get("new", "") != form.get("repeat", ""):
            return await account_page(request, member, {}, "!The new passwords differ.")
        try:
            await off_loop(
                staff.change_password, engine, member, form.get("current", ""), form.get("new", "")
            )
        except DigestError as exc:
            return await account_page(request, member, {}, f"!{exc}")
        audit(member, "password changed", "every session ended")
        return signed_in_response(request, member, "/admin/account")

    async def account_totp(request: Request, member: StaffMember, form: Form) -> Response:
        if form.get("action") == "off":
            try:
                staff.disable_totp(engine, member)
            except DigestError as exc:
                return await account_page(request, member, {}, f"!{exc}")
            audit(member, "second factor off")
            return RedirectResponse("/admin/account", status_code=303)
        try:
            staff.enable_totp(engine, member, form.get("secret", ""), form.get("code", ""), now())
        except DigestError as exc:
            return await account_page(request, member, form, f"!{exc}")
        audit(member, "second factor on")
        return RedirectResponse("/admin/account", status_code=303)

    # Staff management (admin)

    async def staff_page(
        request: Request, member: StaffMember, form: Form, notice: str | None = None, link: str = ""
    ) -> Response:
        return page(
            request,
            "staff.html",
            member,
            status_code=400 if notice and notice.startswith("!") else 200,
            members=staff.list_staff(engine),
            roles=staff.ROLES,
            role_help=staff.ROLE_HELP,
            notice=notice.removeprefix("!") if notice else None,
            link=link,
        )

    async def staff_action(request: Request, member: StaffMember, form: Form) -> Response:
        action, email = request.path_params["action"], form.get("email", "")
        try:
            if action == "add":
                added, token = staff.add_staff(
                    engine, email, form.get("name", ""), form.get("role", ""), now()
                )
                audit(member, "staff added", f"{added.label} as {added.role}")
                return await staff_page(
                    request,
                    member,
                    form,
                    f"{added.email} can now set a password with this one-time link "
                    f"(valid {staff.SETUP_HOURS} hours):",
                    staff.setup_link(settings, token),
                )
            if action == "reset":
                token = staff.reset_staff(engine, email, now())
                audit(member, "staff reset", email)
                return await staff_page(
                    request,
                    member,
                    form,
                    f"{email}'s password and sessions are cleared; new one-time link:",
                    staff.setup_link(settings, token),
                )
            if action == "remove":
                removed = staff.remove_staff(engine, email)
                audit(member, "staff removed", removed.label)
                return await staff_page(request, member, form, f"{removed.email} was removed.")
            if action == "role":
                changed = staff.set_role(engine, email, form.get("role", ""))
                audit(member, "staff role", f"{changed.label} is now {changed.role}")
                return await staff_page(request, member, form, f"{changed.email}: {changed.role}.")
            if action == "totp":
                required = form.get("required") == "yes"
                changed = staff.require_totp(engine, email, required)
                audit(member, "staff second factor", f"{changed.label}: required={required}")
                state = "required" if required else "optional"
                return await staff_page(
                    request, member, form, f"{changed.email}: second factor {state}."
                )
        except DigestError as exc:
            return await staff_page(request, member, form, f"!{exc}")
        return refuse(request, 404, "No such action.")

    # Dashboard, items, digest, breaking news, mailings, audit

    def next_weekly() -> datetime:
        plan = settings.schedule
        local = now().astimezone(zone)
        days = (WEEKDAYS.index(plan.weekly_day) - local.weekday()) % 7
        moment = (local + timedelta(days=days)).replace(
            hour=plan.weekly_hour, minute=plan.weekly_minute, second=0, microsecond=0
        )
        return moment if moment > local else moment + timedelta(days=7)

    def next_daily() -> datetime:
        cadence = settings.cadence
        local = now().astimezone(zone)
        moment = local.replace(
            hour=cadence.daily_hour, minute=cadence.daily_minute, second=0, microsecond=0
        )
        while moment <= local or moment.weekday() >= 5:
            moment += timedelta(days=1)
        return moment

    async def dashboard(request: Request, member: StaffMember, form: Form) -> Response:
        out = settings.output_dir
        feeds = []
        for spec in feed_specs(settings):
            path = out / spec.path("atom")
            changed = datetime.fromtimestamp(path.stat().st_mtime, UTC) if path.exists() else None
            feeds.append({"title": spec.title, "changed": changed})
        counts = count_items(engine)
        with engine.connect() as conn:
            upcoming = list(
                conn.execute(
                    select(mailings)
                    .where(mailings.c.status.in_((SCHEDULED, AWAITING, PAUSED)))
                    .order_by(mailings.c.send_after, mailings.c.id)
                    .limit(20)
                )
            )
            failures = list(
                conn.execute(
                    select(deliveries.c.email, deliveries.c.reply, deliveries.c.status, mailings)
                    .join(mailings, mailings.c.id == deliveries.c.mailing_id)
                    .where(deliveries.c.status.in_(("failed", "bounced")))
                    .order_by(deliveries.c.id.desc())
                    .limit(20)
                )
            )
        return page(
            request,
            "dashboard.html",
            member,
            sources=all_sources(engine),
            items=[(settings.type_by_slug(slug), n) for slug, n in counts.items()],
            feeds=feeds,
            subscribers=count_by_status(engine),
            mailings=recent_mailings(engine, 10),
            upcoming=upcoming,
            next_weekly=next_weekly(),
            next_daily=next_daily(),
            failures=failures,
            bounced=list(islice(iter_subscribers(engine, "bounced"), 20)),
        )

    # The press list (admin)

    def press_view(
        request: Request,
        member: StaffMember,
        notice: str = "",
        errors: list[tuple[int, str]] | None = None,
        status_code: int = 200,
        editing: Subscriber | None = None,
    ) -> Response:
        query = request.query_params.get("q", "").strip()[:200]
        status = request.query_params.get("status", "")
        wanted = query.casefold()
        found = [
            sub
            for sub in iter_subscribers(engine, status if status in STATUSES else None)
            if not wanted
            or wanted in sub.email.casefold()
            or wanted in sub.name.casefold()
            or wanted in sub.outlet.casefold()
        ]
        return page(
            request,
            "press.html",
            member,
            status_code,
            subscribers=found[:PRESS_PAGE],
            total=len(found),
            shown=min(len(found), PRESS_PAGE),
            q=query,
            status=status,
            statuses=STATUSES,
            types=settings.types,
            notice=notice,
            errors=errors or [],
            editing=editing,
        )

    async def press_page(request: Request, member: StaffMember, form: Form) -> Response:
        editing = None
        if email := request.query_params.get("edit"):
            editing = next(
                (s for s in iter_subscribers(engine) if s.email.lower() == email.strip().lower()),
                None,
            )
        return press_view(request, member, editing=editing)

    async def press_save(request: Request, member: StaffMember, form: Form) -> Response:
        chosen = tuple(t.slug for t in settings.types if form.get(f"type-{t.slug}") == "on")
        cadence = form.get("cadence", "weekly")
        try:
            subscriber = Subscriber(
                email=normalise_email(form.get("email", "")),
                name=form.get("name", "")[:200],
                outlet=form.get("outlet", "")[:200],
                types=() if len(chosen) == len(settings.types) else chosen,
                weekly=form.get("weekly") == "on",
                breaking=form.get("breaking") == "on",
                cadence=cadence if cadence in ("weekly", "daily") else "weekly",
            )
            outcome = add_subscriber(engine, subscriber, now())
        except DigestError as exc:
            return press_view(request, member, f"Not saved: {exc}", status_code=400)
        audit(member, "press list " + ("add" if outcome == "added" else "edit"), subscriber.email)
        return press_view(request, member, f"{subscriber.email}: {outcome}.")

    async def press_unsubscribe(request: Request, member: StaffMember, form: Form) -> Response:
        email = form.get("email", "")
        try:
            removed = remove_subscriber(engine, email, now())
        except DigestError as exc:
            return press_view(request, member, f"Not changed: {exc}", status_code=400)
        if not removed:
            return press_view(request, member, f"{email} is not on the list.", status_code=404)
        audit(member, "press list unsubscribe", email)
        return press_view(request, member, f"{email}: unsubscribed.")

    async def press_import(request: Request, member: StaffMember, form: Form) -> Response:
        text = form.get("csv", "")
        if not text.strip():
            return press_view(request, member, "Paste the CSV first.", status_code=400)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "pasted.csv"
            path.write_text(text, encoding="utf-8")
            try:
                report = import_csv(engine, settings, path, now())
            except DigestError as exc:
                message = str(exc).replace(str(path), "pasted CSV")
                return press_view(request, member, f"Nothing imported: {message}", status_code=400)
        summary = (
            f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
            f"{len(report.errors)} rejected"
        )
        audit(member, "press list import", summary)
        status = 400 if report.errors else 200
        return press_view(request, member, f"Import: {summary}.", report.errors, status)

    async def press_export(request: Request, member: StaffMember, form: Form) -> Response:
        out = io.StringIO()
        count = export_csv(iter_subscribers(engine), settings, out)
        audit(member, "press list export", f"{count} rows")
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": 'attachment; filename="press-list.csv"',
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    async def items_page(request: Request, member: StaffMember, form: Form) -> Response:
        items = latest_items(engine, None, 200, public=False)
        return page(request, "items.html", member, items=items, now=now())

    async def digest_page(request: Request, member: StaffMember, form: Form) -> Response:
        plan = plan_weekly(engine, settings, today())
        return page(
            request,
            "digest.html",
            member,
            as_of=today(),
            subject=weekly_subject(settings, plan.items, today(), ALL_TYPES),
            plan=plan,
            recipients=weekly_recipient_count(engine),
        )

    async def digest_preview(request: Request, member: StaffMember, form: Form) -> Response:
        plan = plan_weekly(engine, settings, today())
        body = render_weekly(settings, plan.items, today(), ALL_TYPES)
        html = sample_copy(body.html) if body else "<p>Nothing was published in this period.</p>"
        return HTMLResponse(html, headers=FRAMEABLE)

    def chosen_item(request: Request, form: Form) -> Item | None:
        key = form.get("item") or request.query_params.get("item") or ""
        return find_item(engine, key) if key else None

    def breaking_view(
        request: Request,
        member: StaffMember,
        item: Item | None,
        notice: str | None = None,
        status_code: int = 200,
    ) -> Response:
        alert = sent_alert(engine, item.key) if item else None
        return page(
            request,
            "breaking.html",
            member,
            status_code,
            items=latest_items(engine, None, 50, public=False),
            item=item,
            subject=breaking_subject(settings, item) if item else None,
            count=breaking_recipient_count(engine, item) if item else 0,
            notice=notice,
            approval=settings.breaking.approval,
            undo_seconds=settings.breaking.undo_seconds,
            zone=zone.key,
            alert=alert,
            notes=correction_notes(engine, item.key) if item else [],
            now=now(),
        )

    async def breaking_page(request: Request, member: StaffMember, form: Form) -> Response:
        return breaking_view(request, member, chosen_item(request, form))

    async def breaking_preview(request: Request, member: StaffMember, form: Form) -> Response:
        item = chosen_item(request, form)
        if item is None:
            return Response("No such item\n", status_code=404, media_type="text/plain")
        body = render_breaking(settings, item, ALL_TYPES)
        if request.query_params.get("as") == "text":
            text = personalise(
                body.text,
                name="Sample Reader",
                email="reader@example.org",
                preferences="(preferences link)",
                unsubscribe="(unsubscribe link)",
                as_html=False,
            )
            return Response(text, media_type="text/plain; charset=utf-8", headers=FRAMEABLE)
        return HTMLResponse(sample_copy(body.html), headers=FRAMEABLE)

    async def breaking_test(request: Request, member: StaffMember, form: Form) -> Response:
        item = chosen_item(request, form)
        if item is None:
            return refuse(request, 404, "No such item.")
        address = form.get("address", "").strip() or member.email
        try:
            await run_in_threadpool(actions.send_test, settings, item, address)
        except DigestError as exc:
            return breaking_view(request, member, item, f"The test could not be sent: {exc}", 400)
        audit(member, "breaking test", f"{item.title} → {address}")
        return breaking_view(request, member, item, f"Test sent to {address}.")

    def to_mailing(mailing_id: int, sending: bool) -> Response:
        response = RedirectResponse(f"/admin/mailings/{mailing_id}", status_code=303)
        if sending:
            response.background = BackgroundTask(actions.send, engine, settings, mailing_id)
        return response

    async def breaking_send(request: Request, member: StaffMember, form: Form) -> Response:
        item = chosen_item(request, form)
        if item is None:
            return refuse(request, 404, "No such item.")
        if not settings.breaking.approval and not member.can("send"):
            return page(
                request,
                "forbidden.html",
                member,
                403,
                message=f"Your role ({member.role}) cannot send: ask a sender to send it.",
            )
        count = breaking_recipient_count(engine, item)
        if form.get("confirm_count") != str(count):
            return refuse(request, 409, "The recipient count changed. Check it again.")
        send_at = None
        if form.get("send_at", "").strip():
            try:
                send_at = actions.local_time(settings, form["send_at"][:40], now())
            except DigestError as exc:
                return breaking_view(request, member, item, str(exc), 400)
            if send_at <= now():
                when = human_time(send_at, zone)
                return breaking_view(request, member, item, f"{when} has passed.", 400)
        try:
            mailing = actions.request_breaking(settings, engine, item.key, member.label, send_at)
        except DigestError as exc:
            return breaking_view(request, member, item, str(exc), 400)
        return to_mailing(mailing.id, mailing.status == SENDING)

    def mailing_view(
        request: Request, member: StaffMember, mailing_id: int, name: str, notice: str = ""
    ) -> Response:
        try:
            if release_due(engine, now(), mailing_id):
                background = BackgroundTask(actions.send, engine, settings, mailing_id)
            else:
                background = None
            progress = actions.mailing_progress(engine, mailing_id)
        except DigestError:
            return refuse(request, 404, "No such mailing.")
        left = (
            max(0, int((progress.send_after - now()).total_seconds()))
            if progress.send_after and progress.status == SCHEDULED
            else None
        )
        response = page(
            request,
            name,
            member,
            400 if notice else 200,
            progress=progress,
            seconds_left=left,
            final=progress.status in (DONE, CANCELLED, EMPTY),
            awaiting=progress.status == AWAITING,
            scheduled=progress.status == SCHEDULED,
            sending=progress.status == SENDING,
            paused=progress.status == PAUSED,
            own=progress.requested_by == member.label,
            notice=notice,
        )
        response.background = background
        return response

    async def mailing_page(request: Request, member: StaffMember, form: Form) -> Response:
        return mailing_view(request, member, int(request.path_params["id"]), "mailing.html")

    async def mailing_live(request: Request, member: StaffMember, form: Form) -> Response:
        return mailing_view(request, member, int(request.path_params["id"]), "_mailing_live.html")

    def mailing_action(action: str) -> Handler:
        async def act(request: Request, member: StaffMember, form: Form) -> Response:
            mailing_id = int(request.path_params["id"])
            try:
                if action == "approve":
                    mailing = actions.approve_mailing(settings, engine, mailing_id, member.label)
                elif action == "cancel":
                    mailing = actions.cancel_mailing(engine, mailing_id, member.label)
                elif action == "pause":
                    mailing = actions.pause_mailing(engine, mailing_id, member.label)
                else:
                    mailing = actions.resume_mailing(engine, mailing_id, member.label)
            except DigestError as exc:
                return mailing_view(request, member, mailing_id, "mailing.html", str(exc))
            return to_mailing(mailing.id, mailing.status == SENDING)

        return act

    async def item_embargo(request: Request, member: StaffMember, form: Form) -> Response:
        item = chosen_item(request, form)
        if item is None:
            return refuse(request, 404, "No such item.")
        until = None
        if form.get("action") != "lift":
            try:
                until = actions.local_time(settings, form.get("until", "")[:40], now())
            except DigestError as exc:
                return breaking_view(request, member, item, str(exc), 400)
        actions.embargo_item(engine, item.key, until, member.label)
        return RedirectResponse(f"/admin/breaking?item={quote(item.key, safe='')}", 303)

    async def item_correction(request: Request, member: StaffMember, form: Form) -> Response:
        item = chosen_item(request, form)
        if item is None:
            return refuse(request, 404, "No such item.")
        try:
            actions.add_correction(engine, item.key, form.get("note", "")[:2000], member.label)
        except DigestError as exc:
            return breaking_view(request, member, item, str(exc), 400)
        return RedirectResponse(f"/admin/breaking?item={quote(item.key, safe='')}", 303)

    async def correction_send(request: Request, member: StaffMember, form: Form) -> Response:
        item = chosen_item(request, form)
        if item is None:
            return refuse(request, 404, "No such item.")
        try:
            mailing = actions.send_correction(settings, engine, item.key, member.label)
        except DigestError as exc:
            return breaking_view(request, member, item, str(exc), 400)
        return to_mailing(mailing.id, mailing.status == SENDING)

    async def settings_page(request: Request, member: StaffMember, form: Form) -> Response:
        from digest.checks import run_checks

        checks = None
        if request.method == "POST":
            checks = await run_in_threadpool(run_checks, settings)
            failed = sum(check.status == "fail" for check in checks)
            audit(member, "checks", f"{len(checks)} checks, {failed} failed")
        relay = urlsplit(settings.smtp_url).hostname if settings.smtp_url else None
        rows = [
            ("Newsroom", settings.newsroom_name),
            ("Time zone", zone.key),
            ("Public address (BASE_URL)", settings.base_url),
            ("Store", make_url(settings.database_url).get_backend_name()),
            ("Mail relay", relay or f"none: messages go to {settings.sender.outbox}"),
            (
                "Weekly digest",
                f"{settings.schedule.weekly_day.capitalize()} "
                f"{settings.schedule.weekly_hour:02d}:{settings.schedule.weekly_minute:02d}",
            ),
            (
                "Daily digest (weekdays)",
                f"{settings.cadence.daily_hour:02d}:{settings.cadence.daily_minute:02d}",
            ),
            ("Undo window after send", f"{settings.breaking.undo_seconds} seconds"),
            ("Second sender must approve alerts", "yes" if settings.breaking.approval else "no"),
            ("Sources", ", ".join(source.name for source in settings.sources) or "none"),
        ]
        return page(request, "settings.html", member, rows=rows, checks=checks)

    htmx = (TEMPLATES / "web" / "admin" / "vendor" / "htmx-2.0.11.min.js").read_bytes()

    async def htmx_script(request: Request) -> Response:
        return Response(
            htmx,
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
        )

    async def audit_page(request: Request, member: StaffMember, form: Form) -> Response:
        who = request.query_params.get("who", "")[:200]
        what = request.query_params.get("what", "")[:100]
        days = request.query_params.get("days", "")
        since = now() - timedelta(days=int(days)) if days in {"1", "7", "30"} else None
        entries = [
            entry
            for entry in audit_log(engine, 2000)
            if (not who or who.casefold() in entry.actor.casefold())
            and (not what or what.casefold() in entry.action.casefold())
            and (since is None or entry.at >= since)
        ][:500]
        return page(request, "audit.html", member, entries=entries, who=who, what=what, days=days)

    return [
        Route("/admin/signin", signin, methods=["GET", "POST"]),
        Route("/admin/first-admin", first_admin, methods=["GET", "POST"]),
        Route("/admin/password/{token}", set_password, methods=["GET", "POST"]),
        Route("/admin/signout", guard(signout, "self"), methods=["POST"]),
        Route("/admin/account", guard(account_page, "self")),
        Route("/admin/account/password", guard(account_password, "self"), methods=["POST"]),
        Route("/admin/account/totp", guard(account_totp, "self"), methods=["POST"]),
        Route("/admin/staff", guard(staff_page, "admin")),
        Route("/admin/staff/{action}", guard(staff_action, "admin"), methods=["POST"]),
        Route("/admin", guard(dashboard)),
        Route("/admin/press", guard(press_page, "admin")),
        Route("/admin/press/save", guard(press_save, "admin"), methods=["POST"]),
        Route("/admin/press/unsubscribe", guard(press_unsubscribe, "admin"), methods=["POST"]),
        Route("/admin/press/import", guard(press_import, "admin"), methods=["POST"]),
        Route("/admin/press/export.csv", guard(press_export, "admin")),
        Route("/admin/items", guard(items_page)),
        Route("/admin/digest", guard(digest_page)),
        Route("/admin/digest/preview", guard(digest_preview)),
        Route("/admin/breaking", guard(breaking_page)),
        Route("/admin/breaking/preview", guard(breaking_preview)),
        Route("/admin/breaking/test", guard(breaking_test), methods=["POST"]),
        Route("/admin/breaking/send", guard(breaking_send), methods=["POST"]),
        Route("/admin/items/embargo", guard(item_embargo), methods=["POST"]),
        Route("/admin/items/correction", guard(item_correction), methods=["POST"]),
        Route("/admin/items/correction/send", guard(correction_send, "send"), methods=["POST"]),
        Route("/admin/mailings/{id:int}", guard(mailing_page)),
        Route("/admin/mailings/{id:int}/live", guard(mailing_live)),
        Route(
            "/admin/mailings/{id:int}/approve",
            guard(mailing_action("approve"), "send"),
            methods=["POST"],
        ),
        Route("/admin/mailings/{id:int}/cancel", guard(mailing_action("cancel")), methods=["POST"]),
        Route(
            "/admin/mailings/{id:int}/pause",
            guard(mailing_action("pause"), "send"),
            methods=["POST"],
        ),
        Route(
            "/admin/mailings/{id:int}/resume",
            guard(mailing_action("resume"), "send"),
            methods=["POST"],
        ),
        Route("/admin/settings", guard(settings_page, "admin"), methods=["GET", "POST"]),
        Route("/admin/static/htmx.min.js", htmx_script),
        Route("/admin/audit", guard(audit_page)),
    ]
