"""Every operation a person or the clock can do, one function each, grouped by subject:
ingest, publish, mailings (digests, alerts, corrections and the decisions on them),
delivery (sending what is due), items (embargo, correction notes), people (the press list
and the readers' own pages), staff (accounts and sign-in), overview (what the console's
dashboard shows). Each checks the actor's role, writes its own audit entry and returns
plain data; the CLI, the web app and the clock call only these."""

from __future__ import annotations

import importlib
from typing import Any

# Where each action lives. Submodules are imported on first use, so that `digest publish` does
# not load the press list's address checks or the sender (tests/test_install.py checks this).
_HOMES: dict[str, tuple[str, str]] = {
    "BounceOutcome": ("bounces", "BounceOutcome"),
    "BounceRun": ("bounces", "BounceRun"),
    "bounce_history": ("bounces", "bounce_history"),
    "bounce_overview": ("bounces", "bounce_overview"),
    "dismiss_returned_mail": ("bounces", "dismiss_returned_mail"),
    "read_bounce_mailbox": ("bounces", "read_bounce_mailbox"),
    "read_bounces": ("bounces", "read_bounces"),
    "Actor": ("common", "Actor"),
    "Forbidden": ("common", "Forbidden"),
    "StoreTrouble": ("common", "StoreTrouble"),
    "StoreUnwritable": ("common", "StoreUnwritable"),
    "Who": ("common", "Who"),
    "as_actor": ("common", "as_actor"),
    "audit": ("common", "audit"),
    "local_time": ("common", "local_time"),
    "open_store": ("common", "open_store"),
    "redacted": ("common", "redacted"),
    "require": ("common", "require"),
    "utc_now": ("common", "utc_now"),
    "writing": ("common", "writing"),
    "held_by_others": ("delivery", "held_by_others"),
    "EmbargoAccount": ("embargo", "EmbargoAccount"),
    "EmbargoChoice": ("embargo", "EmbargoChoice"),
    "embargo_choice": ("embargo", "embargo_choice"),
    "EmbargoOutline": ("embargo", "EmbargoOutline"),
    "PrivatePage": ("embargo", "PrivatePage"),
    "embargo_account": ("embargo", "embargo_account"),
    "embargo_outline": ("embargo", "embargo_outline"),
    "embargo_sends": ("embargo", "embargo_sends"),
    "open_private_page": ("embargo", "open_private_page"),
    "private_feed": ("embargo", "private_feed"),
    "revoke_private_link": ("embargo", "revoke_private_link"),
    "send_under_embargo": ("embargo", "send_under_embargo"),
    "test_embargo_send": ("embargo", "test_embargo_send"),
    "trust_contact": ("embargo", "trust_contact"),
    "trusted_groups": ("embargo", "trusted_groups"),
    "queue_counts": ("delivery", "queue_counts"),
    "requeue": ("delivery", "requeue"),
    "send": ("delivery", "send"),
    "transport_factory": ("delivery", "transport_factory"),
    "IngestReport": ("ingest", "IngestReport"),
    "ingest_paths": ("ingest", "ingest_paths"),
    "ingest_sources": ("ingest", "ingest_sources"),
    "add_correction": ("items", "add_correction"),
    "already_sent": ("items", "already_sent"),
    "amend_item": ("items", "amend_item"),
    "embargo_item": ("items", "embargo_item"),
    "find_items": ("items", "find_items"),
    "item_for": ("items", "item_for"),
    "Outline": ("mailings", "Outline"),
    "SendProgress": ("mailings", "SendProgress"),
    "approve_mailing": ("mailings", "approve_mailing"),
    "breaking_alert": ("mailings", "breaking_alert"),
    "breaking_outline": ("mailings", "breaking_outline"),
    "cancel_mailing": ("mailings", "cancel_mailing"),
    "daily_digest": ("mailings", "daily_digest"),
    "mailing_or_error": ("mailings", "mailing_or_error"),
    "mailing_progress": ("mailings", "mailing_progress"),
    "pause_mailing": ("mailings", "pause_mailing"),
    "preview_weekly": ("mailings", "preview_weekly"),
    "release_held": ("mailings", "release_held"),
    "request_breaking": ("mailings", "request_breaking"),
    "resume_mailing": ("mailings", "resume_mailing"),
    "send_correction": ("mailings", "send_correction"),
    "send_test": ("mailings", "send_test"),
    "test_alert": ("mailings", "test_alert"),
    "weekly_digest": ("mailings", "weekly_digest"),
    "weekly_outline": ("mailings", "weekly_outline"),
    "CONFIRM_HOURS": ("people", "CONFIRM_HOURS"),
    "Confirmed": ("people", "Confirmed"),
    "choose_preferences": ("people", "choose"),
    "confirm": ("people", "confirm"),
    "confirmable": ("people", "confirmable"),
    "contact_counts": ("people", "contact_counts"),
    "contacts": ("people", "contacts"),
    "describe_import": ("people", "describe_import"),
    "digest_audience": ("people", "digest_audience"),
    "export_contacts": ("people", "export_contacts"),
    "find_contact": ("people", "find_contact"),
    "import_contacts": ("people", "import_contacts"),
    "import_pasted": ("people", "import_pasted"),
    "restore_contact": ("people", "restore_contact"),
    "save_contact": ("people", "save_contact"),
    "subscribe": ("people", "subscribe"),
    "subscribe_wait": ("people", "subscribe_wait"),
    "subscription_mail": ("people", "subscription_mail"),
    "token_holder": ("people", "token_holder"),
    "unsubscribe": ("people", "unsubscribe"),
    "unsubscribe_contact": ("people", "unsubscribe_contact"),
    "welcome": ("people", "welcome"),
    "PublishReport": ("publish", "PublishReport"),
    "publish": ("publish", "publish"),
    "publish_feeds": ("publish", "publish_feeds"),
    "published_from": ("publish", "published_from"),
    "tidy_search": ("publish", "tidy_search"),
    "written_for_another_site": ("publish", "written_for_another_site"),
    "actor_for": ("staff", "actor_for"),
    "add_member": ("staff", "add_member"),
    "change_password": ("staff", "change_password"),
    "change_role": ("staff", "change_role"),
    "console_open": ("staff", "console_open"),
    "create_first_admin": ("staff", "create_first_admin"),
    "first_admin_possible": ("staff", "first_admin_possible"),
    "list_members": ("staff", "list_members"),
    "remove_member": ("staff", "remove_member"),
    "require_second_factor": ("staff", "require_second_factor"),
    "reset_member": ("staff", "reset_member"),
    "second_factor_off": ("staff", "second_factor_off"),
    "second_factor_on": ("staff", "second_factor_on"),
    "session_member": ("staff", "session_member"),
    "set_password_from_link": ("staff", "set_password_from_link"),
    "setup_link": ("staff", "setup_link"),
    "sign_in": ("staff", "sign_in"),
    "sign_out": ("staff", "sign_out"),
}

__all__ = sorted(_HOMES)

# `publish` names both a submodule and an action: bound now, the action wins whichever of
# them is imported first.
from digest.actions.publish import publish as publish  # noqa: E402


def __getattr__(name: str) -> Any:
    """The action (or type) called `name`, from the submodule it lives in."""
    try:
        module, attribute = _HOMES[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
    globals()[name] = value
    return value
