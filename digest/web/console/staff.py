"""Staff management (admins): the list of accounts and the five things done to one — add
(with a one-time set-password link), reset, remove, change role, require a second factor."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from digest import actions, staff
from digest.errors import DigestError
from digest.staff import StaffMember
from digest.web.console.common import Console, Form, actor, notice_parts

Outcome = tuple[str, str]


def staff_view(
    request: Request,
    console: Console,
    member: StaffMember,
    notice: str | None = None,
    link: str = "",
) -> Response:
    """The staff page, with a notice ('!' first for an error) and a one-time link to show."""
    status_code, shown = notice_parts(notice)
    return console.page(
        request,
        "staff.html",
        member,
        status_code=status_code,
        members=actions.list_members(console.engine),
        roles=staff.ROLES,
        role_help=staff.ROLE_HELP,
        notice=shown,
        link=link,
    )


async def staff_page(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """The list of staff accounts."""
    return staff_view(request, console, member)


def add(console: Console, member: StaffMember, form: Form) -> Outcome:
    """Add an account; its owner sets a password through the link shown."""
    added, token = actions.add_member(
        console.engine,
        actor(member),
        form.get("email", ""),
        form.get("name", ""),
        form.get("role", ""),
    )
    return (
        f"{added.email} can now set a password with this one-time link "
        f"(valid {staff.SETUP_HOURS} hours):",
        actions.setup_link(console.settings, token),
    )


def reset(console: Console, member: StaffMember, form: Form) -> Outcome:
    """Clear an account's password and sessions and make a new set-password link."""
    email = form.get("email", "")
    token = actions.reset_member(console.engine, actor(member), email)
    return (
        f"{email}'s password and sessions are cleared; new one-time link:",
        actions.setup_link(console.settings, token),
    )


def remove(console: Console, member: StaffMember, form: Form) -> Outcome:
    """Remove an account."""
    removed = actions.remove_member(console.engine, actor(member), form.get("email", ""))
    return f"{removed.email} was removed.", ""


def role(console: Console, member: StaffMember, form: Form) -> Outcome:
    """Give an account another role."""
    changed = actions.change_role(
        console.engine, actor(member), form.get("email", ""), form.get("role", "")
    )
    return f"{changed.email}: {changed.role}.", ""


def totp(console: Console, member: StaffMember, form: Form) -> Outcome:
    """Require a second factor of an account, or make it optional again."""
    required = form.get("required") == "yes"
    changed = actions.require_second_factor(
        console.engine, actor(member), form.get("email", ""), required
    )
    return f"{changed.email}: second factor {'required' if required else 'optional'}.", ""


ACTIONS: dict[str, Callable[[Console, StaffMember, Form], Outcome]] = {
    "add": add,
    "reset": reset,
    "remove": remove,
    "role": role,
    "totp": totp,
}


async def staff_action(
    request: Request, console: Console, member: StaffMember, form: Form
) -> Response:
    """Do one of ACTIONS (named in the path) to the account named in the form."""
    action = ACTIONS.get(request.path_params["action"])
    if action is None:
        return console.refuse(request, 404, "No such action.")
    try:
        notice, link = action(console, member, form)
    except DigestError as exc:
        return staff_view(request, console, member, f"!{exc}")
    return staff_view(request, console, member, notice, link)
