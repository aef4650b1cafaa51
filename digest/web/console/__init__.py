"""The staff console under /admin: sign-in with personal accounts, a dashboard, the items,
this week's digest as it will go out, the breaking-news send (pick, preview, test, confirm,
watch), the send under embargo to trusted contacts and its accounting, the staff list,
one's own account, the press list, settings, the audit log.

TABLE below is the one place that says, for every console route, what right it needs and
whether its forms are checked (same origin and a CSRF token); guard.guarded enforces it."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from starlette.routing import Route

from digest.config import Settings
from digest.web.console import account, embargo, items, mailings, press
from digest.web.console.audit import audit_page
from digest.web.console.bounces import bounces_dismiss, bounces_page
from digest.web.console.common import Console, install_filters
from digest.web.console.dashboard import dashboard, htmx_script
from digest.web.console.guard import ADMIN, OPEN, PREPARE, SELF, SEND, Rule, guarded
from digest.web.console.settings import settings_page
from digest.web.console.staff import staff_action, staff_page
from digest.web.forms import MAX_FORM_BYTES, Pages

if TYPE_CHECKING:
    from digest.store import Engine

FORM = ("GET", "POST")
POST = ("POST",)


def alert_right(settings: Settings) -> str:
    """Asking for a breaking alert needs the send right, unless a second sender approves
    every alert (then any member of staff may ask)."""
    return PREPARE if settings.breaking.approval else SEND


TABLE: tuple[Rule, ...] = (
    Rule("/admin/signin", account.SIGNIN, OPEN, FORM, csrf=True),
    Rule("/admin/first-admin", account.FIRST_ADMIN, OPEN, FORM, csrf=True),
    Rule("/admin/password/{token}", account.SET_PASSWORD, OPEN, FORM, csrf=True),
    Rule("/admin/signout", account.signout, SELF, POST, csrf=True),
    Rule("/admin/account", account.account_page, SELF),
    Rule("/admin/account/password", account.account_password, SELF, POST, csrf=True),
    Rule("/admin/account/totp", account.account_totp, SELF, POST, csrf=True),
    Rule("/admin/staff", staff_page, ADMIN),
    Rule("/admin/staff/{action}", staff_action, ADMIN, POST, csrf=True),
    Rule("/admin", dashboard, PREPARE),
    Rule("/admin/press", press.press_page, ADMIN),
    Rule("/admin/press/save", press.press_save, ADMIN, POST, csrf=True),
    Rule("/admin/press/unsubscribe", press.press_unsubscribe, ADMIN, POST, csrf=True),
    Rule("/admin/press/restore", press.press_restore, ADMIN, POST, csrf=True),
    Rule(
        "/admin/press/import",
        press.press_import,
        ADMIN,
        POST,
        csrf=True,
        body_limit=press.IMPORT_BYTES,
    ),
    Rule("/admin/press/export.csv", press.press_export, ADMIN),
    Rule("/admin/items", items.items_page, PREPARE),
    Rule("/admin/digest", mailings.digest_page, PREPARE),
    Rule("/admin/digest/preview", mailings.digest_preview, PREPARE),
    Rule("/admin/breaking", mailings.breaking_page, PREPARE),
    Rule("/admin/breaking/preview", mailings.breaking_preview, PREPARE),
    Rule("/admin/breaking/test", mailings.breaking_test, PREPARE, POST, csrf=True),
    Rule(
        "/admin/breaking/send",
        mailings.breaking_send,
        alert_right,
        POST,
        csrf=True,
        refusal="Your role ({role}) cannot send: ask a sender to send it.",
    ),
    Rule("/admin/items/embargo", items.item_embargo, PREPARE, POST, csrf=True),
    Rule(
        "/admin/embargo/send",
        embargo.embargo_send,
        alert_right,
        POST,
        csrf=True,
        refusal="Your role ({role}) cannot send: ask a sender to send it.",
    ),
    Rule("/admin/embargo/test", embargo.embargo_test, PREPARE, POST, csrf=True),
    Rule("/admin/embargo", embargo.embargo_list, PREPARE),
    Rule("/admin/embargo/{id:int}", embargo.embargo_account, PREPARE),
    Rule("/admin/embargo/{id:int}/revoke", embargo.embargo_revoke, PREPARE, POST, csrf=True),
    Rule("/admin/items/correction", items.item_correction, PREPARE, POST, csrf=True),
    Rule("/admin/items/correction/send", items.correction_send, SEND, POST, csrf=True),
    Rule("/admin/mailings/{id:int}", mailings.mailing_page, PREPARE),
    Rule("/admin/mailings/{id:int}/live", mailings.mailing_live, PREPARE),
    Rule("/admin/mailings/{id:int}/approve", mailings.mailing_approve, SEND, POST, csrf=True),
    Rule("/admin/mailings/{id:int}/cancel", mailings.mailing_cancel, PREPARE, POST, csrf=True),
    Rule("/admin/mailings/{id:int}/pause", mailings.mailing_pause, SEND, POST, csrf=True),
    Rule("/admin/mailings/{id:int}/resume", mailings.mailing_resume, SEND, POST, csrf=True),
    Rule("/admin/settings", settings_page, ADMIN, FORM, csrf=True),
    Rule("/admin/static/htmx.min.js", htmx_script, OPEN),
    Rule("/admin/audit", audit_page, PREPARE),
    Rule("/admin/bounces", bounces_page, ADMIN),
    Rule("/admin/bounces/dismiss", bounces_dismiss, ADMIN, POST, csrf=True),
)


def wider_bodies() -> dict[str, int]:
    """The console paths allowed a form larger than the usual limit, and their limits
    (for the body-size guard in front of every route)."""
    return {rule.path: rule.body_limit for rule in TABLE if rule.body_limit > MAX_FORM_BYTES}


def routes(
    settings: Settings, engine: Engine, pages: Pages, published: Callable[[], None] | None = None
) -> list[Route]:
    """The console's routes, each answered through the guard its TABLE row configures;
    `published` is called after a console action wrote the public files again (the web
    process drops its in-memory copies)."""
    unchecked = [rule.path for rule in TABLE if "POST" in rule.methods and not rule.csrf]
    if unchecked:
        raise RuntimeError(f"console forms without the CSRF check: {unchecked}")
    install_filters(pages, settings.timezone)
    console = Console(settings, engine, pages, published or (lambda: None))
    return [
        Route(rule.path, partial(guarded, rule, console), methods=list(rule.methods))
        for rule in TABLE
    ]
