"""The staff console under /admin: sign-in, a dashboard, the items, this week's digest as
it will go out, the breaking-news send (pick, preview, test, confirm, watch), the audit log.
Every page needs a session; every form a CSRF token."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

from sqlalchemy import Engine
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from digest import jobs
from digest.config import Settings
from digest.errors import DigestError
from digest.feeds import RENDERERS, feed_specs
from digest.mailings import (
    breaking_recipient_count,
    mailing_progress,
    plan_weekly,
    recent_mailings,
    weekly_recipient_count,
)
from digest.model import ALL_TYPES, Item
from digest.render import (
    breaking_subject,
    render_breaking,
    render_weekly,
    sample_copy,
    weekly_subject,
)
from digest.store import all_sources, audit_log, count_items, find_item, latest_items, record_audit
from digest.subscribers import count_by_status
from digest.web.auth import (
    SESSION_COOKIE,
    SignInLimiter,
    password_ok,
    session_cookie,
    session_staff,
)
from digest.web.forms import SECURITY_HEADERS, Pages, read_form

FRAMEABLE = SECURITY_HEADERS | {
    "X-Frame-Options": "SAMEORIGIN",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src *; "
    "frame-ancestors 'self'",
}


def routes(settings: Settings, engine: Engine, pages: Pages) -> list[Route]:
    """The staff routes."""
    limiter = SignInLimiter()

    def staff(request: Request) -> str | None:
        return session_staff(settings.secret_key, request.cookies.get(SESSION_COOKIE), time.time())

    def now() -> datetime:
        return datetime.now(UTC)

    def today() -> date:
        return datetime.now(settings.timezone).date()

    def page(request: Request, name: str, status_code: int = 200, **context: object) -> Response:
        return pages.render(request, f"admin/{name}", status_code, staff=staff(request), **context)

    def guard(handler):  # type: ignore[no-untyped-def]
        async def guarded(request: Request) -> Response:
            if not settings.admin_password:
                return pages.refuse(request, 503, "The staff console is off: set ADMIN_PASSWORD.")
            who = staff(request)
            if who is None:
                if request.method == "GET":
                    return RedirectResponse("/admin/signin", status_code=303)
                return pages.refuse(request, 403, "Sign in first.")
            form = await read_form(request) if request.method == "POST" else {}
            if request.method == "POST" and not pages.csrf_ok(request, form):
                return pages.refuse(request, 403, "The form had expired. Please try again.")
            return await handler(request, who, form)

        return guarded

    async def signin(request: Request) -> Response:
        if not settings.admin_password:
            return pages.refuse(request, 503, "The staff console is off: set ADMIN_PASSWORD.")
        if request.method == "GET":
            return page(request, "signin.html", error=None)
        client = request.client.host if request.client else "unknown"
        if limiter.blocked(client):
            return page(request, "signin.html", 429, error="Too many attempts. Wait a while.")
        form = await read_form(request)
        name = " ".join(form.get("name", "").split())[:80]
        if not pages.csrf_ok(request, form):
            return page(request, "signin.html", 403, error="The form had expired. Try again.")
        if not name or not password_ok(settings.admin_password, form.get("password", "")):
            limiter.failed(client)
            return page(request, "signin.html", 401, error="Name or password not right.")
        record_audit(engine, name, "sign-in", "", now())
        response = RedirectResponse("/admin", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            session_cookie(settings.secret_key, name, time.time()),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/admin",
        )
        return response

    async def signout(request: Request, who: str, form: dict[str, str]) -> Response:
        response = RedirectResponse("/admin/signin", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/admin")
        return response

    async def dashboard(request: Request, who: str, form: dict[str, str]) -> Response:
        out = settings.output_dir
        feeds = []
        for spec in feed_specs(settings):
            path = out / spec.path("atom")
            changed = datetime.fromtimestamp(path.stat().st_mtime, UTC) if path.exists() else None
            feeds.append(
                {
                    "title": spec.title,
                    "files": [spec.path(f) for f in RENDERERS],
                    "changed": changed,
                }
            )
        counts = count_items(engine)
        return page(
            request,
            "dashboard.html",
            sources=all_sources(engine),
            items=[(settings.type_by_slug(slug), n) for slug, n in counts.items()],
            feeds=feeds,
            subscribers=count_by_status(engine),
            mailings=recent_mailings(engine),
        )

    async def items_page(request: Request, who: str, form: dict[str, str]) -> Response:
        return page(request, "items.html", items=latest_items(engine, None, 200))

    async def digest_page(request: Request, who: str, form: dict[str, str]) -> Response:
        plan = plan_weekly(engine, settings, today())
        return page(
            request,
            "digest.html",
            as_of=today(),
            subject=weekly_subject(settings, plan.items, today(), ALL_TYPES),
            plan=plan,
            recipients=weekly_recipient_count(engine),
        )

    async def digest_preview(request: Request, who: str, form: dict[str, str]) -> Response:
        plan = plan_weekly(engine, settings, today())
        body = render_weekly(settings, plan.items, today(), ALL_TYPES)
        html = sample_copy(body.html) if body else "<p>Nothing was published in this period.</p>"
        return HTMLResponse(html, headers=FRAMEABLE)

    def chosen_item(request: Request, form: dict[str, str]) -> Item | None:
        key = form.get("item") or request.query_params.get("item") or ""
        return find_item(engine, key) if key else None

    def breaking_view(request: Request, item: Item | None, notice: str | None = None) -> Response:
        return page(
            request,
            "breaking.html",
            items=latest_items(engine, None, 50),
            item=item,
            subject=breaking_subject(settings, item) if item else None,
            count=breaking_recipient_count(engine, item) if item else 0,
            notice=notice,
        )

    async def breaking_page(request: Request, who: str, form: dict[str, str]) -> Response:
        return breaking_view(request, chosen_item(request, form))

    async def breaking_preview(request: Request, who: str, form: dict[str, str]) -> Response:
        item = chosen_item(request, form)
        if item is None:
            return Response("No such item\n", status_code=404, media_type="text/plain")
        body = render_breaking(settings, item, ALL_TYPES)
        return HTMLResponse(sample_copy(body.html), headers=FRAMEABLE)

    async def breaking_test(request: Request, who: str, form: dict[str, str]) -> Response:
        item = chosen_item(request, form)
        if item is None:
            return pages.refuse(request, 404, "No such item.")
        address = form.get("address", "")
        try:
            await run_in_threadpool(jobs.send_test, settings, item, address)
        except DigestError as exc:
            return breaking_view(request, item, f"The test could not be sent: {exc}")
        record_audit(engine, who, "breaking test", f"{item.title} → {address}", now())
        return breaking_view(request, item, f"Test sent to {address}.")

    async def breaking_send(request: Request, who: str, form: dict[str, str]) -> Response:
        item = chosen_item(request, form)
        if item is None:
            return pages.refuse(request, 404, "No such item.")
        count = breaking_recipient_count(engine, item)
        if form.get("confirm_count") != str(count):
            return pages.refuse(request, 409, "The recipient count changed. Check it again.")
        mailing = jobs.breaking_alert(engine, settings, item, now())
        detail = f"{item.title} → {count} recipients (mailing {mailing.id})"
        record_audit(engine, who, "breaking send", detail, now())
        response = RedirectResponse(f"/admin/mailings/{mailing.id}", status_code=303)
        response.background = BackgroundTask(jobs.send, engine, settings, mailing.id)
        return response

    async def mailing_page(request: Request, who: str, form: dict[str, str]) -> Response:
        progress = mailing_progress(engine, int(request.path_params["id"]))
        if progress is None:
            return pages.refuse(request, 404, "No such mailing.")
        return page(request, "mailing.html", progress=progress)

    async def audit_page(request: Request, who: str, form: dict[str, str]) -> Response:
        return page(request, "audit.html", entries=audit_log(engine))

    return [
        Route("/admin/signin", signin, methods=["GET", "POST"]),
        Route("/admin/signout", guard(signout), methods=["POST"]),
        Route("/admin", guard(dashboard)),
        Route("/admin/items", guard(items_page)),
        Route("/admin/digest", guard(digest_page)),
        Route("/admin/digest/preview", guard(digest_preview)),
        Route("/admin/breaking", guard(breaking_page)),
        Route("/admin/breaking/preview", guard(breaking_preview)),
        Route("/admin/breaking/test", guard(breaking_test), methods=["POST"]),
        Route("/admin/breaking/send", guard(breaking_send), methods=["POST"]),
        Route("/admin/mailings/{id:int}", guard(mailing_page)),
        Route("/admin/audit", guard(audit_page)),
    ]
