"""The settings page (admins): the settings staff may want to check, and `digest check`
run on demand."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from digest.actions.overview import run_checks, settings_summary
from digest.staff import StaffMember
from digest.web.console.common import Console, Form, actor


async def settings_page(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """The settings; a POST also runs the checks and shows their results."""
    checks = None
    if request.method == "POST":
        checks = await run_in_threadpool(
            run_checks, console.settings, console.engine, actor(member)
        )
    rows = settings_summary(console.settings)
    return console.page(request, "settings.html", member, rows=rows, checks=checks)
