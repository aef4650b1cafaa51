"""Settings: the TOML file plus environment overrides, validated once at start-up.

Each setting is declared once, with its type, default, environment variable and meaning, in
digest.config_schema (pydantic-settings); this module finds the file and turns the validated
schema into the plain frozen dataclasses the rest of the program reads (Settings and its
parts), so `dataclasses.replace` works on them. The file is `--config FILE`, else
`DIGEST_CONFIG`, else ./config/digest.toml, else the packaged defaults.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

from digest.dates import WEEKDAYS as WEEKDAYS
from digest.errors import ConfigError
from digest.item import ItemType

if TYPE_CHECKING:
    from digest.config_schema import ConfigFile, Locator

DEFAULT_CONFIG = Path("config/digest.toml")
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "0.0.0.0")
SECRET_FILE = Path("var/secret_key")
# What `digest check` and `digest publish` say in a newsroom folder with no [[sources]] yet.
NO_SOURCE = (
    "no source yet: nothing to read, so the feeds stay empty (add a [[sources]] entry to the "
    "config; config/digest.toml has a commented example)"
)


@dataclass(frozen=True)
class SourceConfig:
    """One configured source: where to read, how, and how often to poll. Also built by
    hand (a file given to `digest parse`, tests), hence the defaults, which equal the
    schema's (tests/test_config_schema.py checks)."""

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
    backfill_pages: int = 5
    follow: bool = True
    article_selector: str | None = None

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
    dkim_key: bytes | None
    dkim_selector: str
    dkim_domain: str
    bounce_address: str = ""


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
    record_batch: int
    relay_backoff_seconds: float
    relay_wait_seconds: float
    smtputf8: bool


@dataclass(frozen=True)
class ScheduleSettings:
    """When the clock process runs its jobs (in the newsroom's time zone)."""

    poll_minutes: int
    jitter_seconds: int
    weekly_day: str
    weekly_hour: int
    weekly_minute: int
    misfire_grace_minutes: int
    lease_seconds: int


@dataclass(frozen=True)
class BreakingSettings:
    """How breaking alerts are guarded: the undo window after "send" (0 sends at once),
    and whether a second person must approve. Also built by hand in tests, hence the
    defaults, which equal the schema's."""

    undo_seconds: int = 120
    approval: bool = False
    test_addresses: tuple[str, ...] = ()
    embargo_subject: str = "EMBARGOED until {time}: {title}"
    embargo_terms: str = (
        "This material is under embargo until the time above. Do not publish, broadcast or "
        "share it before then."
    )


@dataclass(frozen=True)
class BounceSettings:
    """What returned mail does: the mailbox the clock reads (None: no mailbox), where read
    messages go (an IMAP folder; empty: deleted), and the soft-bounce and warning limits.
    The defaults equal the schema's, so tests can build Settings by hand."""

    mailbox_url: str | None = None
    processed: str = ""
    poll_minutes: int = 10
    soft_limit: int = 3
    soft_days: int = 30
    hard_rate_warning: float = 5.0


@dataclass(frozen=True)
class FetchSettings:
    """How other sites' pages are requested: the pause between two requests to one host,
    the item pages read per source and poll, the wait at each step, and how often and how
    long a recent item's page is read again for edits. The defaults equal the schema's, so
    tests can build Settings by hand."""

    delay_seconds: float = 1.0
    pages_per_run: int = 40
    timeout_seconds: float = 30.0
    revisit_hours: int = 6
    revisit_days: int = 7


