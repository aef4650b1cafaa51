"""The pages a press contact sees: subscribe (double opt-in), confirm, preferences and
unsubscribe, all reached through signed links; one-click unsubscribe per RFC 8058.

The subscribe form cannot be turned into a mail cannon: each address gets at most one
confirmation an hour, and an address already on the list (or unsubscribed) at most one
notice a day; each client has a sliding-window limit (429 with Retry-After); a honeypot
field and a signed start time turn away the simplest bots. The limits live in the store
(digest.limits), so they hold across web processes."""

from __future__ import annotations

import logging
import math
import re
import time
from datetime import UTC, datetime

from sqlalchemy import Engine, select
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from digest import actions
from digest.config import Settings
from digest.limits import (
    CONFIRM_PER_ADDRESS,
    LINK_USED,
    NOTICE_PER_ADDRESS,
    SUBSCRIBE_PER_CLIENT,
    Limit,
    client_key,
    hit,
)
from digest.links import signed_link, token_subscriber, verify
from digest.mailings import Mailing, create_confirmation
from digest.model import Subscriber
from digest.render import render_already
from digest.store import subscribers
from digest.subscribers import (
    SubscriberError,
    check_sendable,
    get_subscriber,
    normalise_email,
    parse_types,
    request_subscription,
    set_preferences,
    set_status,
)
from digest.web.forms import Pages, form_age, read_form

INVALID_LINK = "This link is not valid, or it has expired. Use the link in your latest email."
USED_LINK = (
    "This confirmation link has already been used. To subscribe again, use the form on the "
    "press list page."
)
EXPIRED_FORM = "The form had expired. Please try again."
ONE_CLICK = "One-Click"
TOKEN_SHAPE = re.compile(r"[0-9]{1,9}\.[0-9]{1,12}\.[A-Za-z0-9_-]{20,64}")
FIELD_LIMITS = {"email": 320, "name": 200, "outlet": 200, "types": 2000}
HONEYPOT = "website"
log = logging.getLogger(__name__)
MIN_FILL_SECONDS = 2.0
FORM_MAX_AGE = 86400.0


def too_many(pages: Pages, request: Request, wait: float) -> Response:
    """The 429 page, with Retry-After in whole seconds."""
    seconds = max(1, math.ceil(wait))
    response = pages.refuse(
        request, 429, f"Too many requests from your address. Try again in {seconds} seconds."
    )
    response.headers["Retry-After"] = str(seconds)
    return response


def limited(engine: Engine, rule: Limit, key: str) -> float:
    """Seconds to wait under a store-kept limit, or 0.0 when this event is allowed."""
    return hit(engine, rule, key, time.time())


def subscription_mail(
    engine: Engine, settings: Settings, subscriber: Subscriber, now: datetime
) -> Mailing | None:
    """What a subscribe request sends, within the per-address limits: a confirmation for a
    new or pending address (once an hour), a "you are already subscribed, here is your
    preferences link" notice for an active one, a fresh confirmation for an unsubscribed
    one (either at most once a day), nothing for a bounced one."""
    stored = request_subscription(engine, subscriber, now)
    if stored.id is None or stored.status == "bounced":
        return None
    address = stored.email.casefold()
    if stored.status == "pending":
        if limited(engine, CONFIRM_PER_ADDRESS, address):
            return None
        return actions.subscribe(engine, settings, subscriber, now)
    if limited(engine, NOTICE_PER_ADDRESS, address):
        return None
    if stored.status == "unsubscribed":
        return actions.subscribe(engine, settings, subscriber, now)
    preferences = signed_link(settings, "preferences", stored.id, stored.email)
    body = render_already(settings, preferences)
    return create_confirmation(engine, settings, stored.id, body, now)


def send_after_answer(engine: Engine, settings: Settings, mailing_id: int) -> None:
    """Send a subscription email once the page has been answered; a failure is logged
    (the delivery stays recorded for the clock's retry sweep), never raised into the
    server."""
    try:
        actions.send(engine, settings, mailing_id)
    except Exception:
        log.exception("sending mailing %s after a subscribe request failed", mailing_id)


