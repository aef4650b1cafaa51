"""Rendering: Jinja2 templates for the weekly digest and breaking alerts, CSS inlined with
premailer once per body; each recipient's copy only fills in the placeholders."""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from premailer import Premailer

from digest.config import Settings
from digest.feeds import ALL, TEMPLATES, FeedSpec
from digest.links import digest_url, item_link
from digest.model import ALL_TYPES, Item

MAX_HTML_BYTES = 100_000
OTHER_NEWS = "Other news"
PLACEHOLDER_MARK = "@@"


@dataclass(frozen=True)
class Rendered:
    """One email body for everyone who chose the same types, before personalisation."""

    subject: str
    html: str
    text: str


def long_date(value: date | datetime, settings: Settings | None = None) -> str:
    """'8 June 2021': unambiguous for every reader."""
    if isinstance(value, datetime) and settings is not None:
        value = value.astimezone(settings.timezone)
    return f"{value.day} {value:%B %Y}"


def _environment(settings: Settings) -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES / "email"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["longdate"] = lambda value: long_date(value, settings)
    environment.filters["type_label"] = lambda slug: (
        t.label if (t := settings.type_by_slug(slug)) else ""
    )
    environment.globals["item_link"] = lambda item: item_link(settings, item)
    environment.globals["digest_url"] = lambda kind, ident: digest_url(settings, kind, ident)
    return environment


@cache
def _stylesheet() -> str:
    return (TEMPLATES / "email" / "style.css").read_text(encoding="utf-8")


def inline_css(document: str) -> str:
    """Inline the shared stylesheet into the HTML (media queries stay in a <style> block
    for clients that honour them: dark mode, narrow screens)."""
    return Premailer(
        document,
        css_text=_stylesheet(),
        keep_style_tags=True,
        remove_classes=False,
        allow_network=False,
        disable_validation=True,
        cssutils_logging_level=logging.CRITICAL,
    ).transform()


def chosen_types(settings: Settings, types_key: str) -> list[str]:
    """The type slugs a types key stands for, in the configured order."""
    if types_key == ALL_TYPES:
        return [t.slug for t in settings.types]
    wanted = set(types_key.split(","))
    return [t.slug for t in settings.types if t.slug in wanted]


def _chosen_phrase(settings: Settings, types_key: str) -> str:
    if types_key == ALL_TYPES:
        return "everything"
    return _join([settings.type_by_slug(s).plural_label for s in chosen_types(settings, types_key)])


