"""Settings: the TOML file plus environment overrides, validated once at start-up.

Every setting `section.key` can be overridden by `DIGEST_SECTION_KEY` (a TOML value, or a
plain string); the deployment variables `BASE_URL` and `DATABASE_URL` override
`site.base_url` and `store.database_url`. The file is `--config FILE`, else `DIGEST_CONFIG`,
else ./config/digest.toml, else the packaged defaults.
"""

from __future__ import annotations

import os
import re
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from digest.errors import ConfigError
from digest.model import ItemType

DEFAULT_CONFIG = Path("config/digest.toml")
SOURCE_KINDS = ("listing", "html", "feed")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
DEPLOYMENT_VARIABLES = {
    "BASE_URL": ("site", "base_url"),
    "DATABASE_URL": ("store", "database_url"),
    "SMTP_URL": ("sender", "smtp_url"),
    "SECRET_KEY": ("site", "secret_key"),
    "ADMIN_PASSWORD": ("site", "admin_password"),
    "WEBSUB_HUB_URL": ("site", "websub_hub_url"),
    "TRUSTED_PROXIES": ("site", "trusted_proxies"),
    "WEB_CONCURRENCY": ("site", "web_concurrency"),
}
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "0.0.0.0")
SECRET_FILE = Path("var/secret_key")


@dataclass(frozen=True)
class SourceConfig:
    """One configured source: where to read, how, and how often to poll."""

    name: str
    kind: str
    location: str
    interval_minutes: int = 15
    categories: Mapping[str, str] = field(default_factory=dict)
    selectors: Mapping[str, str] = field(default_factory=dict)
    date_format: str | None = None
    language: str | None = None
    day_first: bool = False
    base_url: str | None = None
    embargo_element: str | None = None

    @property
    def is_url(self) -> bool:
        return urlsplit(self.location).scheme in ("http", "https")


@dataclass(frozen=True)
class EmailSettings:
    """How emails look and who they come from."""

    from_address: str
    from_name: str
    reply_to: str | None
    weekly_subject: str
    breaking_prefix: str
    lookback_days: int
    max_items_per_type: int
    list_id: str
    unsubscribe_address: str
    dkim_key: bytes | None = None
    dkim_selector: str = "digest"
    dkim_domain: str = ""


@dataclass(frozen=True)
class SenderSettings:
    """Limits of the delivery engine."""

    connections: int
    rate: float
    per_connection: int
    batch: int
    max_attempts: int
    backoff_seconds: float
    lease_seconds: float
    timeout_seconds: float
    outbox: Path
    record_batch: int = 20
    relay_backoff_seconds: float = 10.0
    relay_wait_seconds: float = 120.0
    smtputf8: bool = False


@dataclass(frozen=True)
class ScheduleSettings:
    """When the clock process runs its jobs (in the newsroom's time zone)."""

    poll_minutes: int = 15
    jitter_seconds: int = 60
    weekly_day: str = "mon"
    weekly_hour: int = 9
    weekly_minute: int = 0
    misfire_grace_minutes: int = 360
    lease_seconds: int = 60


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALERTS_IN_DIGEST = ("list", "omit")


@dataclass(frozen=True)
class BreakingSettings:
    """How breaking alerts are guarded: the undo window after "send" (0 sends at once),
    and whether a second person must approve."""

    undo_seconds: int = 120
    approval: bool = False


@dataclass(frozen=True)
class CadenceSettings:
    """What digests carry besides news, and when the daily digest goes (weekdays)."""

    alerts_in_digest: str = "list"
    daily_hour: int = 7
    daily_minute: int = 0


