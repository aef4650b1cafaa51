"""Rendering: Jinja2 templates for the weekly digest and breaking alerts, CSS inlined with
premailer once per body; each recipient's copy only fills in the placeholders."""

from __future__ import annotations

import html
import logging
import mimetypes
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import cache
from itertools import accumulate
from pathlib import PurePosixPath
from urllib.parse import quote, urlsplit

from jinja2 import Environment, StrictUndefined, select_autoescape
from markupsafe import Markup

from digest.catalog import ALL, FeedSpec
from digest.config import Settings
from digest.links import digest_url, image_url, item_link, item_page, item_page_url, web_url
from digest.model import ALL_TYPES, Article, Contact, Document, Item, Subscriber
from digest.resources import template_loader
from digest.text import caption_and_credit, clean_line, xml_safe

# Gmail clips a message past 102 KB: both parts of a digest stay under this together,
# leaving room for the headers and each recipient's links.
MAX_MESSAGE_BYTES = 96_000
SHORT_SUMMARY = 200
SHORT_TEXT = 1000
OTHER_NEWS = "Other news"
DAILY_SUBJECT = "Daily digest: {summary} — {date}"
ALERTS_HEADING = {
    "weekly": "Sent as alerts this week",
    "daily": "Sent as alerts since the last digest",
}
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


def item_date(item: Item, settings: Settings | None = None) -> str:
    """An item's date as readers see it: `April 2013` for one its source dates only to a
    month, else the long date."""
    if not item.month_only:
        return long_date(item.published, settings)
    published = item.published
    if settings is not None:
        published = published.astimezone(settings.timezone)
    return f"{published:%B %Y}"


@dataclass(frozen=True)
class Photo:
    """An item's lead photo as every output shows it: an absolute http(s) URL, its alt
    text, caption and credit (each "" when unknown)."""

    url: str
    alt: str = ""
    caption: str = ""
    credit: str = ""


def lead_photo(item: Item) -> Photo | None:
    """The photo of the item's own page when it was read, else the listing's (its caption
    lines split into caption and credit); None without a usable http(s) URL."""
    article = item.article
    if article is not None and (url := web_url(article.image_url)):
        return Photo(
            url,
            clean_line(article.image_alt or ""),
            clean_line(article.image_caption or ""),
            clean_line(article.image_credit or ""),
        )
    url = image_url(item)
    if url is None:
        return None
    caption, credit = caption_and_credit(item.image_caption)
    return Photo(url, caption or "", caption or "", credit or "")


# An email photo fills the 600-pixel column inside its padding. Its shape is not known
# (pages do not say it), so the height attribute assumes a camera's 3:2; clients that apply
# CSS keep the photo's own proportions (height: auto).
PHOTO_WIDTH = 536
PHOTO_HEIGHT = 357
TOP_PHOTOS = 3


def email_photo(item: Item) -> Photo | None:
    """The lead photo as an email may show it: only from an https address (a plain http
    image is left out rather than shown as mixed content or blocked)."""
    photo = lead_photo(item)
    return photo if photo is not None and urlsplit(photo.url).scheme.lower() == "https" else None


def documents(item: Item) -> list[Document]:
    """The documents of the item's page that have an http(s) address, written as a URI
    (none before the page is read)."""
    found = item.article.documents if item.article is not None else ()
    return [
        replace(doc, url=url, title=clean_line(doc.title), mime_type=media_type(doc.mime_type))
        for doc in found
        if (url := web_url(doc.url))
    ]


MEDIA_TYPE = re.compile(r"[\w!#$&^.+-]+/[\w!#$&^.+-]+")
OCTET_STREAM = "application/octet-stream"


def media_type(declared: str) -> str:
    """A document's media type as feeds state it: the type/subtype the server gave,
    lower-cased and without parameters, or application/octet-stream when it gave none
    that reads as one."""
    found = declared.split(";")[0].strip().lower()
    return found if MEDIA_TYPE.fullmatch(found) else OCTET_STREAM


GENERIC_TYPES = (OCTET_STREAM, "binary/octet-stream")


def document_kind(document: Document) -> str:
    """What a reader calls the file: "PDF", "DOCX", "ZIP" (from its media type, else from
    the end of its address), or "File"."""
    declared = media_type(document.mime_type)
    extension = None if declared in GENERIC_TYPES else mimetypes.guess_extension(declared)
    if not extension:
        extension = PurePosixPath(urlsplit(document.url).path).suffix
    return extension.lstrip(".").upper()[:8] or "File"


