"""The press list (admins): search and edit contacts, unsubscribe one, import a pasted CSV,
export the list as CSV."""

from __future__ import annotations

import io

from starlette.requests import Request
from starlette.responses import Response

from digest import actions
from digest.errors import DigestError
from digest.model import STATUSES, Subscriber
from digest.staff import StaffMember
from digest.subscribers import normalise_email
from digest.web.console.common import Console, Form, actor

PRESS_PAGE = 200
CSV_HEADERS = {
    "Content-Disposition": 'attachment; filename="press-list.csv"',
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


def press_view(
    request: Request,
    console: Console,
    member: StaffMember,
    notice: str = "",
    errors: list[tuple[int, str]] | None = None,
    status_code: int = 200,
    editing: Subscriber | None = None,
) -> Response:
    """The press list page for the query in the address, with a notice and import errors."""
    query = request.query_params.get("q", "").strip()[:200]
    status = request.query_params.get("status", "")
    found = list(actions.contacts(console.engine, status, query))
    return console.page(
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
        types=console.settings.types,
        notice=notice,
        errors=errors or [],
        editing=editing,
    )


async def press_page(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """The press list, with one contact's edit form when the address names one."""
    email = request.query_params.get("edit")
    editing = actions.find_contact(console.engine, email) if email else None
    return press_view(request, console, member, editing=editing)


def subscriber_from_form(console: Console, form: Form) -> Subscriber:
    """The contact the edit form describes (every type ticked means all types)."""
    types = console.settings.types
    chosen = tuple(t.slug for t in types if form.get(f"type-{t.slug}") == "on")
    cadence = form.get("cadence", "weekly")
    return Subscriber(
        email=normalise_email(form.get("email", "")),
        name=form.get("name", "")[:200],
        outlet=form.get("outlet", "")[:200],
        types=() if len(chosen) == len(types) else chosen,
        weekly=form.get("weekly") == "on",
        breaking=form.get("breaking") == "on",
        cadence=cadence if cadence in ("weekly", "daily") else "weekly",
    )


async def press_save(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """Add a contact or save the edits to one."""
    try:
        subscriber = subscriber_from_form(console, form)
        outcome = actions.save_contact(console.engine, actor(member), subscriber)
    except DigestError as exc:
        return press_view(request, console, member, f"Not saved: {exc}", status_code=400)
    return press_view(request, console, member, f"{subscriber.email}: {outcome}.")


async def press_unsubscribe(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """Unsubscribe one contact."""
    email = form.get("email", "")
    try:
        removed = actions.unsubscribe_contact(console.engine, actor(member), email)
    except DigestError as exc:
        return press_view(request, console, member, f"Not changed: {exc}", status_code=400)
    if not removed:
        return press_view(request, console, member, f"{email} is not on the list.", status_code=404)
    return press_view(request, console, member, f"{email}: unsubscribed.")


async def press_import(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """Import a pasted CSV as `digest subscribers import` would read it from a file."""
    text = form.get("csv", "")
    if not text.strip():
        return press_view(request, console, member, "Paste the CSV first.", status_code=400)
    try:
        report = actions.import_pasted(console.engine, console.settings, actor(member), text)
    except DigestError as exc:
        return press_view(request, console, member, f"Nothing imported: {exc}", status_code=400)
    summary = actions.describe_import(report)
    status = 400 if report.errors else 200
    return press_view(request, console, member, f"Import: {summary}.", report.errors, status)


async def press_export(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """The whole press list as a CSV download."""
    out = io.StringIO()
    actions.export_contacts(console.engine, console.settings, actor(member), out)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=CSV_HEADERS)