@dataclass(frozen=True)
class Settings:
    """Everything the program reads from configuration, as plain validated values."""

    newsroom_name: str
    newsroom_url: str
    language: str
    timezone: ZoneInfo
    tag_date: str
    types: tuple[ItemType, ...]
    boilerplate: frozenset[str]
    max_caption_lines: int
    sources: tuple[SourceConfig, ...]
    feed_size: int
    output_dir: Path
    base_url: str
    database_url: str
    email: EmailSettings
    sender: SenderSettings
    secret_key: str
    schedule: ScheduleSettings = ScheduleSettings()
    feed_refresh_seconds: int = 30
    admin_password: str | None = None
    smtp_url: str | None = None
    contact_email: str | None = None
    websub_hub_url: str | None = None
    secret_key_generated: bool = False
    trusted_proxies: tuple[str, ...] = ()
    web_concurrency: int = 1
    breaking: BreakingSettings = BreakingSettings()
    cadence: CadenceSettings = CadenceSettings()

    @property
    def tag_authority(self) -> str:
        return urlsplit(self.newsroom_url).hostname or "localhost"

    def type_by_label(self, label: str) -> ItemType | None:
        folded = label.casefold()
        return next((t for t in self.types if t.label.casefold() == folded), None)

    def type_by_slug(self, slug: str | None) -> ItemType | None:
        return next((t for t in self.types if t.slug == slug), None)

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources) or "none"
        raise ConfigError(f"no source named {name!r} in sources (configured: {known})")


