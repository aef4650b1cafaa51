"""The console's shared plumbing: the context object every handler gets, page rendering
with the session's CSRF token, the signed-in member as an actor, and how moments are written."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from digest import staff
from digest.actions import Actor
from digest.config import Settings
from digest.staff import StaffMember
from digest.web.auth import SESSION_COOKIE, set_session_cookie
from digest.web.forms import SECURITY_HEADERS, Pages

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from digest.store import Engine

CONSOLE_HEADERS = SECURITY_HEADERS | {"Referrer-Policy": "same-origin"}
FRAMEABLE = SECURITY_HEADERS | {
    "X-Frame-Options": "SAMEORIGIN",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src *; "
    "frame-ancestors 'self'",
}
ISO_MOMENT = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:[+-]\d\d:\d\d|Z)?")

Form = dict[str, str]


@dataclass(frozen=True)
class Console:
    """What every console handler needs: the settings, the store and the page renderer."""

    settings: Settings
    engine: Engine
    pages: Pages
    published: Callable[[], None] = lambda: None  # the web process drops its cached files

    @property
    def zone(self) -> ZoneInfo:
        """The newsroom's time zone."""
        return self.settings.timezone

    def now(self) -> datetime:
        """This moment, in UTC."""
        return datetime.now(UTC)

    def today(self) -> date:
        """Today in the newsroom's zone."""
        return datetime.now(self.zone).date()

    def page(
        self,
        request: Request,
        name: str,
        member: StaffMember | None,
        status_code: int = 200,
        **context: object,
    ) -> Response:
        """A console page (templates/web/admin/NAME); with a session, its forms carry the
        CSRF token bound to that session."""
        token = request.cookies.get(SESSION_COOKIE)
        if member is None or not token:
            return self.pages.render(request, f"admin/{name}", status_code, staff=None, **context)
        html = self.pages.environment.get_template(f"admin/{name}").render(
            settings=self.settings,
            csrf=staff.csrf_for_session(self.settings.secret_key, token),
            staff=member,
            **context,
        )
        return HTMLResponse(html, status_code=status_code, headers=CONSOLE_HEADERS)

    def refuse(self, request: Request, status_code: int, message: str) -> Response:
        """The plain refusal page."""
        return self.pages.refuse(request, status_code, message)


Handler = Callable[[Request, Console, StaffMember, Form], Awaitable[Response]]


def actor(member: StaffMember) -> Actor:
    """The signed-in member as the actions see them: their name and their role's rights."""
    return Actor.of(member)


def signed_in_response(console: Console, request: Request, session: str, to: str) -> Response:
    """A redirect to `to` carrying the cookie of a session an action just started."""
    response = RedirectResponse(to, status_code=303)
    set_session_cookie(response, request, console.settings, session)
    return response


def notice_parts(notice: str | None) -> tuple[int, str | None]:
    """The status and text of a page notice: one that starts with '!' is an error (400)."""
    if not notice:
        return 200, None
    return (400 if notice.startswith("!") else 200), notice.removeprefix("!")


def human_time(moment: datetime | None, zone: Any) -> str:
    """A moment in the newsroom's zone, as people read it: 'Mon 23 Nov, 14:05 CET' (with
    the year when it is not this year)."""
    if moment is None:
        return "never"
    local = moment.astimezone(zone)
    this_year = datetime.now(zone).year
    year = "" if local.year == this_year else f" {local.year}"
    return f"{local:%a} {local.day} {local:%b}{year}, {local:%H:%M} {local:%Z}"


def human_date(day: date | datetime | None, zone: Any) -> str:
    """A day as people read it: 'Mon 23 Nov 2026'."""
    if day is None:
        return ""
    if isinstance(day, datetime):
        day = day.astimezone(zone).date()
    return f"{day:%a} {day.day} {day:%b %Y}"


def humane_text(text: str, zone: Any) -> str:
    """Text (an audit entry's detail) with every ISO 8601 moment in it written as people
    read it, in the newsroom's zone; a moment without an offset is taken as UTC."""

    def human(match: re.Match[str]) -> str:
        try:
            moment = datetime.fromisoformat(match.group(0).replace("Z", "+00:00"))
        except ValueError:
            return match.group(0)
        return human_time(moment if moment.tzinfo else moment.replace(tzinfo=UTC), zone)

    return ISO_MOMENT.sub(human, text)


def install_filters(pages: Pages, zone: Any) -> None:
    """The console templates' filters: `when`, `day`, `humane` and `field` (a time as a
    datetime-local input's value) in the newsroom's zone."""
    pages.environment.filters["when"] = lambda moment: human_time(moment, zone)
    pages.environment.filters["day"] = lambda day: human_date(day, zone)
    pages.environment.filters["humane"] = lambda text: humane_text(text, zone)
    pages.environment.filters["field"] = lambda moment: (
        moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if moment else ""
    )