def routes(settings: Settings, engine: Engine, pages: Pages) -> list[Route]:
    """The public routes."""

    def now() -> datetime:
        return datetime.now(UTC)

    def holder(purpose: str, token: str) -> Subscriber | None:
        if not TOKEN_SHAPE.fullmatch(token):
            return None
        subscriber_id = token_subscriber(token)
        subscriber = get_subscriber(engine, subscriber_id) if subscriber_id else None
        if subscriber is None or subscriber.id is None:
            return None
        if not verify(settings.secret_key, purpose, token, subscriber.id, subscriber.email, now()):
            return None
        return subscriber

    def form_error(request: Request, form: dict[str, str], error: str) -> Response:
        shown = {key: value[: FIELD_LIMITS.get(key, 200)] for key, value in form.items()}
        return pages.render(request, "subscribe.html", 400, form=shown, error=error)

    async def subscribe_page(request: Request) -> Response:
        if request.method == "GET":
            return pages.render(request, "subscribe.html", form={}, error=None)
        form = await read_form(request)
        if not pages.csrf_ok(request, form):
            return pages.refuse(request, 403, EXPIRED_FORM)
        client = client_key(request.client.host if request.client else None)
        wait = await run_in_threadpool(limited, engine, SUBSCRIBE_PER_CLIENT, client)
        if wait:
            return too_many(pages, request, wait)
        for field, limit in FIELD_LIMITS.items():
            if len(form.get(field, "")) > limit:
                return form_error(
                    request, form, f"The {field} field is too long (at most {limit} characters)."
                )
        age = form_age(settings.secret_key, form.get("started", ""), FORM_MAX_AGE)
        if age is None:
            return form_error(request, form, "The form had expired. Please submit it again.")
        if age < MIN_FILL_SECONDS:
            return form_error(request, form, "Please check the form, then submit it again.")
        try:
            subscriber = Subscriber(
                email=normalise_email(form.get("email", "")),
                name=form.get("name", ""),
                outlet=form.get("outlet", ""),
                types=parse_types(form.get("types", ""), settings),
                weekly="weekly" in form,
                breaking="breaking" in form,
                status="pending",
            )
            check_sendable(settings, subscriber.email)
        except SubscriberError as exc:
            return form_error(request, form, str(exc))
        mailing = None
        if not form.get(HONEYPOT):
            mailing = await run_in_threadpool(
                subscription_mail, engine, settings, subscriber, now()
            )
        task = BackgroundTask(send_after_answer, engine, settings, mailing.id) if mailing else None
        response = pages.render(
            request,
            "message.html",
            title="Check your inbox",
            message=f"If {subscriber.email} can receive news from us, a confirmation email is "
            "on its way. Open the link in it to start receiving news.",
        )
        response.background = task
        return response

    def confirmable(subscriber: Subscriber, token: str) -> bool:
        """A confirm link works for a pending address, or for an unsubscribed one that asked
        again after unsubscribing (the link was made after the last change)."""
        if subscriber.status == "pending":
            return True
        if subscriber.status != "unsubscribed":
            return False
        issued = int(token.split(".")[1]) - actions.CONFIRM_HOURS * 3600
        with engine.connect() as conn:
            updated = conn.execute(
                select(subscribers.c.updated).where(subscribers.c.id == subscriber.id)
            ).scalar()
        return updated is not None and updated <= datetime.fromtimestamp(issued, UTC)

    async def confirm_page(request: Request) -> Response:
        token = request.path_params["token"]
        subscriber = holder("confirm", token)
        if subscriber is None or subscriber.status == "bounced":
            return pages.refuse(request, 404, INVALID_LINK)
        preferences = signed_link(settings, "preferences", subscriber.id or 0, subscriber.email)
        if subscriber.status == "active":
            return pages.render(
                request,
                "message.html",
                title="You are subscribed",
                message="This address is already on the press list.",
                link=preferences,
            )
        if not confirmable(subscriber, token):
            return pages.refuse(request, 410, USED_LINK)
        if request.method == "GET":
            return pages.render(request, "confirm.html", subscriber=subscriber, token=token)
        if not pages.csrf_ok(request, await read_form(request)):
            return pages.refuse(request, 403, EXPIRED_FORM)
        used = await run_in_threadpool(limited, engine, LINK_USED, f"confirm\n{token}")
        if used:
            return pages.refuse(request, 410, USED_LINK)
        set_status(engine, subscriber.id or 0, "active", now())
        greeting = actions.welcome(engine, settings, subscriber.id or 0, now())
        response = pages.render(
            request,
            "message.html",
            title="You are subscribed",
            message="Thank you. You can change what you receive from the link in every email.",
            link=preferences,
        )
        if greeting is not None:
            response.background = BackgroundTask(actions.send, engine, settings, greeting.id)
        return response

    async def preferences_page(request: Request) -> Response:
        token = request.path_params["token"]
        subscriber = holder("preferences", token)
        if subscriber is None:
            return pages.refuse(request, 404, INVALID_LINK)
        saved = False
        if request.method == "POST":
            form = await read_form(request)
            if not pages.csrf_ok(request, form):
                return pages.refuse(request, 403, EXPIRED_FORM)
            chosen = tuple(slug for slug in form.get("types", "").split(";") if slug)
            if not chosen:
                return pages.refuse(request, 400, "Choose at least one type, or unsubscribe.")
            types = () if len(set(chosen)) == len(settings.types) else chosen
            try:
                types = parse_types(";".join(types), settings)
            except SubscriberError:
                return pages.refuse(request, 400, "Unknown item type.")
            try:
                set_preferences(
                    engine,
                    subscriber.id or 0,
                    types,
                    "weekly" in form,
                    "breaking" in form,
                    now(),
                    form.get("cadence") or None,
                )
            except SubscriberError:
                return pages.refuse(request, 400, "Choose a weekly or a daily digest.")
            subscriber = get_subscriber(engine, subscriber.id or 0) or subscriber
            saved = True
        unsubscribe = signed_link(settings, "unsubscribe", subscriber.id or 0, subscriber.email)
        return pages.render(
            request, "preferences.html", subscriber=subscriber, saved=saved, unsubscribe=unsubscribe
        )

    async def unsubscribe_page(request: Request) -> Response:
        subscriber = holder("unsubscribe", request.path_params["token"])
        if subscriber is None:
            return pages.refuse(request, 404, INVALID_LINK)
        if request.method == "GET":
            return pages.render(request, "unsubscribe.html", subscriber=subscriber)
        form = await read_form(request)
        if form.get("List-Unsubscribe") != ONE_CLICK:
            return pages.refuse(request, 400, "Nothing was changed.")
        if subscriber.status != "bounced":
            set_status(engine, subscriber.id or 0, "unsubscribed", now())
        return pages.render(
            request,
            "message.html",
            title="You are unsubscribed",
            message=f"{subscriber.email} will get no more email from us.",
        )

    return [
        Route("/subscribe", subscribe_page, methods=["GET", "POST"]),
        Route("/confirm/{token}", confirm_page, methods=["GET", "POST"]),
        Route("/preferences/{token}", preferences_page, methods=["GET", "POST"]),
        Route("/unsubscribe/{token}", unsubscribe_page, methods=["GET", "POST"]),
    ]
