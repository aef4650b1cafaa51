"""Returned mail for staff: recent bounces and complaints, mailings' hard-bounce rates with
the warning, what needs a look (each dismissable once dealt with), and one contact's
history (?email=)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from digest import actions
from digest.errors import DigestError
from digest.staff import StaffMember
from digest.web.console.common import Console, Form, actor, notice_parts


async def bounces_page(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """The bounces page; with ?email= also that contact's bounce and complaint history."""
    return bounces_view(request, console, member)


def bounces_view(
    request: Request, console: Console, member: StaffMember, notice: str | None = None
) -> Response:
    """The bounces page with an optional notice (one starting with '!' is an error)."""
    who = actor(member)
    overview = actions.bounce_overview(console.engine, console.settings, who)
    email = request.query_params.get("email", "").strip()[:320]
    history = actions.bounce_history(console.engine, who, email) if email else []
    status, text = notice_parts(notice)
    context = {"email": email, "history": history, "notice": text, **overview}
    return console.page(request, "bounces.html", member, status, **context)


async def bounces_dismiss(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """Take one message off the needs-a-look list."""
    try:
        unread_id = int(form.get("id", "")[:12])
        notice = actions.dismiss_returned_mail(console.engine, actor(member), unread_id)
    except (ValueError, DigestError) as exc:
        notice = f"!{exc}" if isinstance(exc, DigestError) else "!No such returned mail."
    return bounces_view(request, console, member, notice)
