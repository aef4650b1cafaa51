"""Items: the latest items as the store holds them, an item's embargo (set or lift), its
correction notes and the correction sent to the alert's recipients."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from digest import actions
from digest.errors import DigestError
from digest.model import Item
from digest.staff import StaffMember
from digest.store import latest_items
from digest.web.console.common import Console, Form, actor, human_time
from digest.web.console.mailings import breaking_view, chosen_item, to_mailing


def back_to(item: Item) -> Response:
    """A redirect to the breaking-news page of this item."""
    return RedirectResponse(f"/admin/breaking?item={quote(item.key, safe='')}", 303)


async def items_page(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """The latest 200 items, embargoed and removed ones included."""
    items = latest_items(console.engine, None, 200, public=False)
    return console.page(request, "items.html", member, items=items, now=console.now())


async def item_embargo(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """Hold an item back until a time (newsroom's zone), or lift its embargo; the public
    pages and feeds are written again at once, and the page says what happened and when."""
    item = chosen_item(console, request, form)
    if item is None:
        return console.refuse(request, 404, "No such item.")
    lifting = form.get("action") == "lift"
    held = item.embargo_until is not None and item.embargo_until > console.now()
    if lifting and held and form.get("confirm") != "yes":
        return breaking_view(request, console, member, item, confirm_lift=True)
    try:
        until = None
        if not lifting:
            until = actions.local_time(console.settings, form.get("until", "")[:40])
        await run_in_threadpool(
            actions.embargo_item,
            console.engine,
            item.key,
            until,
            actor(member),
            settings=console.settings,
        )
    except DigestError as exc:
        return breaking_view(request, console, member, item, str(exc), 400)
    console.published()
    item = replace(item, embargo_until=until)
    told = held and bool(actions.embargo_choice(console.engine, item.key).sent)
    return breaking_view(
        request, console, member, item, embargo_notice(console, item, until, held, told)
    )


def embargo_notice(
    console: Console, item: Item, until: datetime | None, moved: bool = False, told: bool = False
) -> str:
    """What an embargo change did, in words: where the item is now, until when (`moved`:
    it had one already), and whether the recipients of its send under embargo were told."""
    recipients = " Its recipients under embargo are told at once." if told else ""
    if until is None:
        return (
            f"Embargo lifted: “{item.title}” is back on the home page, the archive, its feeds "
            f"and its own page now, and the next emails may carry it.{recipients}"
        )
    verb = "moved" if moved else "set"
    return (
        f"Embargo {verb}: “{item.title}” is off the home page, the archive, its feeds and its "
        f"own page now. It comes back at {human_time(until, console.zone)}; before then no "
        f"alert or digest carries it, only a send under embargo to trusted contacts.{recipients}"
    )


async def item_correction(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """Correct an item: a note, and the corrected title and summary when they were changed
    (pages and feeds written again at once)."""
    item = chosen_item(console, request, form)
    if item is None:
        return console.refuse(request, 404, "No such item.")
    note = form.get("note", "")[:2000]
    title = form.get("title", item.title)[:1000]
    summary = form.get("summary", item.summary or "")[:20000]
    title_changed = title.strip() != item.title.strip()
    summary_changed = summary.strip() != (item.summary or "").strip()
    try:
        if title_changed or summary_changed:
            await run_in_threadpool(
                actions.amend_item,
                console.engine,
                item.key,
                title if title_changed else None,
                summary if summary_changed else None,
                note,
                actor(member),
                settings=console.settings,
            )
            console.published()
            done = "Correction saved: the item now reads as corrected on its page and feeds."
        else:
            actions.add_correction(console.engine, item.key, note, actor(member))
            done = "Correction note added."
    except DigestError as exc:
        return breaking_view(request, console, member, item, str(exc), 400)
    return breaking_view(request, console, member, chosen_item(console, request, form), done)


async def correction_send(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """Send an item's correction to everyone its alert reached."""
    item = chosen_item(console, request, form)
    if item is None:
        return console.refuse(request, 404, "No such item.")
    try:
        mailing = actions.send_correction(console.settings, console.engine, item.key, actor(member))
    except DigestError as exc:
        return breaking_view(request, console, member, item, str(exc), 400)
    return to_mailing(console, mailing)
