"""The settings schema: every setting of config/digest.toml declared once, with its type,
default, environment variable and meaning, validated by pydantic (plain models: the
environment is read by `_environment_values` below and laid over the file's tables, which
spares every command pydantic-settings' own imports).

The environment overrides the file: `DIGEST_<SECTION>_<KEY>` for any setting (read as a TOML
value when it parses as one; booleans as true/false, 1/0 or yes/no), `DIGEST_TYPES` and
`DIGEST_SOURCES` as TOML arrays, and the deployment variables named by `env=` below. An
unknown section, key or variable is refused with the nearest known name. digest.config
imports this module only when it loads settings, so `digest --help` does not load pydantic.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, get_origin
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    model_validator,
)

from digest.dates import WEEKDAYS
from digest.errors import ConfigError

SOURCE_KINDS = ("listing", "html", "feed")
SELECTOR_FIELDS = ("item", "title", "link", "date", "summary", "type", "image")
ALERTS_IN_DIGEST = ("list", "omit")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
EMBARGO_ELEMENT = re.compile(r"^[A-Za-z_][\w.-]*(:[A-Za-z_][\w.-]*)?$")
CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
STORE_SCHEMES = re.compile(r"(sqlite(\+pysqlite)?|postgresql\+psycopg|postgres|postgresql)://")
ENV_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def setting(default: Any = ..., meaning: str = "", env: str | None = None) -> Any:
    """Declare one setting: its default (`...` for required), what it means, and the
    deployment variable that sets it besides DIGEST_<SECTION>_<KEY>."""
    return Field(default, description=meaning, json_schema_extra={"env": env} if env else None)


def _rule(check: Callable[[Any], Any]) -> PlainValidator:
    """A validator whose ValueError text is the whole message shown to the user."""
    return PlainValidator(check)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string (got {value!r})")
    return value.strip()


def _filled(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    return value


def _optional_filled(value: Any) -> str | None:
    return None if value is None else _filled(value)


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _whole(value: Any, problem: str, least: int) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise ValueError(problem.format(value=value))
    return value


def _positive(value: Any) -> int:
    return _whole(value, "must be a positive whole number (got {value!r})", 1)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false (got {value!r})")
    return value


def _url(value: Any) -> str:
    url = _text(value)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an absolute http(s) URL (got {url!r})")
    return url


def _optional_url(value: Any) -> str | None:
    return _url(value) if _text(value) else None


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("must be an array of strings")
    return value


def _clock(value: Any) -> tuple[int, int]:
    at = _text(value)
    match = CLOCK.fullmatch(at)
    if not match:
        raise ValueError(f"must be HH:MM (got {at!r})")
    return int(match[1]), int(match[2])


def _time_zone(value: Any) -> ZoneInfo:
    name = _text(value)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def _tag_date(value: Any) -> str:
    text = _text(value)
    if not re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", text):
        raise ValueError("must be YYYY, YYYY-MM or YYYY-MM-DD")
    return text


def _weekday(value: Any) -> str:
    day = _text(value).lower()[:3]
    if day not in WEEKDAYS:
        raise ValueError(f"must be one of {', '.join(WEEKDAYS)}")
    return day


def _alerts(value: Any) -> str:
    if _text(value) not in ALERTS_IN_DIGEST:
        raise ValueError(f"must be one of {', '.join(ALERTS_IN_DIGEST)}")
    return _text(value)


def _subject(value: Any) -> str:
    subject = _text(value)
    try:
        subject.format(summary="", date="", count=0, newsroom="")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"unknown placeholder {exc}; use {{summary}} {{date}} {{count}} {{newsroom}}"
        ) from None
    return subject


def _smtp_url(value: Any) -> str | None:
    url = _optional_text(value) or None
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("must look like smtp://user:pass@host:587 or smtps://host:465")
    return url


def _store_url(value: Any) -> str:
    url = _text(value)
    if not STORE_SCHEMES.match(url):
        scheme = url.split("://", 1)[0] if "://" in url else "no scheme"
        raise ValueError(
            "must be sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DATABASE "
            f"(got {scheme!r}; DATABASE_URL sets it too)"
        )
    return url


def _proxies(value: Any) -> tuple[str, ...]:
    entries = value if isinstance(value, list | tuple) else str(value).split(",")
    proxies = []
    for entry in (str(e).strip() for e in entries):
        if not entry:
            continue
        if entry != "*":
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network (or '*')") from None
        proxies.append(entry)
    return tuple(proxies)


def _addresses(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError("must be an array of email addresses")
    if not value:
        return ()
    from email_validator import EmailNotValidError, validate_email

    found = []
    for entry in (v.strip() for v in value):
        try:
            found.append(validate_email(entry, check_deliverability=False).normalized)
        except EmailNotValidError as exc:
            raise ValueError(f"{entry!r} is not an email address: {exc}") from None
    return tuple(found)


def _kind(value: Any) -> str:
    if value not in SOURCE_KINDS:
        raise ValueError(f"must be one of {', '.join(SOURCE_KINDS)}")
    return value


def _interval(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError("must be a whole number of minutes, at least 1")
    return value


MAX_BACKFILL_PAGES = 50


def _backfill_pages(value: Any) -> int:
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or not 1 <= value <= MAX_BACKFILL_PAGES
    ):
        raise ValueError(f"must be a whole number of pages, 1 to {MAX_BACKFILL_PAGES}")
    return value


def _categories(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError("must map category names to type slugs")
    return {k.casefold(): v for k, v in value.items()}


def _selectors(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(v, str) and v.strip() for v in value.values()
    ):
        raise ValueError("must map field names to CSS selectors")
    if unknown := sorted(set(value) - set(SELECTOR_FIELDS)):
        raise ValueError(f"unknown field {unknown[0]!r} (known: {', '.join(SELECTOR_FIELDS)})")
    if value and "item" not in value:
        raise ValueError("needs an `item` selector for the blocks")
    return dict(value)


def _css_selector(value: Any) -> str | None:
    text = _optional_filled(value)
    if text:
        from lxml.cssselect import CSSSelector, SelectorError

        try:
            CSSSelector(text)
        except SelectorError as exc:
            raise ValueError(f"bad CSS selector: {exc}") from None
    return text


def _hours(value: Any) -> int:
    return _whole(value, "must be a whole number of hours, 0 or more (got {value!r})", 0)


def _delay(value: Any) -> float:
    if isinstance(value, str) and re.fullmatch(r"\d+(\.\d+)?", value.strip()):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 60:
        raise ValueError(f"must be a number of seconds from 0 to 60 (got {value!r})")
    return float(value)


def _date_format(value: Any) -> str | None:
    text = _optional_filled(value)
    if text and "%" not in text:
        raise ValueError("must be a strptime format such as %d.%m.%Y")
    return text


def _page_base_url(value: Any) -> str | None:
    text = _optional_filled(value)
    if text and urlsplit(text).scheme not in ("http", "https"):
        raise ValueError("must be an http(s) URL")
    return text


def _embargo_element(value: Any) -> str | None:
    text = _optional_filled(value)
    if text and not EMBARGO_ELEMENT.match(text):
        raise ValueError("must be an element name such as dcterms:available")
    return text


def _count(value: Any) -> int:
    return _whole(value, "must be a whole number, 0 or more (got {value!r})", 0)


def _undo_seconds(value: Any) -> int:
    return _whole(value, "must be a whole number of seconds, 0 or more (got {value!r})", 0)


def _embargo_subject(value: Any) -> str:
    text = _text(value)
    if "{time}" not in text:
        raise ValueError(f"must hold {{time}}, where the lift time goes ({value!r})")
    try:
        text.format(time="", title="")
    except (KeyError, IndexError, ValueError):
        raise ValueError(f"may hold only {{time}} and {{title}} in braces ({value!r})") from None
    return text


def _slug(value: Any) -> str:
    if not isinstance(value, str) or not SLUG.match(value) or value == "all":
        raise ValueError(f"must be lower-case letters, digits, '-' ({value!r})")
    return value


def _bounce_address(value: Any) -> str:
    text = _text(value)
    if text and (text.count("{token}") != 1 or "@" not in text.replace("{token}", "")):
        raise ValueError(
            f"must be an address holding {{token}} once, e.g. bounces+{{token}}@host ({value!r})"
        )
    return text


def _mailbox_url(value: Any) -> str:
    text = _text(value)
    if text and not (text.startswith(("imaps://", "imap://")) and "@" in text):
        raise ValueError("must be imaps://user:password@host/FOLDER (imap:// uses STARTTLS)")
    return text


def _percent(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise ValueError(f"must be a percentage from 0 to 100 (got {value!r})")
    return float(value)


Text = Annotated[str, _rule(_text)]
Filled = Annotated[str, _rule(_filled)]
Positive = Annotated[int, _rule(_positive)]
Flag = Annotated[bool, _rule(_flag)]
Url = Annotated[str, _rule(_url)]
Clock = Annotated[tuple[int, int], _rule(_clock)]
OptionalText = Annotated[str | None, _rule(_optional_text)]


class Section(BaseModel):
    """A table of the file: unknown keys are refused, defaults go through the same checks."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class Newsroom(Section):
    """[newsroom]: the organisation."""

    name: Text = setting(meaning="organisation: feed author, email sender name, titles")
    url: Url = setting(meaning="the newsroom page; feeds' alternate link, base of relative links")
    language: Text = setting("en", "feed language")
    timezone: Annotated[ZoneInfo, _rule(_time_zone)] = setting(
        "America/New_York", "listing dates without a time are midnight in this zone"
    )
    contact_email: Text = setting("", "press contact, shown on the index page")
    tag_date: Annotated[str, _rule(_tag_date)] = setting(
        meaning="date part of tag: entry ids; never change it once feeds are public"
    )