def _join(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _items_by_type(
    settings: Settings, items: Sequence[Item], types_key: str
) -> dict[str | None, list[Item]]:
    """The items readers of `types_key` get, by type in configured order (untyped items
    last, for readers of every type); types with no item are left out."""
    slugs: list[str | None] = list(chosen_types(settings, types_key))
    if types_key == ALL_TYPES:
        slugs.append(None)
    by_type = {slug: [i for i in items if i.type == slug] for slug in slugs}
    return {slug: group for slug, group in by_type.items() if group}


def weekly_subject(
    settings: Settings, items: Sequence[Item], period_end: date, types_key: str
) -> str | None:
    """The weekly digest's subject for readers of `types_key` ("Weekly digest: 2 press
    releases, 1 update — 8 June 2021"), or None when none of the items is theirs."""
    by_type = _items_by_type(settings, items, types_key)
    if not by_type:
        return None
    counts = {slug: len(group) for slug, group in by_type.items()}
    return settings.email.weekly_subject.format(
        summary=", ".join(f"{n} {_type_words(settings, s, n)}" for s, n in counts.items()),
        date=long_date(period_end),
        count=sum(counts.values()),
        newsroom=settings.newsroom_name,
    )


def render_weekly(
    settings: Settings, items: Sequence[Item], period_end: date, types_key: str
) -> Rendered | None:
    """The weekly digest for readers of `types_key`: items grouped by type in configured
    order, newest first, at most `email.max_items_per_type` per type (fewer if the HTML
    would pass Gmail's clipping size). None when none of the items is of those types."""
    subject = weekly_subject(settings, items, period_end, types_key)
    if subject is None:
        return None
    by_type = _items_by_type(settings, items, types_key)
    limit = settings.email.max_items_per_type
    while True:
        groups = [
            {
                "title": _group_title(settings, slug),
                "plural": _type_words(settings, slug, 2),
                "entries": sorted(group, key=lambda i: i.published, reverse=True)[:limit],
                "more": max(0, len(group) - limit),
                "feed": settings.base_url + FeedSpec(slug or ALL, slug, "").path("atom"),
            }
            for slug, group in by_type.items()
        ]
        context = {
            "settings": settings,
            "subject": subject,
            "preheader": _preheader(groups),
            "groups": groups,
            "show_type": False,
            "period_end": period_end,
            "chosen": _chosen_phrase(settings, types_key),
        }
        rendered = _render(settings, "weekly", context, subject)
        if len(rendered.html.encode()) <= MAX_HTML_BYTES or limit == 1:
            return rendered
        limit = max(1, limit // 2)


def _type_words(settings: Settings, slug: str | None, count: int) -> str:
    item_type = settings.type_by_slug(slug)
    if item_type is None:
        return "other item" if count == 1 else "other items"
    return item_type.label.lower() if count == 1 else item_type.plural_label


def _group_title(settings: Settings, slug: str | None) -> str:
    item_type = settings.type_by_slug(slug)
    return item_type.feed_title if item_type else OTHER_NEWS


def _preheader(groups: list[dict[str, object]]) -> str:
    titles = [item.title for group in groups for item in group["entries"]][:3]  # type: ignore[attr-defined]
    return " · ".join(titles)[:140]


def breaking_subject(settings: Settings, item: Item) -> str:
    """A breaking alert's subject: the configured prefix, then the item's title."""
    prefix = settings.email.breaking_prefix
    return f"{prefix} {item.title}" if prefix else item.title


def render_breaking(settings: Settings, item: Item, types_key: str) -> Rendered:
    """A breaking-news alert carrying one item."""
    subject = breaking_subject(settings, item)
    context = {
        "settings": settings,
        "subject": subject,
        "preheader": (item.summary or item.title)[:140],
        "item": item,
        "show_type": True,
        "chosen": _chosen_phrase(settings, types_key),
    }
    return _render(settings, "breaking", context, subject)


def _render(settings: Settings, name: str, context: dict[str, object], subject: str) -> Rendered:
    environment = _environment(settings)
    document = environment.get_template(f"{name}.html").render(context)
    text = environment.get_template(f"{name}.txt").render(context)
    return Rendered(subject=subject, html=inline_css(document), text=text)


def personalise(
    body: str, *, name: str, email: str, preferences: str, unsubscribe: str, as_html: bool
) -> str:
    """One recipient's copy of a rendered body: name and signed links filled in."""
    greeting = name or "there"
    who = f"{name} <{email}>" if name else email
    if as_html:
        greeting, who = html.escape(greeting), html.escape(who)
        preferences, unsubscribe = html.escape(preferences), html.escape(unsubscribe)
    return (
        body.replace("@@NAME_OR_ADDRESS@@", who)
        .replace("@@NAME@@", greeting)
        .replace("@@PREFERENCES_URL@@", preferences)
        .replace("@@UNSUBSCRIBE_URL@@", unsubscribe)
    )


def render_confirm(settings: Settings, confirm_url: str, hours: int) -> Rendered:
    """The double opt-in email: one link that confirms the subscription."""
    subject = f"Confirm your subscription to {settings.newsroom_name}"
    context = {
        "settings": settings,
        "subject": subject,
        "preheader": "One click to confirm, and you are on the list.",
        "confirm_url": confirm_url,
        "hours": hours,
    }
    return _render(settings, "confirm", context, subject)


def sample_copy(body: str) -> str:
    """A rendered HTML body as a sample reader would see it (for previews)."""
    sample = {
        "name": "Sample Reader",
        "email": "reader@example.org",
        "preferences": "#preferences",
        "unsubscribe": "#unsubscribe",
    }
    return personalise(body, **sample, as_html=True)
