"""Returned mail for staff (read-only): recent bounces and complaints, mailings' hard-bounce
rates with the warning, what needs a look, and one contact's history (?email=)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from digest import actions
from digest.staff import StaffMember
from digest.web.console.common import Console, Form, actor


async def bounces_page(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """The bounces page; with ?email= also that contact's bounce and complaint history."""
    who = actor(member)
    overview = actions.bounce_overview(console.engine, console.settings, who)
    email = request.query_params.get("email", "").strip()[:320]
    history = actions.bounce_history(console.engine, who, email) if email else []
    return console.page(request, "bounces.html", member, email=email, history=history, **overview)