@dataclass(frozen=True)
class CadenceSettings:
    """What digests carry besides news, and when the daily digest goes (weekdays)."""

    alerts_in_digest: str
    daily_hour: int
    daily_minute: int


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
    feed_full_text: int
    output_dir: Path
    base_url: str
    database_url: str
    email: EmailSettings
    sender: SenderSettings
    secret_key: str
    schedule: ScheduleSettings
    feed_refresh_seconds: int
    admin_password: str | None
    smtp_url: str | None
    contact_email: str | None
    websub_hub_url: str | None
    secret_key_generated: bool
    trusted_proxies: tuple[str, ...]
    web_concurrency: int
    connections_per_client: int
    breaking: BreakingSettings
    cadence: CadenceSettings
    bounces: BounceSettings = BounceSettings()
    fetch: FetchSettings = FetchSettings()

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
    """Read the configuration file (see find_config), apply the environment, and validate
    against the schema (digest.config_schema); a bad or unknown setting raises ConfigError
    naming it, with the file's line. With keep_secret=False a missing SECRET_KEY gets a
    throwaway value instead of var/secret_key (for commands that sign nothing, such as
    `digest parse`, which must not write into the folder they run in)."""
    env = os.environ if environ is None else environ
    path = find_config(config, env)
    try:
        text = path.read_text(encoding="utf-8")
        cache = _cache_file(path, text, keep_secret) if environ is None else None
        cached = _cached_settings(cache, env, keep_secret) if cache else None
        if cached is not None:
            return cached
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: configuration file not found (from --config or DIGEST_CONFIG)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read configuration file: {exc}") from None
    import tomllib  # kept settings need no parsing

    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    from digest.config_schema import deployment_variables, validate

    schema, where = validate(raw, str(path), env, text)
    settings = _settings(schema, where, keep_secret=keep_secret)
    if cache is not None and not schema.site.secret_key and not _holds_secret(settings):
        _keep_settings(cache, env, settings, list(deployment_variables()))
    return settings


# Validated settings are kept in the user's cache folder (readable by the user alone), keyed
# by the configuration's text, the folder, the program's code and the environment's
# settings variables: validating them (pydantic's import and models) costs every command
# ~140 ms, more than the rest of `digest parse`. A secret made for the run (var/secret_key
# or a throwaway) is never kept: it is made again as _settings makes it. A configuration
# holding a secret (SECRET_KEY, ADMIN_PASSWORD, a DKIM key, a credential in a URL) is not
# kept at all, so no secret is ever written to the cache folder (it validates each time).
CACHE_FORMAT = 2


def _holds_secret(settings: Settings) -> bool:
    """Whether validated settings carry a secret that must not be written to disk."""
    urls = (
        settings.database_url,
        settings.smtp_url,
        settings.websub_hub_url,
        settings.bounces.mailbox_url,
        *(source.location for source in settings.sources),
    )
    return bool(
        settings.admin_password
        or settings.email.dkim_key
        or any(url and _url_secret(url) for url in urls)
    )


# Query parameters named with one of these carry a credential (token=, api_key=, sig=, …).
SECRET_PARAMETERS = ("token", "key", "secret", "sig", "auth", "pass", "pwd", "session", "cred")


def _url_secret(url: str) -> bool:
    """Whether a URL carries a credential: a password; for http(s), a user name (a token is
    often sent as one); or a query parameter named like a token, key, signature or password."""
    try:
        parts = urlsplit(url)
        user, password = parts.username, parts.password
        names = [name.casefold() for name, _ in parse_qsl(parts.query, keep_blank_values=True)]
    except ValueError:
        return True  # unreadable: treat as holding one
    if password or (user and parts.scheme in ("http", "https")):
        return True
    return any(word in name for name in names for word in SECRET_PARAMETERS)


def _cache_file(path: Path, text: str, keep_secret: bool) -> Path | None:
    here = Path(__file__).parent
    try:
        code = [(here / name).stat().st_mtime_ns for name in ("config.py", "config_schema.py")]
        home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        where = [CACHE_FORMAT, str(path.resolve()), os.getcwd(), text, keep_secret, code]
    except (OSError, RuntimeError):
        return None
    key = hashlib.sha256(repr(where).encode()).hexdigest()[:32]
    return Path(home) / "newsroom-digest" / f"settings-{key}.pickle"


def _environment_print(env: Mapping[str, str], names: list[str]) -> dict[str, str]:
    """What the environment says about the settings: each settings variable set, hashed."""
    read = set(names) | {n for n in env if n.startswith("DIGEST_") and n != "DIGEST_CONFIG"}
    return {n: hashlib.sha256(env[n].encode()).hexdigest() for n in sorted(read) if n in env}


