"""The press list (admins): search and edit contacts, unsubscribe one, import a pasted CSV,
export the list as CSV."""

from __future__ import annotations

import io
from dataclasses import replace
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from digest import actions
from digest.errors import DigestError
from digest.model import STATUSES, TRUSTED, Subscriber
from digest.staff import StaffMember
from digest.subscribers import normalise_email, split_groups
from digest.web.console.common import Console, Form, actor

PRESS_PAGE = 200
# A pasted press list of some ten thousand contacts (URL-encoded) fits.
IMPORT_BYTES = 2 * 1024 * 1024
OUTCOMES = ("added", "updated", "unchanged")
CSV_HEADERS = {
    "Content-Disposition": 'attachment; filename="press-list.csv"',
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


def listing(request: Request, form: Form) -> tuple[str, str]:
    """The list's search words and status, from the form (a post keeps them) or the
    address."""
    query = form.get("q", request.query_params.get("q", "")).strip()[:200]
    status = form.get("status", request.query_params.get("status", ""))[:20]
    return query, status


def list_address(query: str, status: str, **more: str) -> str:
    """The press list's address for this search (and whatever else is given)."""
    wanted = {"q": query, "status": status, **more}
    return "/admin/press?" + urlencode({k: v for k, v in wanted.items() if v})


def press_view(
    request: Request,
    console: Console,
    member: StaffMember,
    notice: str = "",
    status_code: int = 200,
    form: Form | None = None,
    **extra: object,
) -> Response:
    """The press list page for the search (kept across every post), with a notice; `extra`
    carries the edit form's contact, the contact to confirm or undo, the import box."""
    query, status = listing(request, form or {})
    found = list(actions.contacts(console.engine, status, query))
    shown = found[:PRESS_PAGE]
    kept = extra.get("undo")
    if extra.get("saved"):
        kept = actions.find_contact(console.engine, str(extra["saved"]))
    if isinstance(kept, Subscriber) and all(s.email != kept.email for s in shown):
        shown.append(kept)  # the contact just changed stays in view, even if now unmatched
    context = {"editing": None, "confirm": "", "undo": None, "saved": "", "pasted": "", "was": ""}
    context["errors"] = []
    return console.page(
        request,
        "press.html",
        member,
        status_code,
        **(context | extra),
        subscribers=shown,
        total=len(found),
        shown=min(len(found), PRESS_PAGE),
        q=query,
        status=status,
        here=list_address(query, status),
        statuses=(*STATUSES, TRUSTED),
        types=console.settings.types,
        labels={t.slug: t.label for t in console.settings.types},
        notice=notice,
    )


async def press_page(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """The press list, with one contact's edit form (or unsubscribe question) in its row
    when the address names one."""
    params = request.query_params
    email = params.get("edit")
    editing = actions.find_contact(console.engine, email) if email else None
    saved = params.get("saved", "")[:320]
    done = params.get("done", "")
    notice = f"{saved}: {done if done in OUTCOMES else 'saved'}." if saved else ""
    return press_view(
        request,
        console,
        member,
        notice,
        editing=editing,
        confirm=params.get("confirm", "")[:320],
        saved=saved,
    )


def subscriber_from_form(console: Console, form: Form) -> Subscriber:
    """The contact the edit form describes (every type ticked means all types)."""
    types = console.settings.types
    chosen = tuple(t.slug for t in types if form.get(f"type-{t.slug}") == "on")
    cadence = form.get("cadence", "weekly")
    shown = form.get("embargo-shown") == "1"  # a form without the box leaves trust alone
    return Subscriber(
        email=normalise_email(form.get("email", "")),
        name=form.get("name", "")[:200],
        outlet=form.get("outlet", "")[:200],
        types=() if len(chosen) == len(types) else chosen,
        weekly=form.get("weekly") == "on",
        breaking=form.get("breaking") == "on",
        cadence=cadence if cadence in ("weekly", "daily") else "weekly",
        embargo=form.get("embargo") == "on" if shown else None,
        groups=split_groups(form.get("groups", "")[:1000]) if shown else None,
    )


async def press_save(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """Add a contact or save the edits to one, then show the list as it was searched,
    at that contact's row."""
    query, status = listing(request, form)
    try:
        subscriber = subscriber_from_form(console, form)
        outcome = actions.save_contact(console.engine, actor(member), subscriber)
    except DigestError as exc:
        editing = actions.find_contact(console.engine, form.get("email", "")[:320])
        notice = f"Not saved: {exc}"
        return press_view(request, console, member, notice, 400, form, editing=editing)
    saved = actions.find_contact(console.engine, subscriber.email)
    anchor = f"#contact-{saved.id}" if saved else ""
    address = list_address(query, status, saved=subscriber.email, done=outcome) + anchor
    return RedirectResponse(address, status_code=303)


async def press_unsubscribe(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """Unsubscribe one contact once asked to confirm (else ask); the answer offers the
    undo."""
    email = form.get("email", "")[:320]
    before = actions.find_contact(console.engine, email)
    if before is None:
        return press_view(request, console, member, f"{email} is not on the list.", 404, form)
    if form.get("confirm") != "yes":
        return press_view(request, console, member, "", 200, form, confirm=before.email)
    try:
        actions.unsubscribe_contact(console.engine, actor(member), before.email)
    except DigestError as exc:
        return press_view(request, console, member, f"Not changed: {exc}", 400, form)
    after = actions.find_contact(console.engine, before.email) or before
    notice = f"{before.email}: unsubscribed. Undo it from its row if that was a mistake."
    undo = replace(after, status="unsubscribed")
    return press_view(request, console, member, notice, 200, form, undo=undo, was=before.status)


async def press_restore(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """Undo one's own unsubscribe of a contact (it gets back its earlier status)."""
    email, status = form.get("email", "")[:320], form.get("was", "")[:20]
    try:
        contact = actions.restore_contact(console.engine, actor(member), email, status)
    except DigestError as exc:
        return press_view(request, console, member, f"Not changed: {exc}", 400, form)
    notice = f"{contact.email}: back on the list ({contact.status})."
    return press_view(request, console, member, notice, 200, form, saved=contact.email)


async def press_import(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """Import a pasted CSV as `digest subscribers import` would read it from a file."""
    text = form.get("csv", "")
    if not text.strip():
        return press_view(request, console, member, "Paste the list first.", 400, form)
    try:
        report = await run_in_threadpool(
            actions.import_pasted, console.engine, console.settings, actor(member), text
        )
    except DigestError as exc:
        notice = f"Nothing imported: {exc}"
        return press_view(request, console, member, notice, 400, form, pasted=text)
    summary = actions.describe_import(report)
    status = 400 if report.errors else 200
    left = rejected_rows(text, report.errors)
    return press_view(
        request, console, member, f"Import: {summary}.", status, form,
        errors=report.errors, pasted=left,
    )  # fmt: skip


def rejected_rows(text: str, errors: list[tuple[int, str]]) -> str:
    """The pasted rows that were not imported (with the header row, when there was one),
    left in the box to fix and import again."""
    lines = text.splitlines()
    if not errors or not lines:
        return ""
    wanted = sorted({line for line, _ in errors if 1 < line <= len(lines)})
    header = [] if "@" in lines[0] else [lines[0]]
    if "@" in lines[0]:
        wanted = sorted({line for line, _ in errors if 0 < line <= len(lines)})
    return "\n".join(header + [lines[line - 1] for line in wanted]) + "\n"


async def press_export(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """The whole press list as a CSV download."""
    out = io.StringIO()
    actions.export_contacts(console.engine, console.settings, actor(member), out)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=CSV_HEADERS)
