"""Mailings: this week's digest as it will go out, the breaking-news send (pick, preview,
test, confirm), and each mailing's page (progress, approve, cancel, pause, resume)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from digest import actions
from digest.actions import Actor
from digest.errors import DigestError
from digest.mailings import (
    AWAITING,
    CANCELLED,
    DONE,
    EMPTY,
    PAUSED,
    RELAY_WAIT,
    SCHEDULED,
    SENDING,
    Mailing,
    breaking_recipient_count,
    plan_weekly,
    render_plan,
    sent_alert,
    weekly_recipient_count,
)
from digest.model import ALL_TYPES, Item
from digest.render import (
    breaking_subject,
    personalise,
    render_breaking,
    sample_copy,
    weekly_subject,
)
from digest.staff import StaffMember
from digest.store import amendment_history, correction_notes, find_item, with_articles
from digest.web.console.common import FRAMEABLE, Console, Form, actor, human_time

SAMPLE_READER = {
    "name": "Sample Reader",
    "email": "reader@example.org",
    "preferences": "(preferences link)",
    "unsubscribe": "(unsubscribe link)",
}


async def digest_page(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """This week's digest as it stands: its subject, items and recipient count."""
    today = console.today()
    plan = plan_weekly(console.engine, console.settings, today)
    return console.page(
        request,
        "digest.html",
        member,
        as_of=today,
        subject=weekly_subject(
            console.settings, plan.items, today, ALL_TYPES, alerted=plan.alerted
        ),
        plan=plan,
        recipients=weekly_recipient_count(console.engine),
    )