def find_config(
    explicit: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Path:
    """The configuration file to read, found the usual way: the --config option, else
    DIGEST_CONFIG, else ./config/digest.toml, else the defaults packaged with the program."""
    env = os.environ if environ is None else environ
    if explicit:
        return Path(explicit)
    if env.get("DIGEST_CONFIG"):
        return Path(env["DIGEST_CONFIG"])
    if DEFAULT_CONFIG.is_file():
        return DEFAULT_CONFIG
    from digest.resources import packaged_config

    return packaged_config() / "digest.toml"


def is_packaged(path: Path) -> bool:
    """True for the defaults packaged with the program (no configuration of one's own)."""
    from digest.resources import packaged_config

    packaged = (packaged_config() / "digest.toml").resolve()
    if DEFAULT_CONFIG.is_file() and DEFAULT_CONFIG.resolve() == packaged:
        return False  # run in the repository checkout, on its own config/digest.toml
    return path.resolve() == packaged


def load_settings(
    environ: Mapping[str, str] | None = None,
    config: str | os.PathLike[str] | None = None,
    *,
    keep_secret: bool = True,
) -> Settings:
    """Read the configuration file (see find_config), apply the environment, and validate;
    a bad setting raises ConfigError naming it. With keep_secret=False a missing
    SECRET_KEY gets a throwaway value instead of var/secret_key (for commands that sign
    nothing, such as `digest parse`, which must not write into the folder they run in)."""
    env = os.environ if environ is None else environ
    path = find_config(config, env)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: configuration file not found (from --config or DIGEST_CONFIG)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read configuration file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    raw = apply_environment(raw, env)
    if not keep_secret and not _configured_secret(raw) and not SECRET_FILE.is_file():
        raw.setdefault("site", {})["secret_key"] = secrets.token_urlsafe(32)
    return settings_from_mapping(raw, origin=str(path))


def _configured_secret(raw: Mapping[str, Any]) -> bool:
    site = raw.get("site")
    return isinstance(site, dict) and bool(site.get("secret_key"))


def apply_environment(raw: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """Return a copy of the raw config with DIGEST_* and deployment variables applied."""
    merged = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
    for variable, (section, key) in DEPLOYMENT_VARIABLES.items():
        if env.get(variable):
            merged.setdefault(section, {})[key] = env[variable]
    for variable, value in env.items():
        if not variable.startswith("DIGEST_") or variable == "DIGEST_CONFIG":
            continue
        name = variable.removeprefix("DIGEST_").lower()
        if name in ("types", "sources"):
            merged[name] = _toml_value(variable, value)
            continue
        section, _, key = name.partition("_")
        if key:
            merged.setdefault(section, {})
            if isinstance(merged[section], dict):
                merged[section][key] = _toml_value(variable, value, allow_string=True)
    return merged


def _toml_value(variable: str, text: str, allow_string: bool = False) -> Any:
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        if allow_string:
            return text
        raise ConfigError(f"{variable}: not a TOML value: {text!r}") from None


def settings_from_mapping(raw: Mapping[str, Any], origin: str = "config") -> Settings:
    """Validate a raw configuration mapping into Settings."""
    check = _Checker(raw, origin)
    newsroom_url = check.url("newsroom", "url")
    timezone_name = check.text("newsroom", "timezone", "America/New_York")
    try:
        timezone = ZoneInfo(timezone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise check.error("newsroom.timezone", f"unknown time zone {timezone_name!r}") from None
    tag_date = check.text("newsroom", "tag_date")
    if not re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", tag_date):
        raise check.error("newsroom.tag_date", "must be YYYY, YYYY-MM or YYYY-MM-DD")
    base_url = check.url("site", "base_url", "http://127.0.0.1:8000/")
    types = _item_types(raw.get("types"), check)
    sources = _sources(raw.get("sources", []), check)
    slugs = {t.slug for t in types}
    for index, source in enumerate(sources):
        for category, slug in source.categories.items():
            if slug not in slugs:
                raise check.error(
                    f"sources[{index}].categories", f"{category!r} maps to unknown type {slug!r}"
                )
    name = check.text("newsroom", "name")
    contact_email = check.text("newsroom", "contact_email", "") or None
    return Settings(
        newsroom_name=name,
        newsroom_url=newsroom_url,
        language=check.text("newsroom", "language", "en"),
        timezone=timezone,
        tag_date=tag_date,
        contact_email=contact_email,
        types=types,
        boilerplate=frozenset(
            " ".join(line.split()) for line in check.strings("parser", "boilerplate")
        ),
        max_caption_lines=check.positive("parser", "max_caption_lines", 2),
        sources=sources,
        feed_size=check.positive("feeds", "size", 50),
        output_dir=Path(check.text("feeds", "output", "public")),
        base_url=base_url if base_url.endswith("/") else base_url + "/",
        database_url=_store_url(check),
        email=_email_settings(check, name, contact_email, newsroom_url),
        sender=_sender_settings(check),
        secret_key=check.text("site", "secret_key", "") or _local_secret(),
        secret_key_generated=not check.text("site", "secret_key", ""),
        trusted_proxies=_trusted_proxies(check),
        web_concurrency=check.positive("site", "web_concurrency", 1),
        schedule=_schedule_settings(check),
        feed_refresh_seconds=check.positive("feeds", "refresh_seconds", 30),
        admin_password=check.text("site", "admin_password", "") or None,
        smtp_url=_smtp_url(check),
        websub_hub_url=check.url("site", "websub_hub_url", "http://unset/")
        if check.text("site", "websub_hub_url", "")
        else None,
        breaking=_breaking_settings(check),
        cadence=_cadence_settings(check),
    )


def _breaking_settings(check: _Checker) -> BreakingSettings:
    undo = check.value("breaking", "undo_seconds", 120)
    if isinstance(undo, str) and undo.strip().isdigit():
        undo = int(undo)
    if not isinstance(undo, int) or isinstance(undo, bool) or undo < 0:
        raise check.error(
            "breaking.undo_seconds", f"must be a whole number of seconds, 0 or more (got {undo!r})"
        )
    approval = check.value("breaking", "approval", False)
    if isinstance(approval, str) and approval.strip().lower() in ("true", "false"):
        approval = approval.strip().lower() == "true"
    if not isinstance(approval, bool):
        raise check.error("breaking.approval", f"must be true or false (got {approval!r})")
    return BreakingSettings(undo_seconds=undo, approval=approval)


def _cadence_settings(check: _Checker) -> CadenceSettings:
    alerts = check.text("email", "alerts_in_digest", "list")
    if alerts not in ALERTS_IN_DIGEST:
        raise check.error("email.alerts_in_digest", f"must be one of {', '.join(ALERTS_IN_DIGEST)}")
    at = check.text("email", "daily_time", "07:00")
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", at)
    if not match:
        raise check.error("email.daily_time", f"must be HH:MM (got {at!r})")
    return CadenceSettings(
        alerts_in_digest=alerts, daily_hour=int(match[1]), daily_minute=int(match[2])
    )


def _email_settings(
    check: _Checker, name: str, contact_email: str | None, newsroom_url: str
) -> EmailSettings:
    from_address = check.text("email", "from_address", contact_email or "")
    if "@" not in from_address:
        raise check.error("email.from_address", "must be an email address")
    host = urlsplit(newsroom_url).hostname or "localhost"
    subject = check.text("email", "weekly_subject", "Weekly digest: {summary} — {date}")
    try:
        subject.format(summary="", date="", count=0, newsroom="")
    except (KeyError, IndexError, ValueError) as exc:
        raise check.error(
            "email.weekly_subject",
            f"unknown placeholder {exc}; use {{summary}} {{date}} {{count}} {{newsroom}}",
        ) from None
    return EmailSettings(
        from_address=from_address,
        from_name=check.text("email", "from_name", name),
        reply_to=check.text("email", "reply_to", contact_email or "") or None,
        weekly_subject=subject,
        breaking_prefix=check.text("email", "breaking_prefix", "Breaking: "),
        lookback_days=check.positive("email", "lookback_days", 7),
        max_items_per_type=check.positive("email", "max_items_per_type", 15),
        list_id=check.text("email", "list_id", f"press.{host}"),
        unsubscribe_address=check.text("email", "unsubscribe_address", from_address),
        dkim_key=_dkim_key(check),
        dkim_selector=check.text("email", "dkim_selector", "digest"),
        dkim_domain=check.text("email", "dkim_domain", from_address.rpartition("@")[2]),
    )


def _dkim_key(check: _Checker) -> bytes | None:
    path = check.text("email", "dkim_key_file", "")
    if not path:
        return None
    try:
        key = Path(path).read_bytes()
    except OSError as exc:
        raise check.error("email.dkim_key_file", f"cannot read {path}: {exc.strerror}") from None
    if b"PRIVATE KEY" not in key:
        raise check.error("email.dkim_key_file", f"{path} is not a PEM private key")
    return key


def _sender_settings(check: _Checker) -> SenderSettings:
    return SenderSettings(
        connections=check.positive("sender", "connections", 4),
        rate=float(check.positive("sender", "rate", 50)),
        per_connection=check.positive("sender", "per_connection", 100),
        batch=check.positive("sender", "batch", 200),
        max_attempts=check.positive("sender", "max_attempts", 5),
        backoff_seconds=float(check.positive("sender", "backoff_seconds", 60)),
        lease_seconds=float(check.positive("sender", "lease_seconds", 300)),
        timeout_seconds=float(check.positive("sender", "timeout_seconds", 30)),
        outbox=Path(check.text("sender", "outbox", "outbox")),
        record_batch=check.positive("sender", "record_batch", 20),
        relay_backoff_seconds=float(check.positive("sender", "relay_backoff_seconds", 10)),
        relay_wait_seconds=float(check.positive("sender", "relay_wait_seconds", 120)),
        smtputf8=str(check.value("sender", "smtputf8", False)).casefold() in ("yes", "true", "1"),
    )


def _schedule_settings(check: _Checker) -> ScheduleSettings:
    day = check.text("schedule", "weekly_day", "mon").lower()[:3]
    if day not in WEEKDAYS:
        raise check.error("schedule.weekly_day", f"must be one of {', '.join(WEEKDAYS)}")
    at = check.text("schedule", "weekly_time", "09:00")
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", at)
    if not match:
        raise check.error("schedule.weekly_time", f"must be HH:MM (got {at!r})")
    return ScheduleSettings(
        poll_minutes=check.positive("schedule", "poll_minutes", 15),
        jitter_seconds=check.positive("schedule", "jitter_seconds", 60),
        weekly_day=day,
        weekly_hour=int(match[1]),
        weekly_minute=int(match[2]),
        misfire_grace_minutes=check.positive("schedule", "misfire_grace_minutes", 360),
        lease_seconds=check.positive("schedule", "lease_seconds", 60),
    )


def _smtp_url(check: _Checker) -> str | None:
    url = check.text("sender", "smtp_url", "") or None
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise check.error(
                "sender.smtp_url", "must look like smtp://user:pass@host:587 or smtps://host:465"
            )
    return url


def _local_secret() -> str:
    """The secret for signed links when SECRET_KEY is unset (local use only): made once and
    kept in var/secret_key, so links keep working across restarts. The file appears whole
    or not at all (a hard link of a finished temporary file), so processes starting
    together all read the one key."""
    try:
        secret = SECRET_FILE.read_text().strip()
    except FileNotFoundError:
        secret = ""
    if secret:
        return secret
    SECRET_FILE.parent.mkdir(parents=True, exist_ok=True)
    draft = SECRET_FILE.with_name(f".secret_key.{os.getpid()}.{secrets.token_hex(4)}")
    draft.write_text(secrets.token_urlsafe(32) + "\n")
    draft.chmod(0o600)
    try:
        os.link(draft, SECRET_FILE)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return SECRET_FILE.read_text().strip()


def is_local_url(url: str) -> bool:
    """Whether a URL points at this machine only (a developer's BASE_URL)."""
    host = (urlsplit(url).hostname or "").lower()
    return host in LOCAL_HOSTS or host.endswith(".localhost")


def check_production_secret(settings: Settings) -> None:
    """Refuse to run a long-lived process for a public BASE_URL without SECRET_KEY: each
    machine would make its own key, and links signed by one process would fail on another."""
    if is_local_url(settings.base_url):
        return
    if settings.secret_key_generated:
        raise ConfigError(
            f"SECRET_KEY is not set, and BASE_URL ({settings.base_url}) is not local: every "
            "process serving it must sign links with the same key. Set SECRET_KEY in the "
            "environment of every process (make one with: python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(32))')"
        )
    if len(settings.secret_key) < 16:
        raise ConfigError("SECRET_KEY is too short for production: use at least 16 characters")


def _trusted_proxies(check: _Checker) -> tuple[str, ...]:
    """The addresses (IPs or networks, or "*") whose X-Forwarded-For/-Proto is believed."""
    import ipaddress

    raw = check.value("site", "trusted_proxies", "")
    entries = raw if isinstance(raw, list) else str(raw).split(",")
    proxies = []
    for entry in (str(e).strip() for e in entries):
        if not entry:
            continue
        if entry != "*":
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise check.error(
                    "site.trusted_proxies",
                    f"{entry!r} is not an IP address or network (or '*')",
                ) from None
        proxies.append(entry)
    return tuple(proxies)


def _store_url(check: _Checker) -> str:
    """The store's URL, refused unless it names SQLite or PostgreSQL (a typo would otherwise
    end in a traceback from the database library)."""
    url = database_url(check.text("store", "database_url", "sqlite:///var/digest.db"))
    if not re.match(r"(sqlite(\+pysqlite)?|postgresql\+psycopg)://", url):
        scheme = url.split("://", 1)[0] if "://" in url else "no scheme"
        raise check.error(
            "store.database_url",
            "must be sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DATABASE "
            f"(got {scheme!r}; DATABASE_URL sets it too)",
        )
    return url


def database_url(url: str) -> str:
    """Map the usual `postgres://` and `postgresql://` spellings onto the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def _item_types(raw: Any, check: _Checker) -> tuple[ItemType, ...]:
    if not isinstance(raw, list) or not raw:
        raise check.error("types", "must be a non-empty array of [[types]] tables")
    types = []
    for index, entry in enumerate(raw):
        where = f"types[{index}]"
        if not isinstance(entry, dict):
            raise check.error(where, "must be a table with label, slug and feed_title")
        label, slug = entry.get("label"), entry.get("slug")
        if not isinstance(label, str) or not label.strip():
            raise check.error(f"{where}.label", "must be a non-empty string")
        if not isinstance(slug, str) or not SLUG.match(slug) or slug == "all":
            raise check.error(
                f"{where}.slug", f"must be lower-case letters, digits, '-' ({slug!r})"
            )
        feed_title = entry.get("feed_title") or label
        plural = entry.get("plural") or ""
        types.append(
            ItemType(label=" ".join(label.split()), slug=slug, feed_title=feed_title, plural=plural)
        )
    for attribute in ("label", "slug"):
        values = [getattr(t, attribute).casefold() for t in types]
        if len(set(values)) != len(values):
            raise check.error("types", f"each type needs its own {attribute}")
    return tuple(types)


def _sources(raw: Any, check: _Checker) -> tuple[SourceConfig, ...]:
    if not isinstance(raw, list):
        raise check.error("sources", "must be an array of [[sources]] tables")
    sources = []
    for index, entry in enumerate(raw):
        where = f"sources[{index}]"
        if not isinstance(entry, dict):
            raise check.error(where, "must be a table with name, kind and location")
        for key in ("name", "location"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise check.error(f"{where}.{key}", "must be a non-empty string")
        if entry.get("kind") not in SOURCE_KINDS:
            raise check.error(f"{where}.kind", f"must be one of {', '.join(SOURCE_KINDS)}")
        interval = entry.get("interval", 15)
        if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1:
            raise check.error(f"{where}.interval", "must be a whole number of minutes, at least 1")
        categories = entry.get("categories", {})
        if not isinstance(categories, dict) or not all(
            isinstance(v, str) for v in categories.values()
        ):
            raise check.error(f"{where}.categories", "must map category names to type slugs")
        sources.append(
            SourceConfig(
                name=entry["name"],
                kind=entry["kind"],
                location=entry["location"],
                interval_minutes=interval,
                categories={k.casefold(): v for k, v in categories.items()},
                **_page_reading(entry, where, check),
            )
        )
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise check.error("sources", "each source needs its own name")
    return tuple(sources)


SELECTOR_FIELDS = ("item", "title", "link", "date", "summary", "type", "image")


EMBARGO_ELEMENT = re.compile(r"^[A-Za-z_][\w.-]*(:[A-Za-z_][\w.-]*)?$")


def _page_reading(entry: Mapping[str, Any], where: str, check: _Checker) -> dict[str, Any]:
    """A source's hints for reading its pages: CSS selectors, date format, language,
    day-first numeric dates and the address relative links resolve against."""
    selectors = entry.get("selectors", {})
    if not isinstance(selectors, dict) or not all(
        isinstance(v, str) and v.strip() for v in selectors.values()
    ):
        raise check.error(f"{where}.selectors", "must map field names to CSS selectors")
    if unknown := sorted(set(selectors) - set(SELECTOR_FIELDS)):
        known = ", ".join(SELECTOR_FIELDS)
        raise check.error(f"{where}.selectors", f"unknown field {unknown[0]!r} (known: {known})")
    if selectors and "item" not in selectors:
        raise check.error(f"{where}.selectors", "needs an `item` selector for the blocks")
    for name, selector in selectors.items():
        try:
            from lxml.cssselect import CSSSelector, SelectorError

            CSSSelector(selector)
        except SelectorError as exc:
            raise check.error(f"{where}.selectors.{name}", f"bad CSS selector: {exc}") from None
    options: dict[str, Any] = {"selectors": dict(selectors)}
    for key in ("date_format", "language", "base_url", "embargo_element"):
        value = entry.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise check.error(f"{where}.{key}", "must be a non-empty string")
        options[key] = value
    if options["date_format"] and "%" not in options["date_format"]:
        raise check.error(f"{where}.date_format", "must be a strptime format such as %d.%m.%Y")
    if options["base_url"] and urlsplit(options["base_url"]).scheme not in ("http", "https"):
        raise check.error(f"{where}.base_url", "must be an http(s) URL")
    if options["embargo_element"] and not EMBARGO_ELEMENT.match(options["embargo_element"]):
        raise check.error(
            f"{where}.embargo_element", "must be an element name such as dcterms:available"
        )
    day_first = entry.get("day_first", False)
    if not isinstance(day_first, bool):
        raise check.error(f"{where}.day_first", "must be true or false")
    options["day_first"] = day_first
    return options


class _Checker:
    """Reads typed values out of the raw mapping, naming the setting when one is wrong."""

    def __init__(self, raw: Mapping[str, Any], origin: str) -> None:
        self.raw = raw
        self.origin = origin

    def error(self, setting: str, problem: str) -> ConfigError:
        variable = "DIGEST_" + setting.split("[")[0].replace(".", "_").upper()
        return ConfigError(f"{self.origin}: setting {setting} ({variable}): {problem}")

    def value(self, section: str, key: str, default: Any) -> Any:
        table = self.raw.get(section, {})
        if not isinstance(table, dict):
            raise self.error(section, "must be a table")
        value = table.get(key, default)
        if value is None:
            raise self.error(f"{section}.{key}", "is required")
        return value

    def text(self, section: str, key: str, default: str | None = None) -> str:
        value = self.value(section, key, default)
        if not isinstance(value, str):
            raise self.error(f"{section}.{key}", f"must be a string (got {value!r})")
        return value.strip()

    def url(self, section: str, key: str, default: str | None = None) -> str:
        value = self.text(section, key, default)
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise self.error(f"{section}.{key}", f"must be an absolute http(s) URL (got {value!r})")
        return value

    def positive(self, section: str, key: str, default: int) -> int:
        value = self.value(section, key, default)
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise self.error(f"{section}.{key}", f"must be a positive whole number (got {value!r})")
        return value

    def strings(self, section: str, key: str) -> list[str]:
        value = self.value(section, key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(f"{section}.{key}", "must be an array of strings")
        return value