def _cached_settings(cache: Path, env: Mapping[str, str], keep_secret: bool) -> Settings | None:
    import pickle

    try:
        with open(cache, "rb") as handle:
            status = os.fstat(handle.fileno())
            if status.st_uid != os.getuid() or status.st_mode & 0o077:
                return None
            names, printed, settings = pickle.load(handle)
    except Exception:  # a missing, partial or outdated cache file: validate instead
        return None
    if not isinstance(settings, Settings) or _environment_print(env, names) != printed:
        return None
    secret_key, generated = _fallback_secret(keep_secret)
    return replace(settings, secret_key=secret_key, secret_key_generated=generated)


def _keep_settings(
    cache: Path, env: Mapping[str, str], settings: Settings, names: list[str]
) -> None:
    import pickle

    kept = replace(settings, secret_key="")
    data = pickle.dumps((names, _environment_print(env, names), kept))
    try:
        cache.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        draft = cache.with_name(f".{cache.name}.{os.getpid()}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.replace(draft, cache)
    except OSError:
        pass  # no cache folder to write to: the next command validates again


def settings_from_mapping(raw: Mapping[str, Any], origin: str = "config") -> Settings:
    """Validate a raw configuration mapping (a parsed file, no environment) into Settings."""
    from digest.config_schema import validate

    return _settings(*validate(raw, origin), keep_secret=True)


def _settings(schema: ConfigFile, where: Locator, *, keep_secret: bool) -> Settings:
    """The public Settings of a validated schema: derived defaults filled in, times split,
    the DKIM key read, and the checks that look at two settings at once."""
    newsroom, site, email = schema.newsroom, schema.site, schema.email
    types = tuple(
        ItemType(
            label=" ".join(t.label.split()),
            slug=t.slug,
            feed_title=t.feed_title or t.label,
            plural=t.plural,
        )
        for t in schema.types
    )
    slugs = {t.slug for t in types}
    for index, source in enumerate(schema.sources):
        for category, slug in source.categories.items():
            if slug not in slugs:
                raise where.error(
                    ("sources", index, "categories"),
                    f"{category!r} maps to unknown type {slug!r}",
                )
    secret_key, generated = (
        (site.secret_key, False) if site.secret_key else _fallback_secret(keep_secret)
    )
    contact_email = newsroom.contact_email or None
    from_address = (contact_email or "") if email.from_address is None else email.from_address
    if "@" not in from_address:
        raise where.error(("email", "from_address"), "must be an email address")
    host = urlsplit(newsroom.url).hostname or "localhost"
    sender, schedule = schema.sender, schema.schedule
    return Settings(
        newsroom_name=newsroom.name,
        newsroom_url=newsroom.url,
        language=newsroom.language,
        timezone=newsroom.timezone,
        tag_date=newsroom.tag_date,
        contact_email=contact_email,
        types=types,
        boilerplate=frozenset(" ".join(line.split()) for line in schema.parser.boilerplate),
        max_caption_lines=schema.parser.max_caption_lines,
        sources=tuple(
            SourceConfig(
                name=s.name,
                kind=s.kind,
                location=s.location,
                interval_minutes=s.interval,
                categories=s.categories,
                selectors=_checked_selectors(s.selectors, index, where),
                date_format=s.date_format,
                language=s.language,
                day_first=s.day_first,
                base_url=s.base_url,
                embargo_element=s.embargo_element,
                backfill_pages=s.backfill_pages,
                follow=s.follow,
                article_selector=s.article_selector,
            )
            for index, s in enumerate(schema.sources)
        ),
        feed_size=schema.feeds.size,
        feed_full_text=schema.feeds.full_text,
        output_dir=Path(schema.feeds.output),
        feed_refresh_seconds=schema.feeds.refresh_seconds,
        base_url=site.base_url if site.base_url.endswith("/") else site.base_url + "/",
        database_url=database_url(schema.store.database_url),
        secret_key=secret_key,
        secret_key_generated=generated,
        admin_password=site.admin_password or None,
        websub_hub_url=site.websub_hub_url,
        trusted_proxies=site.trusted_proxies,
        web_concurrency=site.web_concurrency,
        connections_per_client=site.connections_per_client,
        smtp_url=sender.smtp_url,
        email=EmailSettings(
            from_address=from_address,
            from_name=newsroom.name if email.from_name is None else email.from_name,
            reply_to=(contact_email if email.reply_to is None else email.reply_to) or None,
            weekly_subject=email.weekly_subject,
            breaking_prefix=email.breaking_prefix,
            lookback_days=email.lookback_days,
            max_items_per_type=email.max_items_per_type,
            list_id=f"press.{host}" if email.list_id is None else email.list_id,
            unsubscribe_address=from_address
            if email.unsubscribe_address is None
            else email.unsubscribe_address,
            dkim_key=_dkim_key(email.dkim_key_file, where),
            dkim_selector=email.dkim_selector,
            dkim_domain=from_address.rpartition("@")[2]
            if email.dkim_domain is None
            else email.dkim_domain,
            bounce_address=email.bounce_address,
        ),
        sender=SenderSettings(
            connections=sender.connections,
            rate=float(sender.rate),
            per_connection=sender.per_connection,
            batch=sender.batch,
            max_attempts=sender.max_attempts,
            backoff_seconds=float(sender.backoff_seconds),
            lease_seconds=float(sender.lease_seconds),
            timeout_seconds=float(sender.timeout_seconds),
            outbox=Path(sender.outbox),
            record_batch=sender.record_batch,
            relay_backoff_seconds=float(sender.relay_backoff_seconds),
            relay_wait_seconds=float(sender.relay_wait_seconds),
            smtputf8=sender.smtputf8,
        ),
        schedule=ScheduleSettings(
            poll_minutes=schedule.poll_minutes,
            jitter_seconds=schedule.jitter_seconds,
            weekly_day=schedule.weekly_day,
            weekly_hour=schedule.weekly_time[0],
            weekly_minute=schedule.weekly_time[1],
            misfire_grace_minutes=schedule.misfire_grace_minutes,
            lease_seconds=schedule.lease_seconds,
        ),
        breaking=BreakingSettings(
            undo_seconds=schema.breaking.undo_seconds,
            approval=schema.breaking.approval,
            test_addresses=schema.breaking.test_addresses,
            embargo_subject=schema.breaking.embargo_subject,
            embargo_terms=schema.breaking.embargo_terms,
        ),
        cadence=CadenceSettings(
            alerts_in_digest=email.alerts_in_digest,
            daily_hour=email.daily_time[0],
            daily_minute=email.daily_time[1],
        ),
        bounces=BounceSettings(
            mailbox_url=schema.bounces.mailbox_url or None,
            processed=schema.bounces.processed,
            poll_minutes=schema.bounces.poll_minutes,
            soft_limit=schema.bounces.soft_limit,
            soft_days=schema.bounces.soft_days,
            hard_rate_warning=schema.bounces.hard_rate_warning,
        ),
        fetch=FetchSettings(
            delay_seconds=schema.fetch.delay_seconds,
            pages_per_run=schema.fetch.pages_per_run,
            timeout_seconds=float(schema.fetch.timeout_seconds),
            revisit_hours=schema.fetch.revisit_hours,
            revisit_days=schema.fetch.revisit_days,
        ),
    )


def _checked_selectors(
    selectors: Mapping[str, str], index: int, where: Locator
) -> Mapping[str, str]:
    """The CSS selectors of a source, each compiled once here (lxml is loaded only for a
    configuration that has selectors)."""
    for name, selector in selectors.items():
        from lxml.cssselect import CSSSelector, SelectorError

        try:
            CSSSelector(selector)
        except SelectorError as exc:
            raise where.error(
                ("sources", index, "selectors", name), f"bad CSS selector: {exc}"
            ) from None
    return selectors


def _dkim_key(path: str, where: Locator) -> bytes | None:
    if not path:
        return None
    try:
        key = Path(path).read_bytes()
    except OSError as exc:
        raise where.error(
            ("email", "dkim_key_file"), f"cannot read {path}: {exc.strerror}"
        ) from None
    if b"PRIVATE KEY" not in key:
        raise where.error(("email", "dkim_key_file"), f"{path} is not a PEM private key")
    return key


def _fallback_secret(keep_secret: bool) -> tuple[str, bool]:
    """The secret when SECRET_KEY is unset, and whether it is var/secret_key's: a throwaway
    for a command that signs nothing (keep_secret False) where there is no such file."""
    if not keep_secret and not SECRET_FILE.is_file():
        return os.urandom(32).hex(), False
    return _local_secret(), True


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
    import secrets

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


def database_url(url: str) -> str:
    """Map the usual `postgres://` and `postgresql://` spellings onto the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url