def file_size(length: int | None, language: str = "en") -> str | None:
    """A size as people read it, in the newsroom's language: "845 kB", "1.2 MB" (decimal
    units, one decimal); None when unknown."""
    if length is None or length < 0:
        return None
    from babel import Locale, UnknownLocaleError
    from babel.units import format_unit

    try:
        locale = Locale.parse(language.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        locale = Locale("en")
    value, unit = float(length), SIZE_UNITS[0]
    for unit in SIZE_UNITS:
        if value < 1000 or unit == SIZE_UNITS[-1]:
            break
        value /= 1000
    return format_unit(value, unit, length="short", locale=locale, format="#,##0.#")


SIZE_UNITS = ("digital-byte", "digital-kilobyte", "digital-megabyte", "digital-gigabyte")


def document_label(document: Document, language: str = "en") -> str:
    """The kind and size of a document as listed beside its link: "PDF, 1.2 MB"."""
    size = file_size(document.length, language)
    kind = document_kind(document)
    return f"{kind}, {size}" if size else kind


EMAIL_ADDRESS = re.compile(r"[^@\s<>\"(),;:]+@[^@\s<>\"(),;:]+\.[^@\s<>\"(),;:]+")
PHONE_DIGITS_MIN = 3


def contact_parts(contact: Contact | None) -> list[tuple[str, str | None]]:
    """The press contact as pages, feeds and emails show it: the name, the email address
    (with its mailto: link) and the phone number (with its tel: link), each left out when
    empty; an address or number that cannot make a link is shown as plain text."""
    if contact is None:
        return []
    parts: list[tuple[str, str | None]] = []
    if name := clean_line(contact.name):
        parts.append((name, None))
    if email := clean_line(contact.email).removeprefix("mailto:"):
        usable = EMAIL_ADDRESS.fullmatch(email)
        parts.append((email, "mailto:" + quote(email, safe="@.+-_") if usable else None))
    if phone := clean_line(contact.phone):
        digits = re.sub(r"[^\d+]", "", phone)
        dialled = digits[:1] + digits[1:].replace("+", "")
        usable = sum(c.isdigit() for c in dialled) >= PHONE_DIGITS_MIN
        parts.append((phone, "tel:" + dialled if usable else None))
    return parts


_ENVIRONMENTS: dict[tuple[int, str], tuple[Settings, Environment]] = {}


def template_environment(settings: Settings, folder: str) -> Environment:
    """The Jinja2 environment of one template folder ("email", or "" for the public site)
    with the project's filters and link helpers, made once per settings and folder. The
    site's templates are read once per process, as its shared layout already is (a rebuild
    renders 100,000 pages: checking each template file's time on every page cost seconds)."""
    cached = _ENVIRONMENTS.get((id(settings), folder))
    if cached is not None and cached[0] is settings:
        return cached[1]
    environment = Environment(
        loader=template_loader(folder),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=folder == "email",
        auto_reload=folder != "",
    )
    environment.filters["longdate"] = lambda value: long_date(value, settings)
    environment.filters["itemdate"] = lambda item: item_date(item, settings)
    environment.filters["type_label"] = lambda slug: (
        t.label if (t := settings.type_by_slug(slug)) else ""
    )
    environment.globals["item_link"] = lambda item: item_link(settings, item)
    environment.globals["digest_url"] = lambda kind, ident: digest_url(settings, kind, ident)
    environment.globals["page_url"] = lambda item: item_page_url(settings, item_page(item))
    environment.globals["documents"] = documents
    environment.globals["contact_parts"] = contact_parts
    environment.globals["email_photo"] = email_photo
    environment.globals["photo_size"] = (PHOTO_WIDTH, PHOTO_HEIGHT)
    environment.filters["document_label"] = lambda doc: document_label(doc, settings.language)
    environment.filters["prose"] = prose
    _ENVIRONMENTS[(id(settings), folder)] = (settings, environment)
    return environment


TEXT_WIDTH = 72


def prose(text: str, hang: str = "") -> str:
    """A sentence or two for a text part, wrapped at 72 characters so plain-text readers
    need not scroll; addresses and other long words are never split (a link stays whole);
    `hang` indents the lines after the first (a list item). Ends its last line."""
    wrapped = textwrap.fill(
        text, TEXT_WIDTH, subsequent_indent=hang, break_long_words=False, break_on_hyphens=False
    )
    return wrapped + "\n"


@cache
def _stylesheet() -> str:
    source, _filename, _uptodate = template_loader("email").get_source(Environment(), "style.css")
    return source


def inline_css(document: str) -> str:
    """Inline the shared stylesheet into the HTML; only the @media rules (dark mode, narrow
    screens) stay in a <style> block, for the clients that honour them: the rest is inline
    already, and sending it twice costs bytes towards Gmail's clipping size. The doctype,
    which premailer drops, is kept: without it clients render in quirks mode (tables then
    do not inherit font sizes, images sit on a text baseline)."""
    from premailer import Premailer

    inlined = Premailer(
        document,
        css_text=_stylesheet(),
        keep_style_tags=True,
        remove_classes=False,
        allow_network=False,
        disable_validation=True,
        disable_basic_attributes=["width", "height"],  # a photo's own, not its CSS "auto"
        cssutils_logging_level=logging.CRITICAL,
    ).transform()
    doctype = DOCTYPE.match(document)
    if doctype and not DOCTYPE.match(inlined):
        inlined = f"{doctype[0].strip()}\n{inlined}"
    return STYLE_BLOCK.sub(_media_only, inlined)


DOCTYPE = re.compile(r"\s*<!doctype[^>]*>", re.I)


STYLE_BLOCK = re.compile(r"(<style[^>]*>)(.*?)(</style>)", re.S | re.I)


def media_rules(css: str) -> str:
    """The @media blocks of a stylesheet, each whole (nested braces counted), and nothing
    else."""
    kept, start = [], css.find("@media")
    while start != -1:
        depth, position = 0, css.find("{", start)
        if position == -1:
            break
        while position != -1 and position < len(css):
            if css[position] == "{":
                depth += 1
            elif css[position] == "}":
                depth -= 1
                if depth == 0:
                    break
            position += 1
        kept.append(css[start : position + 1])
        start = css.find("@media", position + 1)
    return "\n".join(kept)


def _media_only(match: re.Match[str]) -> str:
    rules = media_rules(match.group(2))
    return f"{match.group(1)}{rules}{match.group(3)}" if rules else ""


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
    settings: Settings,
    items: Sequence[Item],
    period_end: date,
    types_key: str,
    kind: str = "weekly",
    alerted: frozenset[str] = frozenset(),
) -> str | None:
    """The weekly digest's subject for readers of `types_key` ("Weekly digest: 2 press
    releases, 1 update — 8 June 2021"), or None when none of the items is theirs; the
    daily digest's uses `email.daily_subject`. It counts what the sections hold: items
    that went out as alerts are left out (unless the digest has nothing else)."""
    by_type = _items_by_type(settings, items, types_key)
    if not by_type:
        return None
    news = _items_by_type(settings, [i for i in items if i.key not in alerted], types_key)
    by_type = news or by_type
    counts = {slug: len(group) for slug, group in by_type.items()}
    template = settings.email.weekly_subject if kind == "weekly" else DAILY_SUBJECT
    return template.format(
        summary=", ".join(f"{n} {_type_words(settings, s, n)}" for s, n in counts.items()),
        date=long_date(period_end),
        count=sum(counts.values()),
        newsroom=settings.newsroom_name,
    )