async def digest_preview(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """This week's digest as a sample reader would get it (framed by the digest page)."""
    today = console.today()
    plan = plan_weekly(console.engine, console.settings, today)
    body = render_plan(console.settings, plan, ALL_TYPES) if plan.items else None
    html = sample_copy(body.html) if body else "<p>Nothing was published in this period.</p>"
    return HTMLResponse(html, headers=FRAMEABLE)


def chosen_item(console: Console, request: Request, form: Form) -> Item | None:
    """The item named by the form's or the address's `item` field."""
    key = form.get("item") or request.query_params.get("item") or ""
    return find_item(console.engine, key) if key else None


def breaking_view(
    request: Request,
    console: Console,
    member: StaffMember,
    item: Item | None,
    notice: str | None = None,
    status_code: int = 200,
    confirm_lift: bool = False,
) -> Response:
    """The breaking-news page: the latest items, and the chosen one's alert as it would go
    (with `confirm_lift`, the question before an embargo is lifted early)."""
    settings, engine = console.settings, console.engine
    query = request.query_params.get("q", "")[:200]
    return console.page(
        request,
        "breaking.html",
        member,
        status_code,
        items=actions.find_items(engine, query),
        q=query,
        item=item,
        already=actions.already_sent(settings, engine, item.key) if item else None,
        history=amendment_history(engine, item.key) if item else [],
        subject=breaking_subject(settings, item) if item else None,
        count=breaking_recipient_count(engine, item) if item else 0,
        notice=notice,
        approval=settings.breaking.approval,
        undo_seconds=settings.breaking.undo_seconds,
        zone=console.zone.key,
        alert=sent_alert(engine, item.key) if item else None,
        notes=correction_notes(engine, item.key) if item else [],
        now=console.now(),
        trust=actions.embargo_choice(engine, item.key) if item else None,
        confirm_lift=confirm_lift,
    )


async def breaking_page(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """The breaking-news page for the item in the address, if any."""
    return breaking_view(request, console, member, chosen_item(console, request, form))


async def breaking_preview(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """The alert for an item as a sample reader would get it, as HTML or (as=text) text."""
    item = chosen_item(console, request, form)
    if item is None:
        return Response("No such item\n", status_code=404, media_type="text/plain")
    (item,) = with_articles(console.engine, [item])  # as the alert will carry it
    body = render_breaking(console.settings, item, ALL_TYPES)
    if request.query_params.get("as") == "text":
        text = personalise(body.text, **SAMPLE_READER, as_html=False)
        return Response(text, media_type="text/plain; charset=utf-8", headers=FRAMEABLE)
    return HTMLResponse(sample_copy(body.html), headers=FRAMEABLE)


async def breaking_test(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """Send the alert for an item to one address (one's own by default)."""
    item = chosen_item(console, request, form)
    if item is None:
        return console.refuse(request, 404, "No such item.")
    address = form.get("address", "").strip() or member.email
    try:
        await run_in_threadpool(
            actions.test_alert, console.settings, console.engine, item, address, actor(member)
        )
    except DigestError as exc:
        notice = f"The test could not be sent: {exc}"
        return breaking_view(request, console, member, item, notice, 400)
    return breaking_view(request, console, member, item, f"Test sent to {address}.")


def to_mailing(console: Console, mailing: Mailing) -> Response:
    """A redirect to a mailing's page, sending it once answered when it is due now."""
    response = RedirectResponse(f"/admin/mailings/{mailing.id}", status_code=303)
    if mailing.status == SENDING:
        response.background = BackgroundTask(
            actions.send, console.engine, console.settings, mailing.id
        )
    return response


async def breaking_send(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """Ask for the alert: sent now, at the time given, or once a second sender approves;
    refused when the recipient count changed since the page showed it."""
    item = chosen_item(console, request, form)
    if item is None:
        return console.refuse(request, 404, "No such item.")
    count = breaking_recipient_count(console.engine, item)
    if form.get("confirm_count") != str(count):
        return console.refuse(request, 409, "The recipient count changed. Check it again.")
    now, send_at = console.now(), None
    try:
        if form.get("send_at", "").strip():
            send_at = actions.local_time(console.settings, form["send_at"][:40], now)
            if send_at <= now:
                raise DigestError(f"{human_time(send_at, console.zone)} has passed.")
        mailing = actions.request_breaking(
            console.settings, console.engine, item.key, actor(member), send_at
        )
    except DigestError as exc:
        return breaking_view(request, console, member, item, str(exc), 400)
    return to_mailing(console, mailing)


def mailing_view(
    request: Request, console: Console, member: StaffMember, name: str, notice: str = ""
) -> Response:
    """A mailing's page (or its live part): state, progress and what this member may do;
    a scheduled mailing whose time has come starts sending once answered."""
    engine, now, wanted = console.engine, console.now(), mailing_id(request)
    try:
        due = actions.release_held(engine, now, wanted)
        progress = actions.mailing_progress(engine, wanted)
    except DigestError:
        return console.refuse(request, 404, "No such mailing.")
    status = progress.status
    left = None
    if progress.send_after and status == SCHEDULED:
        left = max(0, int((progress.send_after - now).total_seconds()))
    response = console.page(
        request,
        name,
        member,
        400 if notice else 200,
        progress=progress,
        heading=mailing_heading(progress.kind, progress.subject),
        undo=left is not None
        and progress.kind in ("breaking", "embargo")
        and left <= undo_seconds(console),
        seconds_left=left,
        final=status in (DONE, CANCELLED, EMPTY),
        awaiting=status == AWAITING,
        scheduled=status == SCHEDULED,
        sending=status in (SENDING, RELAY_WAIT),
        paused=status == PAUSED,
        own=progress.requested_by == member.label,
        asking_cancel=request.query_params.get("cancel") == "ask",
        notice=notice,
    )
    if due:
        response.background = BackgroundTask(actions.send, engine, console.settings, wanted)
    return response


def mailing_heading(kind: str, subject: str) -> str:
    """A mailing's heading: its subject, with its kind in front unless the subject already
    starts with it (an alert's subject carries the "Breaking:" prefix itself)."""
    label = {"breaking": "Breaking", "weekly": "Weekly digest", "daily": "Daily digest"}.get(
        kind, kind.capitalize()
    )
    if not subject or subject.casefold().startswith(label.casefold()):
        return subject or label
    return f"{label}: {subject}"


def undo_seconds(console: Console) -> int:
    """How long the undo window lasts after an alert is asked for (or approved)."""
    return int(console.settings.breaking.undo_seconds)


async def mailing_page(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """A mailing's page."""
    return mailing_view(request, console, member, "mailing.html")


async def mailing_live(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """The part of a mailing's page that htmx reloads while it sends."""
    return mailing_view(request, console, member, "_mailing_live.html")


def mailing_id(request: Request) -> int:
    """The id of the mailing in the path."""
    return int(request.path_params["id"])


def _approve(console: Console, mailing_id: int, who: Actor) -> Mailing:
    return actions.approve_mailing(console.settings, console.engine, mailing_id, who)


DECISIONS: dict[str, Callable[[Console, int, Actor], Mailing]] = {
    "approve": _approve,
    "cancel": lambda console, mailing_id, who: actions.cancel_mailing(
        console.engine, mailing_id, who, settings=console.settings
    ),
    "pause": lambda console, mailing_id, who: actions.pause_mailing(
        console.engine, mailing_id, who
    ),
    "resume": lambda console, mailing_id, who: actions.resume_mailing(
        console.engine, mailing_id, who
    ),
}


async def decide(
    decision: str, request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """A staff decision on the mailing in the path (approve, cancel, pause or resume), off
    the event loop since pause waits for the sender to let go; a state that does not
    allow it is said on the mailing's page."""
    try:
        mailing = await run_in_threadpool(
            DECISIONS[decision], console, mailing_id(request), actor(member)
        )
    except DigestError as exc:
        return mailing_view(request, console, member, "mailing.html", str(exc))
    return to_mailing(console, mailing)


mailing_approve = partial(decide, "approve")
mailing_cancel = partial(decide, "cancel")
mailing_pause = partial(decide, "pause")
mailing_resume = partial(decide, "resume")
