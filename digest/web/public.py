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
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from digest import actions
from digest.config import Settings
from digest.links import signed_link
from digest.model import Subscriber
from digest.render import digest_times
from digest.subscribers import (
    SubscriberError,
    check_sendable,
    normalise_email,
    parse_cadence,
    parse_types,
)
from digest.web.forms import Pages, form_age, read_form

if TYPE_CHECKING:
    from digest.store import Engine

INVALID_LINK = "This link is not valid, or it has expired. Use the link in your latest email."
USED_LINK = "This confirmation link has already been used. To subscribe again, use the form."
TOO_FAST = (
    "We could not tell you from a robot: the form was sent less than two seconds after it "
    "opened (a browser's autofill does that). Please check the fields and press Subscribe again."
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


def send_after_answer(engine: Engine, settings: Settings, mailing_id: int) -> None:
    """Send a subscription email once the page has been answered; a failure is logged
    (the delivery stays recorded for the clock's retry sweep), never raised into the
    server."""
    try:
        actions.send(engine, settings, mailing_id)
    except Exception:
        log.exception("sending mailing %s after a subscribe request failed", mailing_id)


@dataclass(frozen=True)
class Public:
    """What the press contacts' pages need: the settings, the store and the page renderer."""

    settings: Settings
    engine: Engine
    pages: Pages

    def now(self) -> datetime:
        """This moment, in UTC."""
        return datetime.now(UTC)


def holder(public: Public, purpose: str, token: str) -> Subscriber | None:
    """The subscriber a signed link for `purpose` belongs to, or None when the token is
    malformed, forged, expired or names nobody."""
    if not TOKEN_SHAPE.fullmatch(token):
        return None
    return actions.token_holder(public.engine, public.settings, purpose, token)


def form_page(
    public: Public,
    request: Request,
    status: int = 200,
    form: dict[str, str] | None = None,
    **more: Any,
) -> Response:
    """The subscribe form: what it offers and when digests go out, with `form` as typed."""
    return public.pages.render(
        request,
        "subscribe.html",
        status,
        form=form or {},
        when=digest_times(public.settings),
        error=more.get("error"),
        started=more.get("started"),
    )


def form_error(public: Public, request: Request, form: dict[str, str], error: str) -> Response:
    """The subscribe form again (400), with what was typed and ticked (cut to size) and
    the error; a form sent too fast keeps its start time, so the next press goes through."""
    shown = {key: value[: FIELD_LIMITS.get(key, 200)] for key, value in form.items()}
    started = form.get("started") if error == TOO_FAST else None
    return form_page(public, request, 400, shown, error=error, started=started)


def form_problem(public: Public, form: dict[str, str]) -> str | None:
    """Why a subscribe form is turned away before it is read (a field too long, a form
    too old or filled in too fast), or None."""
    for field, limit in FIELD_LIMITS.items():
        if len(form.get(field, "")) > limit:
            return f"The {field} field is too long (at most {limit} characters)."
    age = form_age(public.settings.secret_key, form.get("started", ""), FORM_MAX_AGE)
    if age is None:
        return "The form had expired. Please submit it again."
    if age < MIN_FILL_SECONDS:
        return TOO_FAST
    return None


def subscriber_from_form(settings: Settings, form: dict[str, str]) -> Subscriber:
    """The pending subscriber a subscribe form asks for; SubscriberError when an address
    or type cannot be taken."""
    subscriber = Subscriber(
        email=normalise_email(form.get("email", "")),
        name=form.get("name", ""),
        outlet=form.get("outlet", ""),
        types=parse_types(form.get("types", ""), settings),
        weekly="weekly" in form,
        breaking="breaking" in form,
        status="pending",
        cadence=parse_cadence(form.get("cadence")),
    )
    check_sendable(settings, subscriber.email)
    return subscriber


async def subscribe_page(public: Public, request: Request) -> Response:
    """The subscribe form; a POST asks for a confirmation email (answered the same way
    whether or not one is sent, so the page tells nobody who is on the list)."""
    pages, settings = public.pages, public.settings
    if request.method == "GET":
        return form_page(public, request)
    form = await read_form(request)
    if not pages.csrf_ok(request, form):
        return pages.refuse(request, 403, EXPIRED_FORM)
    client = request.client.host if request.client else None
    wait = await run_in_threadpool(actions.subscribe_wait, public.engine, client)
    if wait:
        return too_many(pages, request, wait)
    problem = form_problem(public, form)
    if problem:
        return form_error(public, request, form, problem)
    try:
        subscriber = subscriber_from_form(settings, form)
    except SubscriberError as exc:
        return form_error(public, request, form, str(exc))
    return await asked(public, request, subscriber, bool(form.get(HONEYPOT)))


async def asked(
    public: Public, request: Request, subscriber: Subscriber, bot: bool = False
) -> Response:
    """Ask for a confirmation email (nothing for a bot) and answer "check your inbox",
    the same whether or not one is sent; the email goes after the answer."""
    engine, settings = public.engine, public.settings
    mailing = None
    if not bot:
        mailing = await run_in_threadpool(actions.subscription_mail, engine, settings, subscriber)
    response = public.pages.render(
        request,
        "message.html",
        title="Check your inbox",
        message=f"If {subscriber.email} can receive news from us, a confirmation email is "
        "on its way. Open the link in it to start receiving news.",
    )
    if mailing:
        response.background = BackgroundTask(send_after_answer, engine, settings, mailing.id)
    return response


def used_link(public: Public, request: Request) -> Response:
    """A confirm link that was already used (410), with the way to the subscribe form."""
    return public.pages.render(
        request,
        "message.html",
        status_code=410,
        title="Not possible",
        message=USED_LINK,
        link=public.settings.base_url + "subscribe",
        link_text="Subscribe",
    )


def subscribed(public: Public, request: Request, subscriber: Subscriber) -> Response:
    """The page that says this address is on the list, with its preferences link."""
    return public.pages.render(
        request,
        "message.html",
        title="You are subscribed",
        message="This address is already on the press list.",
        link=signed_link(public.settings, "preferences", subscriber.id or 0, subscriber.email),
    )


async def confirm_page(public: Public, request: Request) -> Response:
    """A confirmation link: GET shows a button (mail scanners follow links), its POST
    makes the address active and sends the welcome email."""
    pages, token = public.pages, request.path_params["token"]
    subscriber = holder(public, "confirm", token)
    if subscriber is None or subscriber.status == "bounced":
        return pages.refuse(request, 404, INVALID_LINK)
    if subscriber.status == "active":
        return subscribed(public, request, subscriber)
    if not actions.confirmable(public.engine, subscriber, token):
        return used_link(public, request)
    if request.method == "GET":
        return pages.render(request, "confirm.html", subscriber=subscriber, token=token)
    if not pages.csrf_ok(request, await read_form(request)):
        return pages.refuse(request, 403, EXPIRED_FORM)
    done = await run_in_threadpool(actions.confirm, public.engine, subscriber, token)
    if done is not actions.Confirmed.CONFIRMED:
        return used_link(public, request)
    return confirmed(public, request, subscriber)


def confirmed(public: Public, request: Request, subscriber: Subscriber) -> Response:
    """Answer a confirmed address, sending the welcome email (if any) after."""
    engine, settings = public.engine, public.settings
    greeting = actions.welcome(engine, settings, subscriber.id or 0)
    response = public.pages.render(
        request,
        "message.html",
        title="You are subscribed",
        message="Thank you. You can change what you receive from the link in every email.",
        link=signed_link(settings, "preferences", subscriber.id or 0, subscriber.email),
    )
    if greeting is not None:
        response.background = BackgroundTask(actions.send, engine, settings, greeting.id)
    return response


def save_preferences(
    public: Public, subscriber: Subscriber, form: dict[str, str]
) -> Subscriber | str:
    """Save the preferences form for this subscriber: them as saved, or why it was refused."""
    settings = public.settings
    chosen = tuple(slug for slug in form.get("types", "").split(";") if slug)
    if not chosen:
        return "Choose at least one type, or unsubscribe."
    types = () if len(set(chosen)) == len(settings.types) else chosen
    try:
        types = parse_types(";".join(types), settings)
    except SubscriberError:
        return "Unknown item type."
    weekly, breaking, cadence = "weekly" in form, "breaking" in form, form.get("cadence")
    try:
        return actions.choose_preferences(
            public.engine, subscriber, types, weekly, breaking, cadence or None
        )
    except SubscriberError:
        return "Choose a weekly or a daily digest."


async def preferences_page(public: Public, request: Request) -> Response:
    """A subscriber's preferences (types, weekly or daily, breaking alerts), from a
    signed link."""
    pages = public.pages
    subscriber = holder(public, "preferences", request.path_params["token"])
    if subscriber is None:
        return pages.refuse(request, 404, INVALID_LINK)
    saved = False
    if request.method == "POST":
        form = await read_form(request)
        if not pages.csrf_ok(request, form):
            return pages.refuse(request, 403, EXPIRED_FORM)
        outcome = save_preferences(public, subscriber, form)
        if isinstance(outcome, str):
            return pages.refuse(request, 400, outcome)
        subscriber, saved = outcome, True
    unsubscribe = signed_link(public.settings, "unsubscribe", subscriber.id or 0, subscriber.email)
    return pages.render(
        request, "preferences.html", subscriber=subscriber, saved=saved, unsubscribe=unsubscribe
    )


async def unsubscribe_page(public: Public, request: Request) -> Response:
    """Unsubscribe from a signed link: GET asks, POST (also RFC 8058 one-click) does it;
    once unsubscribed, the page offers to subscribe again (through the confirmation email)."""
    pages = public.pages
    subscriber = holder(public, "unsubscribe", request.path_params["token"])
    if subscriber is None:
        return pages.refuse(request, 404, INVALID_LINK)
    if request.method == "GET":
        if subscriber.status == "unsubscribed":
            return pages.render(request, "unsubscribed.html", subscriber=subscriber, already=True)
        return pages.render(request, "unsubscribe.html", subscriber=subscriber)
    form = await read_form(request)
    if form.get("again"):
        return await subscribe_again(public, request, subscriber, form)
    if form.get("List-Unsubscribe") != ONE_CLICK:
        return pages.refuse(request, 400, "Nothing was changed.")
    actions.unsubscribe(public.engine, subscriber)
    return pages.render(request, "unsubscribed.html", subscriber=subscriber, already=False)


async def subscribe_again(
    public: Public, request: Request, subscriber: Subscriber, form: dict[str, str]
) -> Response:
    """The "Subscribe again" button of an unsubscribed reader: the double opt-in again
    (a confirmation email; the earlier choices are kept), within the subscribe limits."""
    if not public.pages.csrf_ok(request, form):
        return public.pages.refuse(request, 403, EXPIRED_FORM)
    client = request.client.host if request.client else None
    wait = await run_in_threadpool(actions.subscribe_wait, public.engine, client)
    if wait:
        return too_many(public.pages, request, wait)
    return await asked(public, request, subscriber)


def routes(settings: Settings, engine: Engine, pages: Pages) -> list[Route]:
    """The public routes."""
    public = Public(settings, engine, pages)
    methods = ["GET", "POST"]
    return [
        Route("/subscribe", partial(subscribe_page, public), methods=methods),
        Route("/confirm/{token}", partial(confirm_page, public), methods=methods),
        Route("/preferences/{token}", partial(preferences_page, public), methods=methods),
        Route("/unsubscribe/{token}", partial(unsubscribe_page, public), methods=methods),
    ]
