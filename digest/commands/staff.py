"""`digest staff`: staff accounts from the command line (admin)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import click

from digest.commands.common import AS_OPTION, acting, configured, run_action, store

if TYPE_CHECKING:
    from digest.actions import Actor
    from digest.config import Settings
    from digest.store import Engine

T = TypeVar("T")
STAFF_ROLES = ("editor", "sender", "admin")


@click.group(name="staff")
def staff_group() -> None:
    """Manage staff accounts (admin): add, list, role, totp, reset, remove.

    Example: digest staff add ana@example.org --role sender --name Ana"""


def _staff_command(name: str, *params: Callable[[T], T]) -> Callable[[Callable[..., str]], None]:
    """A staff subcommand: EMAIL, its own options and --as; `body(engine, settings, who,
    email, **options)` runs the action and returns what to print."""

    def register(body: Callable[..., str]) -> None:
        def command(email: str, actor: str | None, **options: object) -> None:
            settings = configured()
            engine = store(settings)
            who = acting(actor, engine, "admin")
            click.echo(run_action(lambda: body(engine, settings, who, email, **options)))

        command.__doc__ = body.__doc__
        for param in reversed((click.argument("email"), *params, AS_OPTION)):
            command = param(command)
        staff_group.command(name=name)(command)

    return register


@_staff_command(
    "add",
    click.option("--role", type=click.Choice(STAFF_ROLES), required=True),
    click.option("--name", default="", help="The person's name, as the audit log shows it."),
)
def _staff_add(
    engine: Engine, settings: Settings, who: Actor, email: str, role: str, name: str
) -> str:
    """Create an account and print its one-time set-password link.

    Example: digest staff add ana@example.org --role editor --name Ana"""
    from digest import actions
    from digest.staff import SETUP_HOURS

    member, token = actions.add_member(engine, who, email, name, role)
    return (
        f"{member.email}: {member.role}; set a password (once, within {SETUP_HOURS} hours) "
        f"at:\n{actions.setup_link(settings, token)}"
    )


@_staff_command("role", click.argument("role", type=click.Choice(STAFF_ROLES)))
def _staff_role(engine: Engine, settings: Settings, who: Actor, email: str, role: str) -> str:
    """Change an account's role.

    Example: digest staff role ana@example.org sender --as admin@example.org"""
    from digest import actions

    member = actions.change_role(engine, who, email, role)
    return f"{member.email}: {member.role}"


@_staff_command(
    "totp",
    click.option("--required/--optional", default=True, help="Require a second factor (default)."),
)
def _staff_totp(engine: Engine, settings: Settings, who: Actor, email: str, required: bool) -> str:
    """Require (or stop requiring) a TOTP second factor for an account.

    Example: digest staff totp ana@example.org --required"""
    from digest import actions

    member = actions.require_second_factor(engine, who, email, required)
    return f"{member.email}: second factor {'required' if required else 'optional'}"


@_staff_command("reset")
def _staff_reset(engine: Engine, settings: Settings, who: Actor, email: str) -> str:
    """Clear an account's password and second factor, end its sessions, print a new link.

    Example: digest staff reset ana@example.org"""
    from digest import actions

    token = actions.reset_member(engine, who, email)
    return (
        f"{email}: password cleared, sessions ended; set a new one at:\n"
        f"{actions.setup_link(settings, token)}"
    )


@_staff_command("remove")
def _staff_remove(engine: Engine, settings: Settings, who: Actor, email: str) -> str:
    """Remove an account: its sessions end at once (kept, disabled, for the audit log).

    Example: digest staff remove ana@example.org"""
    from digest import actions

    return f"{actions.remove_member(engine, who, email).email}: removed"


@staff_group.command(name="list")
def staff_list() -> None:
    """List accounts: email, role, second factor, state, name.

    Example: digest staff list"""
    from digest import actions

    settings = configured()
    members = actions.list_members(store(settings))
    if not members:
        click.echo("no staff accounts; add one with: digest staff add EMAIL --role admin", err=True)
        sys.exit(1)
    for m in members:
        totp = ("totp" if m.totp_enabled else "no-totp") + ("(required)" if m.totp_required else "")
        state = "removed" if m.disabled else "active" if m.has_password else "no-password-yet"
        click.echo(f"{m.email}\t{m.role}\t{totp}\t{state}\t{m.name}")
