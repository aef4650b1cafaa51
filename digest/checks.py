"""`digest check`: is this installation ready to run? Each check tries the real thing once —
the store, every source (read, not stored), the SMTP relay (EHLO, STARTTLS, login; no mail),
the public address, the secret and the DKIM key — and says what to fix. The staff console
shows the same list (`run_checks`)."""

from __future__ import annotations

import asyncio
import ipaddress
import os
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import unquote, urlsplit

from digest.config import NO_SOURCE, SECRET_FILE, Settings
from digest.errors import DigestError
from digest.model import Item

Status = Literal["ok", "warn", "fail"]
T = TypeVar("T")
MIN_SECRET_LENGTH = 32
NEW_SECRET = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


@dataclass(frozen=True)
class Check:
    """One check's outcome: `fail` must be fixed before running, `warn` deserves a look."""

    name: str
    status: Status
    detail: str


def run_checks(settings: Settings) -> list[Check]:
    """Every check on a loaded configuration, in a fixed order; nothing is stored or sent."""
    return [
        check_store(settings),
        *check_sources(settings),
        check_output(settings),
        check_smtp(settings),
        check_base_url(settings),
        check_secret_key(settings),
        check_dkim(settings),
    ]


async def run_checks_async(settings: Settings) -> list[Check]:
    """run_checks in a worker thread, for async callers such as the staff console: the
    checks wait on the network (sources, SMTP) and must not block the event loop."""
    return await asyncio.to_thread(run_checks, settings)


def must_fix(checks: list[Check]) -> bool:
    """True when any check failed (`digest check` then exits 1)."""
    return any(check.status == "fail" for check in checks)


