"""Sending under embargo from the console: the button beside an item's embargo (to every
trusted contact or one named group, with a test send), the list of sends under embargo,
and each send accounted for (who received it, which private links were opened and when),
with a private link revoked from its row."""

from __future__ import annotations

from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from digest import actions
from digest.errors import DigestError
from digest.staff import StaffMember
from digest.web.console.common import Console, Form, actor
from digest.web.console.mailings import breaking_view, chosen_item, to_mailing


async def embargo_send(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """Send the item under embargo to the trusted contacts (or one group), with the undo
    window and approval of any alert; refused when the count changed since the page."""
    item = chosen_item(console, request, form)
    if item is None:
        return console.refuse(request, 404, "No such item.")
    group = form.get("group", "").strip()[:60] or None
    try:
        outline = actions.embargo_outline(console.settings, console.engine, item.key, group)
        expected = form.get("confirm_count")
        if expected is not None and not group and expected != str(outline.recipients):
            return console.refuse(request, 409, "The recipient count changed. Check it again.")
        mailing = actions.send_under_embargo(
            console.settings, console.engine, item.key, actor(member), group
        )
    except DigestError as exc:
        return breaking_view(request, console, member, item, str(exc), 400)
    return to_mailing(console, mailing)


async def embargo_test(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """Send oneself the embargoed mail of an item, as for any alert test."""
    item = chosen_item(console, request, form)
    if item is None:
        return console.refuse(request, 404, "No such item.")
    address = form.get("address", "").strip()[:320] or member.email
    try:
        await run_in_threadpool(
            actions.test_embargo_send,
            console.settings,
            console.engine,
            item,
            address,
            actor(member),
        )
    except DigestError as exc:
        notice = f"The test could not be sent: {exc}"
        return breaking_view(request, console, member, item, notice, 400)
    return breaking_view(request, console, member, item, f"Embargoed test sent to {address}.")


async def embargo_list(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """The sends under embargo, newest first."""
    found = actions.embargo_sends(console.engine)
    return console.page(request, "embargo.html", member, sends=found, account=None, notice="")


def account_view(
    request: Request, console: Console, member: StaffMember, notice: str = "", code: int = 200
) -> Response:
    """One send under embargo: who received it, which private links were opened, when."""
    try:
        account = actions.embargo_account(console.engine, request.path_params["id"])
    except DigestError as exc:
        return console.refuse(request, 404, str(exc))
    revoking = request.query_params.get("revoke", "")[:320]
    return console.page(
        request, "embargo.html", member, code,
        sends=[], account=account, notice=notice, revoking=revoking,
    )  # fmt: skip


async def embargo_account(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """The accountability view of one send under embargo (no IP addresses are kept)."""
    return account_view(request, console, member)


async def embargo_revoke(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """Revoke one recipient's private link once confirmed: it shows nothing from now on."""
    mailing_id, email = request.path_params["id"], form.get("email", "")[:320]
    if form.get("confirm") != "yes":
        where = f"/admin/embargo/{mailing_id}?revoke={quote(email)}#recipients"
        return RedirectResponse(where, status_code=303)
    try:
        actions.revoke_private_link(console.engine, mailing_id, email, actor(member))
    except DigestError as exc:
        return account_view(request, console, member, str(exc), 400)
    return RedirectResponse(f"/admin/embargo/{mailing_id}", status_code=303)