class TypeEntry(Section):
    """One [[types]] table: a kind of item, in the order digests list them."""

    label: Filled = setting(meaning="how the listing page names the type")
    slug: Annotated[str, _rule(_slug)] = setting(meaning="names the type's feed files")
    feed_title: Text = setting("", "title of the type's feed (default: the label)")
    plural: Text = setting("", "plural of the label (default: label + s)")

    @model_validator(mode="before")
    @classmethod
    def _table(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError("must be a table with label, slug and feed_title")
        return value


class SourceEntry(Section):
    """One [[sources]] table: where items come from and how its pages are read."""

    name: Filled = setting(meaning="the source's own name")
    kind: Annotated[str, _rule(_kind)] = setting(meaning="listing, html or feed")
    location: Filled = setting(meaning="a file, a glob of files or an http(s) URL")
    interval: Annotated[int, _rule(_interval)] = setting(15, "poll interval in minutes")
    categories: Annotated[dict[str, str], _rule(_categories)] = setting(
        {}, "feed categories mapped to type slugs"
    )
    selectors: Annotated[dict[str, str], _rule(_selectors)] = setting(
        {}, "CSS selectors of an html page's fields (item is required)"
    )
    date_format: Annotated[str | None, _rule(_date_format)] = setting(
        None, "strptime format of the page's dates"
    )
    language: Annotated[str | None, _rule(_optional_filled)] = setting(
        None, "language of the page's month names"
    )
    day_first: Flag = setting(False, "numeric dates put the day first")
    base_url: Annotated[str | None, _rule(_page_base_url)] = setting(
        None, "the address a saved page came from; relative links resolve against it"
    )
    embargo_element: Annotated[str | None, _rule(_embargo_element)] = setting(
        None, "feed element holding an item's embargo time, such as dcterms:available"
    )
    backfill_pages: Annotated[int, _rule(_backfill_pages)] = setting(
        5,
        "pages of a URL html source read on its first read, following its pagination "
        "(rel=next, Older posts, numbered pagers); later polls read the first page only",
    )
    follow: Flag = setting(
        True,
        "read each item's own page on the listing's site (full text, lead photo, documents, "
        "press contact); a feed entry carrying its full text is not followed",
    )
    article_selector: Annotated[str | None, _rule(_css_selector)] = setting(
        None, "CSS selector of the article text on item pages (default: found by trafilatura)"
    )

    @model_validator(mode="before")
    @classmethod
    def _table(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError("must be a table with name, kind and location")
        return value


class Parser(Section):
    """[parser]: how listing pages are read."""

    boilerplate: Annotated[list[str], _rule(_strings)] = setting(
        [], "page lines dropped wherever they appear (compared with whitespace normalised)"
    )
    max_caption_lines: Positive = setting(2, "caption lines kept right before an item")


class Feeds(Section):
    """[feeds]: the files written."""

    size: Positive = setting(50, "entries per feed (the newest)")
    full_text: Annotated[int, _rule(_count)] = setting(
        20, "newest entries per feed carrying their page's full text, photo and documents; 0: none"
    )
    output: Text = setting("public", "folder of the feeds, the OPML file and index.html")
    refresh_seconds: Positive = setting(
        30, "how often the web process checks the store for changed items"
    )


class Fetch(Section):
    """[fetch]: how pages of other sites (item pages, backfill pages) are requested."""

    delay_seconds: Annotated[float, _rule(_delay)] = setting(
        1.0, "pause between the starts of two requests to one host (robots.txt Crawl-delay wins)"
    )
    pages_per_run: Positive = setting(
        40, "item pages read per source and poll at most; the rest wait for the next poll"
    )
    timeout_seconds: Positive = setting(30, "wait for another site at each step of a request")
    revisit_hours: Annotated[int, _rule(_hours)] = setting(
        6,
        "read a recent item's page again (conditional GET) this often to catch edits; 0: never",
    )
    revisit_days: Positive = setting(7, "an item's page is revisited this many days after it")


class Site(Section):
    """[site]: the public address and what secures it."""

    base_url: Url = setting(
        "http://127.0.0.1:8000/", "public address of feeds and pages", env="BASE_URL"
    )
    secret_key: Text = setting(
        "", "signs subscriber links; unset: made once in var/secret_key", env="SECRET_KEY"
    )
    admin_password: Text = setting(
        "", "creates the first admin account once (password or PBKDF2 hash)", env="ADMIN_PASSWORD"
    )
    websub_hub_url: Annotated[str | None, _rule(_optional_url)] = setting(
        "", "WebSub hub the feeds advertise; unset: no hub", env="WEBSUB_HUB_URL"
    )
    trusted_proxies: Annotated[tuple[str, ...], _rule(_proxies)] = setting(
        (), "proxies whose X-Forwarded-For is believed, or *", env="TRUSTED_PROXIES"
    )
    web_concurrency: Positive = setting(
        1, "worker processes of digest serve", env="WEB_CONCURRENCY"
    )
    connections_per_client: Positive = setting(
        100, "open connections one client address may hold in digest serve (proxies: any)"
    )


class Email(Section):
    """[email]: how emails look and who they come from."""

    from_address: OptionalText = setting(None, "sender address (default: newsroom.contact_email)")
    from_name: OptionalText = setting(None, "sender name (default: newsroom.name)")
    reply_to: OptionalText = setting(None, "Reply-To (default: newsroom.contact_email)")
    weekly_subject: Annotated[str, _rule(_subject)] = setting(
        "Weekly digest: {summary} — {date}", "weekly subject; {summary} {date} {count} {newsroom}"
    )
    breaking_prefix: Text = setting("Breaking: ", "breaking subject: this prefix and the title")
    lookback_days: Positive = setting(7, "the first digest and late items look back this far")
    max_items_per_type: Positive = setting(15, "items per type in one digest")
    list_id: OptionalText = setting(None, "List-Id (default: press.<newsroom host>)")
    unsubscribe_address: OptionalText = setting(
        None, "mailto: of List-Unsubscribe (default: from_address)"
    )
    alerts_in_digest: Annotated[str, _rule(_alerts)] = setting(
        "list", "items sent as alerts: list them apart in the next digest, or omit them"
    )
    daily_time: Clock = setting("07:00", "daily digest time on weekdays (newsroom.timezone)")
    dkim_key_file: Text = setting("", "PEM private key file; set, messages are DKIM-signed")
    dkim_selector: Text = setting("digest", "DKIM selector of the DNS record")
    dkim_domain: OptionalText = setting(None, "DKIM domain (default: from_address's domain)")
    bounce_address: Annotated[str, _rule(_bounce_address)] = setting(
        "", "VERP envelope sender, e.g. bounces+{token}@news.example.org; unset: from_address"
    )


class Breaking(Section):
    """[breaking]: how breaking alerts are guarded."""

    undo_seconds: Annotated[int, _rule(_undo_seconds)] = setting(
        120, "undo window after send; 0 sends at once"
    )
    approval: Flag = setting(False, "a second sender must approve each alert")
    test_addresses: Annotated[tuple[str, ...], _rule(_addresses)] = setting(
        (), "where staff may send a test alert besides their own address (a test list)"
    )
    embargo_subject: Annotated[str, _rule(_embargo_subject)] = setting(
        "EMBARGOED until {time}: {title}",
        "subject of a send under embargo; {time} (the lift, newsroom's language) {title}",
    )
    embargo_terms: Text = setting(
        "This material is under embargo until the time above. Do not publish, broadcast or "
        "share it before then.",
        "the organisation's embargo terms, in every embargoed mail and private page",
    )


class Sender(Section):
    """[sender]: the delivery engine."""

    smtp_url: Annotated[str | None, _rule(_smtp_url)] = setting(
        "",
        "SMTP relay smtp://user:pass@host:587 or smtps://host:465; unset: outbox",
        env="SMTP_URL",
    )
    outbox: Text = setting("outbox", "folder of .eml files when there is no relay")
    connections: Positive = setting(4, "SMTP connections per sender process")
    rate: Positive = setting(50, "messages per second per sender process")
    per_connection: Positive = setting(100, "messages per connection")
    batch: Positive = setting(200, "deliveries claimed at a time")
    max_attempts: Positive = setting(5, "attempts for 4xx replies and dropped connections")
    backoff_seconds: Positive = setting(60, "retry delay, doubled per attempt")
    lease_seconds: Positive = setting(300, "a claimed delivery not recorded by then is retried")
    timeout_seconds: Positive = setting(30, "wait for the SMTP server at each step")
    record_batch: Positive = setting(20, "most outcomes sent but not yet written")
    relay_backoff_seconds: Positive = setting(10, "first retry of an unreachable relay")
    relay_wait_seconds: Positive = setting(120, "how long one run waits for the relay")
    smtputf8: Flag = setting(False, "the relay accepts non-ASCII local parts (SMTPUTF8)")


class Schedule(Section):
    """[schedule]: when the clock runs its jobs (newsroom.timezone)."""

    poll_minutes: Positive = setting(15, "poll the sources and publish this often")
    jitter_seconds: Positive = setting(60, "plus up to this much")
    weekly_day: Annotated[str, _rule(_weekday)] = setting("mon", "weekly digest day")
    weekly_time: Clock = setting("09:00", "weekly digest time")
    misfire_grace_minutes: Positive = setting(360, "a clock back within this still sends")
    lease_seconds: Positive = setting(60, "the one clock's lease, renewed every third")


class Bounces(Section):
    """[bounces]: what returned mail (DSNs, complaint reports) does to the press list."""

    mailbox_url: Annotated[str, _rule(_mailbox_url)] = setting(
        "",
        "mailbox the clock reads bounces from, imaps://user:pass@host/INBOX; unset: none",
        env="BOUNCE_MAILBOX_URL",
    )
    processed: Text = setting("", "IMAP folder for read messages; unset: they are deleted")
    poll_minutes: Positive = setting(10, "read the bounce mailbox this often")
    soft_limit: Positive = setting(3, "this many soft bounces (4.x.x, mailbox full) ...")
    soft_days: Positive = setting(30, "... within this many days suppress the address")
    hard_rate_warning: Annotated[float, _rule(_percent)] = setting(
        5.0, "a mailing whose hard bounces pass this percentage of its sends warns"
    )


class Store(Section):
    """[store]: the database."""

    database_url: Annotated[str, _rule(_store_url)] = setting(
        "sqlite:///var/digest.db", "SQLite file or postgresql://user@host/db", env="DATABASE_URL"
    )


def _type_list(value: Any) -> Any:
    if not isinstance(value, list) or not value:
        raise ValueError("must be a non-empty array of [[types]] tables")
    return value


def _distinct_types(types: list[TypeEntry]) -> list[TypeEntry]:
    for attribute in ("label", "slug"):
        values = [getattr(t, attribute).casefold() for t in types]
        if len(set(values)) != len(values):
            raise ValueError(f"each type needs its own {attribute}")
    return types


def _source_list(value: Any) -> Any:
    if not isinstance(value, list):
        raise ValueError("must be an array of [[sources]] tables")
    return value


def _distinct_sources(sources: list[SourceEntry]) -> list[SourceEntry]:
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise ValueError("each source needs its own name")
    return sources


class ConfigFile(BaseModel):
    """The whole configuration: the file's tables, then the environment over them."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    newsroom: Newsroom = Field(description="the organisation")
    types: Annotated[
        list[TypeEntry], BeforeValidator(_type_list), AfterValidator(_distinct_types)
    ] = Field([], description="item types, in digest order")
    parser: Parser = Field(default_factory=Parser)
    sources: Annotated[
        list[SourceEntry], BeforeValidator(_source_list), AfterValidator(_distinct_sources)
    ] = Field([], description="where items come from")
    feeds: Feeds = Field(default_factory=Feeds)
    fetch: Fetch = Field(default_factory=Fetch)
    site: Site = Field(default_factory=Site)
    email: Email = Field(default_factory=Email)
    breaking: Breaking = Field(default_factory=Breaking)
    sender: Sender = Field(default_factory=Sender)
    schedule: Schedule = Field(default_factory=Schedule)
    bounces: Bounces = Field(default_factory=Bounces)
    store: Store = Field(default_factory=Store)

    @model_validator(mode="before")
    @classmethod
    def _newsroom_is_required(cls, data: Any) -> Any:
        if isinstance(data, dict) and "newsroom" not in data:
            data = {**data, "newsroom": {}}
        return data


ARRAYS = ("types", "sources")
SECTIONS: dict[str, type[Section]] = {
    name: info.annotation
    for name, info in ConfigFile.model_fields.items()
    if isinstance(info.annotation, type) and issubclass(info.annotation, Section)
}
ENTRIES: dict[str, type[Section]] = {"types": TypeEntry, "sources": SourceEntry}


def deployment_variables() -> dict[str, tuple[str, str]]:
    """The variables without the DIGEST_ prefix (BASE_URL, DATABASE_URL, ...) and the
    setting each sets."""
    found = {}
    for section, model in SECTIONS.items():
        for key, info in model.model_fields.items():
            if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("env"):
                found[str(info.json_schema_extra["env"])] = (section, key)
    return found


def variable_of(loc: tuple[str | int, ...]) -> str:
    """The environment variable that sets the setting at `loc`."""
    names = [str(part) for part in loc if not isinstance(part, int)]
    if len(names) >= 2 and names[0] in SECTIONS:
        info = SECTIONS[names[0]].model_fields.get(names[1])
        extra = info.json_schema_extra if info else None
        if isinstance(extra, dict) and extra.get("env"):
            return str(extra["env"])
    if names and names[0] in ARRAYS:
        return f"DIGEST_{names[0].upper()}"
    return "DIGEST_" + "_".join(names[:2]).upper()


@dataclass
class _Environment:
    """The environment one load reads, and which setting each variable set."""

    variables: Mapping[str, str]
    setters: dict[tuple[str, ...], str] = field(default_factory=dict)


def _environment_values(environment: _Environment) -> dict[str, Any]:
    """DIGEST_<SECTION>_<KEY>, DIGEST_TYPES, DIGEST_SOURCES and the deployment variables,
    each value read by its setting's type, as tables to lay over the file's; an unknown
    DIGEST_ variable is refused. Records which variable set each setting."""
    values: dict[str, Any] = {}
    variables = environment.variables
    for variable, (section, key) in deployment_variables().items():
        if variables.get(variable):
            _set(values, environment, variable, (section, key), variables[variable])
    for variable, text in variables.items():
        if not variable.startswith("DIGEST_") or variable == "DIGEST_CONFIG":
            continue
        name = variable.removeprefix("DIGEST_").lower()
        if name in ARRAYS:
            values[name] = _toml_value(variable, text)
            environment.setters[(name,)] = variable
            continue
        section, _, key = name.partition("_")
        if section not in SECTIONS or key not in SECTIONS[section].model_fields:
            raise ConfigError(_unknown_variable(variable))
        _set(values, environment, variable, (section, key), text)
    return values


def _set(
    values: dict[str, Any],
    environment: _Environment,
    variable: str,
    place: tuple[str, str],
    text: str,
) -> None:
    section, key = place
    values.setdefault(section, {})[key] = _typed(variable, place, text)
    environment.setters[place] = variable


def _laid_over(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `over`'s values in place of its own, table by table (arrays replaced
    whole), as pydantic-settings merged the environment over the file."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(merged.get(key), dict) and isinstance(value, dict):
            merged[key] = _laid_over(merged[key], value)
        else:
            merged[key] = value
    return merged


class _BadVariable(Exception):
    """An environment value its setting's type cannot read (raised outside pydantic's
    validation, so validate() names the place itself)."""

    def __init__(self, place: tuple[str, str], problem: str) -> None:
        super().__init__(problem)
        self.place = place
        self.problem = problem


def _typed(variable: str, place: tuple[str, str], text: str) -> Any:
    """An environment value as its setting's type: booleans one way (true/false, 1/0,
    yes/no), numbers and arrays as TOML values, anything else as the text (unquoted when
    it is a TOML string); a value of the wrong kind is left for the setting's check."""
    annotation = SECTIONS[place[0]].model_fields[place[1]].annotation
    if annotation is bool:
        flag = ENV_BOOLEANS.get(text.strip().lower())
        if flag is None:
            raise _BadVariable(place, f"must be true or false, 1/0 or yes/no (got {text!r})")
        return flag
    try:
        value = tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text
    if annotation is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else text
    if get_origin(annotation) in (list, dict) or annotation == tuple[str, ...]:
        return value
    return value if isinstance(value, str) else text