def check_store(settings: Settings) -> Check:
    """Connect to the store and compare its schema revision with the newest migration."""
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from digest.store import connect

    where = make_url(settings.database_url).render_as_string(hide_password=True)
    config = Config()
    config.set_main_option("script_location", "digest:migrations")
    head = ScriptDirectory.from_config(config).get_current_head()
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and not _sqlite_file_exists(url.database):
        return Check(
            "store",
            "warn",
            f"{where}: no database file yet; `digest migrate` (or any command that uses "
            "the store) creates it",
        )
    try:
        engine = connect(settings.database_url)
        try:
            with engine.connect() as conn:
                current = MigrationContext.configure(conn).get_current_revision()
                has_items = inspect(conn).has_table("items")
        finally:
            engine.dispose()
    except (SQLAlchemyError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        return Check(
            "store",
            "fail",
            f"cannot open {where}: {reason} (check DATABASE_URL / store.database_url)",
        )
    if current == head:
        return Check("store", "ok", f"{where}: reachable, schema at {head}")
    state = (
        "tables not created yet"
        if current is None and not has_items
        else (f"schema at {current or 'the release before migrations'}, newest is {head}")
    )
    return Check(
        "store",
        "warn",
        f"{where}: {state}; `digest migrate` (or any command that uses the store) "
        "creates or upgrades it",
    )


def _sqlite_file_exists(database: str | None) -> bool:
    """False for a SQLite file not created yet (checking must not create it)."""
    return not database or database == ":memory:" or Path(database).exists()


def check_sources(settings: Settings) -> list[Check]:
    """Read every configured source once, without storing what it yields."""
    from digest.sources.configured import read_source

    if not settings.sources:
        return [Check("sources", "warn", NO_SOURCE)]
    checks = []
    for source in settings.sources:
        name = f"source {source.name}"
        try:
            read = read_source(source, settings)
        except DigestError as exc:
            reason = str(exc).removeprefix(f"{name}: ")
            checks.append(Check(name, "fail", f"{reason} (fix [[sources]] location)"))
            continue
        if read.errors:
            checks.append(Check(name, "fail", "; ".join(read.errors)))
        elif not read.items:
            checks.append(Check(name, "fail", f"{source.location}: no items found"))
        else:
            checks.append(Check(name, "ok", f"{_counted(read.items)} from {source.location}"))
    return checks


def _counted(items: list[Item]) -> str:
    """How many items a source read, saying when some are one item seen on several pages
    (a rolling listing's snapshots): those are stored once, as `digest publish` counts them."""
    if len({item.key for item in items}) == len(items):
        return f"{len(items)} items"
    return (
        f"{len(items)} items (some are one item on several pages or snapshots, stored once: "
        "`digest publish` counts each item once)"
    )


def check_output(settings: Settings) -> Check:
    """The feeds folder (and the outbox, when there is no relay) can be written."""
    folders = [("feeds.output", settings.output_dir)]
    if not settings.smtp_url:
        folders.append(("sender.outbox", settings.sender.outbox))
    for setting, folder in folders:
        existing = next(p for p in (folder, *folder.absolute().parents) if p.exists())
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            return Check(
                "output",
                "fail",
                f"{setting}: cannot write {folder} ({existing} is not a writable folder)",
            )
    return Check("output", "ok", ", ".join(f"{folder}/" for _, folder in folders) + " writable")


def check_smtp(settings: Settings) -> Check:
    """Connect to the relay: EHLO, STARTTLS (or implicit TLS), login when the URL has a
    user; QUIT without sending anything."""
    if not settings.smtp_url:
        return Check(
            "smtp",
            "warn",
            f"SMTP_URL unset: emails are written to {settings.sender.outbox}/, not sent "
            "(set SMTP_URL=smtp://user:pass@host:587 to send)",
        )
    try:
        detail = _run_coroutine(_smtp_handshake(settings.smtp_url, settings.sender.timeout_seconds))
    except DigestError as exc:
        return Check("smtp", "fail", str(exc))
    return Check("smtp", "ok", detail)


def _run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, also from a thread whose event loop is already running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _smtp_handshake(url: str, timeout: float) -> str:
    import aiosmtplib

    parts = urlsplit(url)
    implicit_tls = parts.scheme == "smtps"
    host = parts.hostname or "localhost"
    port = parts.port or (465 if implicit_tls else 587)
    where = f"{host}:{port}"
    client = aiosmtplib.SMTP(
        hostname=host, port=port, use_tls=implicit_tls, start_tls=False, timeout=timeout
    )
    steps = ["TLS" if implicit_tls else "connected"]
    try:
        await client.connect()
        await client.ehlo()
        steps.append("EHLO")
        if not implicit_tls:
            if client.supports_extension("starttls"):
                await client.starttls()
                steps.append("STARTTLS")
            elif parts.username:
                raise DigestError(
                    f"{where} offers no STARTTLS: the password would travel in clear "
                    "(use a relay with TLS, or smtps:// on port 465)"
                )
        if parts.username:
            await client.login(unquote(parts.username), unquote(parts.password or ""))
            steps.append(f"login as {unquote(parts.username)}")
        await client.quit()
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise DigestError(
            f"{where}: login refused ({exc.code} {exc.message}): check the user and "
            "password in SMTP_URL"
        ) from None
    except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
        raise DigestError(
            f"{where}: {exc or type(exc).__name__} after {', '.join(steps)} (check SMTP_URL)"
        ) from None
    finally:
        if client.is_connected:
            client.close()
    tls = "" if implicit_tls or "STARTTLS" in steps else " (no TLS offered)"
    return f"{where}: {', '.join(steps)}{tls}; nothing sent"


def check_base_url(settings: Settings) -> Check:
    """Links in emails and feed self links are built on BASE_URL: it must be public."""
    parts = urlsplit(settings.base_url)
    host = parts.hostname or ""
    if _is_local(host):
        return Check(
            "base_url",
            "warn",
            f"BASE_URL is {settings.base_url}, a local address: links in emails and feeds "
            "will not work for readers (set BASE_URL to the public address of the web process)",
        )
    if parts.scheme != "https":
        return Check(
            "base_url",
            "warn",
            f"BASE_URL is {settings.base_url}: use https, or subscriber links travel in clear",
        )
    return Check("base_url", "ok", settings.base_url)


def _is_local(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_unspecified


def check_secret_key(settings: Settings) -> Check:
    """SECRET_KEY signs subscriber links: long enough, and the same on every machine."""
    try:
        local = SECRET_FILE.read_text().strip()
    except OSError:
        local = None
    if settings.secret_key == local:
        return Check(
            "secret_key",
            "warn",
            f"SECRET_KEY unset: using {SECRET_FILE}, fine on one machine; set SECRET_KEY "
            "when processes run on several (make one with "
            f"{NEW_SECRET})",
        )
    if len(settings.secret_key) < MIN_SECRET_LENGTH:
        return Check(
            "secret_key",
            "fail",
            f"SECRET_KEY is {len(settings.secret_key)} characters; use at least "
            f"{MIN_SECRET_LENGTH} random ones ({NEW_SECRET})",
        )
    return Check("secret_key", "ok", f"set ({len(settings.secret_key)} characters)")


def check_dkim(settings: Settings) -> Check:
    """Sign a test message with the configured DKIM key, as the sender would."""
    email = settings.email
    if not email.dkim_key:
        return Check(
            "dkim",
            "warn",
            "off: mail may be marked as spam (set email.dkim_key_file and publish the key "
            f"at <selector>._domainkey.{email.from_address.rpartition('@')[2]})",
        )
    from digest.messages import dkim_signature

    sample = (
        f"From: {email.from_address}\r\nTo: {email.from_address}\r\n"
        "Subject: digest check\r\n\r\nDKIM test.\r\n"
    ).encode()
    record = f"{email.dkim_selector}._domainkey.{email.dkim_domain}"
    try:
        signature = dkim_signature(settings, sample)
    except Exception as exc:  # dkimpy raises several unrelated types for a bad key
        return Check("dkim", "fail", f"cannot sign with email.dkim_key_file: {exc}")
    if not signature.startswith(b"DKIM-Signature:"):
        return Check("dkim", "fail", "email.dkim_key_file: signing produced no signature")
    from_domain = email.from_address.rpartition("@")[2].casefold()
    if not (
        from_domain == email.dkim_domain.casefold()
        or from_domain.endswith("." + email.dkim_domain.casefold())
    ):
        return Check(
            "dkim",
            "warn",
            f"signs as {email.dkim_domain}, but mail comes from {from_domain}: DMARC wants "
            "them aligned (set email.dkim_domain)",
        )
    return Check("dkim", "ok", f"signs as {record} (its public key must be in DNS there)")
