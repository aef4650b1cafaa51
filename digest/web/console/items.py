"""Items: the latest items as the store holds them, an item's embargo (set or lift), its
correction notes and the correction sent to the alert's recipients."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from digest import actions
from digest.errors import DigestError
from digest.model import Item
from digest.staff import StaffMember
from digest.store import latest_items
from digest.web.console.common import Console, Form, actor
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
    """Hold an item back until a time (newsroom's zone), or lift its embargo."""
    item = chosen_item(console, request, form)
    if item is None:
        return console.refuse(request, 404, "No such item.")
    try:
        until = None
        if form.get("action") != "lift":
            until = actions.local_time(console.settings, form.get("until", "")[:40])
        actions.embargo_item(console.engine, item.key, until, actor(member))
    except DigestError as exc:
        return breaking_view(request, console, member, item, str(exc), 400)
    return back_to(item)


async def item_correction(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """Add a correction note to an item (shown on its page and in its feeds)."""
    item = chosen_item(console, request, form)
    if item is None:
        return console.refuse(request, 404, "No such item.")
    try:
        note = form.get("note", "")[:2000]
        actions.add_correction(console.engine, item.key, note, actor(member))
    except DigestError as exc:
        return breaking_view(request, console, member, item, str(exc), 400)
    return back_to(item)


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