def _variable_for(place: tuple[str, str], environ: Mapping[str, str]) -> str:
    """The variable that set `place`: DIGEST_<SECTION>_<KEY> when present, else its
    deployment variable."""
    digest = f"DIGEST_{place[0]}_{place[1]}".upper()
    return digest if digest in environ else variable_of(place)


def _toml_value(variable: str, text: str) -> Any:
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        raise ConfigError(f"{variable}: not a TOML value: {text!r}") from None


def _unknown_variable(variable: str) -> str:
    known = [f"DIGEST_{name.upper()}" for name in ARRAYS] + [
        f"DIGEST_{section}_{key}".upper()
        for section, model in SECTIONS.items()
        for key in model.model_fields
    ]
    hint = _nearest(variable, known, "{}")
    return f"environment variable {variable}: no such setting{hint}"


def _nearest(name: str, known: list[str], shape: str) -> str:
    match = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"; did you mean {shape.format(match[0])}?" if match else ""


def validate(
    raw: Mapping[str, Any],
    origin: str,
    environ: Mapping[str, str] | None = None,
    text: str | None = None,
) -> tuple[ConfigFile, Locator]:
    """Validate a parsed file (and the environment over it, when given) into ConfigFile;
    the first problem raises ConfigError naming the setting, and the file's line when the
    value came from the file and its text is given. The Locator names later problems
    (those that look at two settings at once) the same way."""
    environment = _Environment(environ or {})
    where = Locator(origin, text, environment.setters)
    try:
        data = dict(raw)
        if environ is not None:
            data = _laid_over(data, _environment_values(environment))
        return ConfigFile.model_validate(data), where
    except ValidationError as exc:
        raise where.from_validation(exc, raw) from None
    except _BadVariable as exc:
        environment.setters[exc.place] = _variable_for(exc.place, environ or {})
        raise where.error(exc.place, exc.problem) from None


