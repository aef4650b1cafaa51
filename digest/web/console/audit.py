"""The audit log: who did what from the console and the command line, filtered by who,
what and how recently."""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response

from digest.actions.overview import audit_entries as audit_log
from digest.staff import StaffMember
from digest.web.console.common import Console, Form

SHOWN = 500
SEARCHED = 2000


async def audit_page(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """The newest entries (of the last SEARCHED) that match the filters in the address."""
    who = request.query_params.get("who", "")[:200]
    what = request.query_params.get("what", "")[:100]
    days = request.query_params.get("days", "")
    since = console.now() - timedelta(days=int(days)) if days in {"1", "7", "30"} else None
    entries = [
        entry
        for entry in audit_log(console.engine, SEARCHED)
        if (not who or who.casefold() in entry.actor.casefold())
        and (not what or what.casefold() in entry.action.casefold())
        and (since is None or entry.at >= since)
    ][:SHOWN]
    return console.page(
        request, "audit.html", member, entries=entries, who=who, what=what, days=days
    )