def render_weekly(
    settings: Settings,
    items: Sequence[Item],
    period_end: date,
    types_key: str,
    alerted: frozenset[str] = frozenset(),
    corrections: Sequence[object] = (),
    kind: str = "weekly",
) -> Rendered | None:
    """The weekly (or daily) digest for readers of `types_key`: items grouped by type in
    configured order, newest first, at most `email.max_items_per_type` per type (fewer if
    the HTML would pass Gmail's clipping size). Items whose keys are in `alerted` went out
    as breaking alerts: they are listed apart ("Sent as alerts this week") or left out, as
    `email.alerts_in_digest` says; `corrections` get a section of their own. None when
    none of the items is of those types."""
    subject = weekly_subject(settings, items, period_end, types_key, kind, alerted)
    if subject is None:
        return None
    news = [item for item in items if item.key not in alerted]
    by_type = _items_by_type(settings, news, types_key)
    alerts: list[Item] = []
    if settings.cadence.alerts_in_digest == "list":
        alerts = [
            item
            for group in _items_by_type(
                settings, [i for i in items if i.key in alerted], types_key
            ).values()
            for item in group
        ]
    if not by_type and not alerts and not corrections:
        return None
    web_version = digest_url(settings, kind, f"{kind}:{period_end.isoformat()}")
    context = {
        "settings": settings,
        "subject": subject,
        "show_type": False,
        "period_end": period_end,
        "chosen": _chosen_phrase(settings, types_key),
        "alerts": alerts,
        "corrections": list(corrections),
        "period_word": "week" if kind == "weekly" else "day",
        "alerts_heading": ALERTS_HEADING[kind],
        "web_version": web_version,
    }
    rendered = None
    for limit, cap in _shorter(settings.email.max_items_per_type):
        groups = _groups(settings, by_type, limit, cap)
        context |= {
            "groups": groups,
            "preheader": _preheader(groups),
            "pictured": _pictured(groups),
        }
        rendered = _render(settings, kind, context, subject)
        if encoded_size(rendered) <= MAX_MESSAGE_BYTES:
            break
    return rendered