class Locator:
    """Turns a problem at a place in the settings into a message naming the file, the line
    (found by scanning the TOML text), the setting and its environment variable."""

    def __init__(
        self, origin: str, text: str | None, setters: Mapping[tuple[str, ...], str]
    ) -> None:
        self.origin = origin
        self.text = text
        self.setters = setters

    def error(self, loc: tuple[str | int, ...], problem: str) -> ConfigError:
        """The ConfigError for `problem` with the setting at `loc`: the variable that set
        it, else the file and its line."""
        name = _dotted(loc)
        setter = _setter(loc, self.setters)
        if setter:
            return ConfigError(f"{self.origin}: setting {name} ({setter}): {problem}")
        line = _line_of(self.text, loc) if self.text else None
        at = f" (line {line})" if line else ""
        return ConfigError(f"{self.origin}: setting {name} ({variable_of(loc)}): {problem}{at}")

    def from_validation(self, exc: ValidationError, raw: Mapping[str, Any]) -> ConfigError:
        """The first problem pydantic found, unknown names before bad values."""
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        first = errors[0]
        loc = tuple(first["loc"])
        if first["type"] == "extra_forbidden":
            return ConfigError(self._unknown(loc, raw))
        if first["type"] == "missing":
            return self.error(loc, "is required")
        if first["type"] in ("model_type", "model_attributes_type", "dict_type"):
            return self.error(loc, "must be a table")
        cause = (first.get("ctx") or {}).get("error")
        return self.error(loc, str(cause) if cause else first["msg"])

    def _unknown(self, loc: tuple[str | int, ...], raw: Mapping[str, Any]) -> str:
        *table, key = (str(part) if not isinstance(part, int) else part for part in loc)
        tables = [*SECTIONS, *ARRAYS]
        if not table:
            value = raw.get(str(key))
            if isinstance(value, dict | list):
                shape = f"[[{key}]]" if isinstance(value, list) else f"[{key}]"
                match = difflib.get_close_matches(str(key), tables, n=1, cutoff=0.6)
                hint = f"; did you mean `{_header(match[0])}`?" if match else ""
                return f"{self._where(loc)}: `{shape}`: no such section{hint}"
            hint = _nearest(str(key), tables, "`{}`")
            return f"{self._where(loc)}: `{key}`: no such setting{hint}"
        model = SECTIONS.get(str(table[0])) or ENTRIES.get(str(table[0]))
        hint = _nearest(str(key), list(model.model_fields) if model else [], "`{}`")
        return f"{self._where(loc)}: `{_header(str(table[0]))} {key}`: no such setting{hint}"

    def _where(self, loc: tuple[str | int, ...]) -> str:
        line = _line_of(self.text, loc) if self.text else None
        return f"{self.origin} line {line}" if line else self.origin


