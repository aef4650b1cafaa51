"""The pages a press contact sees: subscribe (double opt-in), confirm, preferences and
unsubscribe, all reached through signed links; one-click unsubscribe per RFC 8058."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from digest import jobs
from digest.config import Settings
from digest.links import signed_link, token_subscriber, verify
from digest.model import Subscriber
from digest.subscribers import (
    SubscriberError,
    get_subscriber,
    normalise_email,
    parse_types,
    set_preferences,
    set_status,
)
from digest.web.forms import Pages, read_form

INVALID_LINK = "This link is not valid, or it has expired. Use the link in your latest email."
ONE_CLICK = "One-Click"


def routes(settings: Settings, engine: Engine, pages: Pages) -> list[Route]:
    """The public routes."""

    def now() -> datetime:
        return datetime.now(UTC)

    def holder(purpose: str, token: str) -> Subscriber | None:
        subscriber_id = token_subscriber(token)
        subscriber = get_subscriber(engine, subscriber_id) if subscriber_id else None
        if subscriber is None or subscriber.id is None:
            return None
        if not verify(settings.secret_key, purpose, token, subscriber.id, subscriber.email, now()):
            return None
        return subscriber

    async def subscribe_page(request: Request) -> Response:
        if request.method == "GET":
            return pages.render(request, "subscribe.html", form={}, error=None)
        form = await read_form(request)
        if not pages.csrf_ok(request, form):
            return pages.refuse(request, 403, "The form had expired. Please try again.")
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
        except SubscriberError as exc:
            return pages.render(request, "subscribe.html", 400, form=form, error=str(exc))
        mailing = jobs.subscribe(engine, settings, subscriber)
        task = BackgroundTask(jobs.send, engine, settings, mailing.id) if mailing else None
        response = pages.render(
            request,
            "message.html",
            title="Check your inbox",
            message=f"If {subscriber.email} can receive news from us, a confirmation email is "
            "on its way. Open the link in it to start receiving news.",
        )
        response.background = task
        return response

    async def confirm_page(request: Request) -> Response:
        token = request.path_params["token"]
        subscriber = holder("confirm", token)
        if subscriber is None or subscriber.status == "bounced":
            return pages.refuse(request, 404, INVALID_LINK)
        if request.method == "GET":
            return pages.render(request, "confirm.html", subscriber=subscriber, token=token)
        if not pages.csrf_ok(request, await read_form(request)):
            return pages.refuse(request, 403, "The form had expired. Please try again.")
        set_status(engine, subscriber.id or 0, "active", now())
        greeting = jobs.welcome(engine, settings, subscriber.id or 0, now())
        response = pages.render(
            request,
            "message.html",
            title="You are subscribed",
            message="Thank you. You can change what you receive from the link in every email.",
            link=signed_link(settings, "preferences", subscriber.id or 0, subscriber.email),
        )
        if greeting is not None:
            response.background = BackgroundTask(jobs.send, engine, settings, greeting.id)
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
                return pages.refuse(request, 403, "The form had expired. Please try again.")
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