def _shorter(limit: int) -> list[tuple[int, int | None]]:
    """What to try, in order, until a digest fits under Gmail's clip: everything; then
    summaries cut short; then fewer items per type (halving), the rest one link away in
    the web version."""
    steps: list[tuple[int, int | None]] = [(limit, None), (limit, SHORT_SUMMARY)]
    while limit > 1:
        limit = max(1, limit // 2)
        steps.append((limit, SHORT_SUMMARY))
    return steps


def _groups(
    settings: Settings, by_type: dict[str | None, list[Item]], limit: int, cap: int | None
) -> list[dict[str, object]]:
    return [
        {
            "title": _group_title(settings, slug),
            "plural": _type_words(settings, slug, 2),
            "entries": [
                _short(item, cap)
                for item in sorted(group, key=lambda i: i.published, reverse=True)[:limit]
            ],
            "more": max(0, len(group) - limit),
            "feed": settings.base_url + FeedSpec(slug or ALL, slug, "").path("atom"),
        }
        for slug, group in by_type.items()
    ]


def _short(item: Item, cap: int | None) -> Item:
    """The item with its summary cut at a word boundary before `cap` characters."""
    if cap is None or not item.summary or len(item.summary) <= cap:
        return item
    cut = item.summary[:cap].rsplit(" ", 1)[0].rstrip(" ,;:.")
    return replace(item, summary=cut + " …")


def encoded_size(rendered: Rendered) -> int:
    """The bytes a body takes in a message: both parts, quoted-printable as sent."""
    import binascii

    return sum(
        len(binascii.b2a_qp(part.encode(), istext=True)) for part in (rendered.html, rendered.text)
    )


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


def _pictured(groups: list[dict[str, object]]) -> frozenset[str]:
    """The keys of the digest's top items, which show their photo."""
    entries = [item for group in groups for item in group["entries"]]  # type: ignore[attr-defined]
    return frozenset(item.key for item in entries[:TOP_PHOTOS])


@dataclass(frozen=True)
class FullText:
    """An item's full text as an alert carries it: HTML and plain text, and whether it was
    cut short to keep the message under Gmail's clip."""

    html: Markup
    text: str
    cut: bool = False
    links: tuple[tuple[str, str], ...] = ()


def email_full_text(article: Article, budget: int | None = None) -> FullText:
    """The page's full text for an email: without the images in it (the lead photo is
    shown apart, sized for email), whole, or cut after the last paragraph that fits in
    `budget` characters of HTML (the plain text after as many paragraphs)."""
    from lxml import html as lxml_html

    source = xml_safe(article.body_html) or "<p></p>"
    root = lxml_html.fragment_fromstring(source, create_parent="div")
    for image in list(root.iter("img", "picture", "video", "audio", "iframe")):
        figure = next((a for a in image.iterancestors("figure")), None)
        (figure if figure is not None else image).drop_tree()
    blocks = [html.escape(root.text)] if (root.text or "").strip() else []
    blocks += [lxml_html.tostring(child, encoding="unicode") for child in root]
    kept = len(blocks)
    if budget is not None:
        kept = sum(1 for used in accumulate(len(block) for block in blocks) if used <= budget)
    paragraphs = [p for p in xml_safe(article.body_text).split("\n\n") if p.strip()]
    cut = kept < len(blocks)
    text = "\n\n".join(paragraphs[:kept] if cut else paragraphs)
    return FullText(Markup("".join(blocks[:kept])), text.strip(), cut, _links(blocks[:kept]))


def _links(blocks: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """The web links in the kept HTML blocks, in order and once each, so the text part
    (which has the page's plain text) carries the same links as the HTML one."""
    from lxml import html as lxml_html

    found: dict[str, str] = {}
    for block in blocks:
        if "<a" not in block:
            continue
        for anchor in lxml_html.fragment_fromstring(block, create_parent="div").iter("a"):
            href = (anchor.get("href") or "").strip()
            if href.startswith(("https://", "http://")) and href not in found:
                found[href] = " ".join(anchor.text_content().split()) or href
    return tuple((label, href) for href, label in found.items())


def breaking_subject(settings: Settings, item: Item) -> str:
    """A breaking alert's subject: the configured prefix, then the item's title."""
    prefix = settings.email.breaking_prefix
    return f"{prefix} {item.title}" if prefix else item.title


def render_breaking(settings: Settings, item: Item, types_key: str) -> Rendered:
    """A breaking-news alert carrying one item: with its page's full text, photo, documents
    and press contact when the page was read. A text too long for Gmail's clipping size is
    cut after a paragraph, with a link to the whole of it on the item's page."""
    subject = breaking_subject(settings, item)
    context: dict[str, object] = {
        "settings": settings,
        "subject": subject,
        "preheader": (item.summary or item.title)[:140],
        "item": item,
        "show_type": True,
        "chosen": _chosen_phrase(settings, types_key),
    }
    return _render_in_full(settings, "breaking", context, subject, item)


def _render_in_full(
    settings: Settings, name: str, context: dict[str, object], subject: str, item: Item
) -> Rendered:
    """A one-item mail with its photo and its page's full text, the text cut shorter
    (after a paragraph) until the encoded message fits under Gmail's clipping size."""
    context = context | {"pictured": frozenset({item.key}), "full_text": None}
    if item.article is None:
        return _render(settings, name, context, subject)
    budget: int | None = None
    while True:
        context["full_text"] = email_full_text(item.article, budget)
        rendered = _render(settings, name, context, subject)
        if budget == 0 or encoded_size(rendered) <= MAX_MESSAGE_BYTES:
            return rendered
        budget = len(item.article.body_html) if budget is None else budget
        budget = budget // 2 if budget > SHORT_TEXT else 0


def _render(settings: Settings, name: str, context: dict[str, object], subject: str) -> Rendered:
    environment = template_environment(settings, "email")
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


def render_already(settings: Settings, preferences_url: str) -> Rendered:
    """The notice for an address that subscribes again while already on the list: nothing
    changed, and here is the link to its preferences."""
    subject = f"You are already on the {settings.newsroom_name} press list"
    context = {
        "settings": settings,
        "subject": subject,
        "preheader": "Nothing has changed. Here is the link to your preferences.",
        "preferences_url": preferences_url,
    }
    return _render(settings, "already", context, subject)


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


def render_correction(settings: Settings, item: Item, notes: Sequence[str]) -> Rendered:
    """The correction email to the readers of an item's breaking alert: what was wrong,
    then the item as it stands now."""
    subject = f"Correction: {item.title}"
    context = {
        "settings": settings,
        "subject": subject,
        "preheader": (notes[-1] if notes else item.title)[:140],
        "item": item,
        "notes": list(notes),
        "show_type": True,
        "web_version": item_page_url(settings, item_page(item)),
    }
    return _render(settings, "correction", context, subject)


DAY_NAMES = {
    "mon": "Monday",
    "tue": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "fri": "Friday",
    "sat": "Saturday",
    "sun": "Sunday",
}


def digest_times(settings: Settings) -> dict[str, str]:
    """When digests go out, as readers are told (subscribe page, welcome email): the weekly
    one ("every Monday at 09:00"), the daily one ("on weekdays at 07:00") and the zone."""
    schedule, cadence = settings.schedule, settings.cadence
    weekly_at = f"{schedule.weekly_hour:02d}:{schedule.weekly_minute:02d}"
    daily_at = f"{cadence.daily_hour:02d}:{cadence.daily_minute:02d}"
    return {
        "weekly": f"every {DAY_NAMES[schedule.weekly_day]} at {weekly_at}",
        "daily": f"on weekdays at {daily_at}",
        "zone": settings.timezone.key,
    }


def render_welcome(settings: Settings, subscriber: Subscriber) -> Rendered:
    """The email a new subscriber gets once confirmed: what they will get and when, the
    feeds of the types they chose, and the link to change it."""
    subject = f"Welcome to {settings.newsroom_name} news"
    times = digest_times(settings)
    if not subscriber.weekly:
        digest = None
    elif subscriber.cadence == "daily":
        digest = f"A daily digest {times['daily']} ({times['zone']})"
    else:
        digest = f"A weekly digest {times['weekly']} ({times['zone']})"
    slugs = chosen_types(settings, subscriber.types_key)
    feeds = [
        {
            "title": _group_title(settings, slug),
            "url": settings.base_url + FeedSpec(slug, slug, "").path("atom"),
        }
        for slug in slugs
    ]
    if subscriber.types_key == ALL_TYPES:
        feeds.insert(
            0,
            {
                "title": "Everything",
                "url": settings.base_url + FeedSpec(ALL, None, "").path("atom"),
            },
        )
    context = {
        "settings": settings,
        "subject": subject,
        "preheader": f"What you will get from {settings.newsroom_name}, and when.",
        "digest": digest,
        "breaking": subscriber.breaking,
        "chosen": _chosen_phrase(settings, subscriber.types_key),
        "feeds": feeds,
    }
    return _render(settings, "welcome", context, subject)


def sample_copy(body: str) -> str:
    """A rendered HTML body as a sample reader would see it (for previews)."""
    sample = {
        "name": "Sample Reader",
        "email": "reader@example.org",
        "preferences": "#preferences",
        "unsubscribe": "#unsubscribe",
    }
    return personalise(body, **sample, as_html=True)


# The default embargo subject in the newsroom's language (breaking.embargo_subject left as
# it is); a wording set in the configuration is used as written.
EMBARGO_SUBJECT = "EMBARGOED until {time}: {title}"
EMBARGO_WORDING = {
    "de": "SPERRFRIST bis {time}: {title}",
    "es": "EMBARGADO hasta el {time}: {title}",
    "fr": "SOUS EMBARGO jusqu'au {time} : {title}",
    "it": "SOTTO EMBARGO fino al {time}: {title}",
    "nl": "ONDER EMBARGO tot {time}: {title}",
    "pt": "SOB EMBARGO até {time}: {title}",
}
LIFT_FORMAT = "EEEE d MMMM y, HH:mm"


def _locale(settings: Settings) -> object:
    from babel import Locale, UnknownLocaleError

    try:
        return Locale.parse(settings.language.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


def lift_times(settings: Settings, lift: datetime) -> tuple[str, str]:
    """An embargo's lift time in the newsroom's language: in its zone (with the zone's
    name) and in UTC, written by Babel from CLDR."""
    from datetime import UTC

    from babel.dates import format_datetime

    locale = _locale(settings)
    local = format_datetime(lift, LIFT_FORMAT + " zzz", tzinfo=settings.timezone, locale=locale)
    utc = format_datetime(lift, LIFT_FORMAT, tzinfo=UTC, locale=locale) + " UTC"
    return local, utc


def embargo_subject(settings: Settings, item: Item, lift: datetime) -> str:
    """The subject of a send under embargo: breaking.embargo_subject with the lift time
    (the default wording translated into the newsroom's language)."""
    wording = settings.breaking.embargo_subject
    if wording == EMBARGO_SUBJECT:
        wording = EMBARGO_WORDING.get(settings.language.split("-")[0].casefold(), wording)
    return wording.format(time=lift_times(settings, lift)[0], title=item.title)


def private_placeholder(mailing_id: int) -> str:
    """Where a recipient's own private link goes in a body (digest.messages fills it)."""
    return f"{PLACEHOLDER_MARK}PRIVATE_URL-{mailing_id}{PLACEHOLDER_MARK}"


def render_embargoed(
    settings: Settings, item: Item, lift: datetime, mailing_id: int, notice: str = ""
) -> Rendered:
    """An item sent under embargo, by the breaking alert's own item block, with the lift
    time (newsroom zone and UTC), the embargo terms and the recipient's private link (the
    item's own link leads there too); with `notice`, a change of the embargo instead."""
    link = private_placeholder(mailing_id)
    local, utc = lift_times(settings, lift)
    subject = embargo_subject(settings, item, lift)
    if notice:
        subject = f"{notice}: {item.title}"
    context = {
        "settings": settings,
        "subject": subject,
        "preheader": f"{notice or 'Embargoed'} until {local} ({utc})"[:140],
        "item": item,
        "show_type": True,
        "item_link": lambda _item: link,
        "page_url": lambda _item: link,
        "private_url": link,
        "lift_local": local,
        "lift_utc": utc,
        "terms": settings.breaking.embargo_terms,
        "notice": notice,
    }
    return _render_in_full(settings, "embargoed", context, subject, item)