def _header(table: str) -> str:
    return f"[[{table}]]" if table in ARRAYS else f"[{table}]"


def _dotted(loc: tuple[str | int, ...]) -> str:
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else f".{part}" if name else str(part)
    return name


def _setter(loc: tuple[str | int, ...], setters: Mapping[tuple[str, ...], str]) -> str | None:
    names = tuple(str(part) for part in loc if not isinstance(part, int))
    for size in (2, 1):
        if names[:size] in setters:
            return setters[names[:size]]
    return None


HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\"' -]+?)\s*\]\]?\s*(#.*)?$")
KEY = re.compile(r"^\s*(\"[^\"]*\"|'[^']*'|[A-Za-z0-9_-]+)\s*=")


def _tables(text: str) -> Iterator[tuple[int, tuple[str | int, ...], str | None]]:
    """Each line's table (`("sender",)` or `("sources", 1)`) and the key it sets, if any."""
    table: tuple[str | int, ...] = ()
    counts: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        header = HEADER.match(line)
        if header:
            name = header[2].strip("\"'")
            if header[1] == "[[":
                counts[name] = counts.get(name, -1) + 1
                table = (name, counts[name])
            else:
                table = (name,)
            yield number, table, None
            continue
        key = KEY.match(line)
        if key:
            yield number, table, key[1].strip("\"'")


def _line_of(text: str, loc: tuple[str | int, ...]) -> int | None:
    """The line of the TOML text that sets `loc`: its key, else its table's header."""
    table = loc[:2] if len(loc) >= 2 and isinstance(loc[1], int) else loc[:1]
    key = loc[len(table)] if len(loc) > len(table) else None
    header_line = None
    for number, at, name in _tables(text):
        if at == table and name is None and header_line is None:
            header_line = number
        if at == table and key is not None and name == key:
            return number
        if len(table) == 1 and at == (table[0], 0) and name is None and header_line is None:
            header_line = number
        if at == () and name == table[0] and header_line is None:
            header_line = number
    return header_line
