"""Shared fixtures: settings on the sample newsroom, a real store on SQLite and PostgreSQL,
real SMTP servers (plain, and STARTTLS with AUTH) and Chromium. Plain helpers are in helpers.py."""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

pytest.register_assert_rewrite("tests.helpers")

from hypothesis import HealthCheck  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402
from sqlalchemy import Engine, text  # noqa: E402

from digest.config import Settings, load_settings  # noqa: E402
from digest.store import connect, create_schema  # noqa: E402

from .helpers import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    PATIENCE,
    POSTGRES_URL,
    ROOT,
    SMTPRecorder,
    free_port,
    fresh_postgres,
    openssl,
    served,
    smtp_authenticate,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

# Tests never time the machine: hypothesis's per-example deadline (200 ms) and its
# "too slow" health check fail on a loaded machine while proving nothing about the code.
hypothesis_settings.register_profile(
    "digest", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("digest")


def _patient_http_clients() -> None:
    """A test's own HTTP requests (httpx with its 5 s default) wait as long as a loaded
    machine needs; the program's clients pass their own timeouts and keep them."""
    import httpx
    from httpx._config import DEFAULT_TIMEOUT_CONFIG

    for client in (httpx.Client, httpx.AsyncClient):
        original = client.__init__

        def patient(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> None:
            if kwargs.get("timeout", DEFAULT_TIMEOUT_CONFIG) is DEFAULT_TIMEOUT_CONFIG:
                kwargs["timeout"] = PATIENCE
            _original(self, *args, **kwargs)

        client.__init__ = patient  # type: ignore[method-assign]


_patient_http_clients()


@pytest.fixture(autouse=True)
def _run_in_project_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    for variable in list(os.environ):
        if variable.startswith("DIGEST_") or variable in ("BASE_URL", "DATABASE_URL"):
            monkeypatch.delenv(variable)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The shipped configuration, with the store and output in the test's own folder, and
    no pause between requests to one host (tests never wait on the clock)."""
    loaded = load_settings({"DIGEST_CONFIG": str(ROOT / "config" / "digest.toml")})
    return replace(
        loaded,
        output_dir=tmp_path / "public",
        database_url=f"sqlite:///{tmp_path / 'digest.db'}",
        fetch=replace(loaded.fetch, delay_seconds=0.0),
    )


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The test database with a schema of this run's own, so that two test runs on one
    machine never share tables."""
    schema = f"test_run_{os.getpid()}"
    admin = connect(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Engine]:
    """A real, empty store: an SQLite file, or the PostgreSQL `test` database."""
    if request.param == "sqlite":
        store = connect(settings.database_url)
        create_schema(store)
    else:
        store = fresh_postgres(request.getfixturevalue("postgres_url"))
    yield store
    store.dispose()


@pytest.fixture
def smtp_server() -> Iterator[tuple[SMTPRecorder, int]]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 and an ephemeral port."""
    from aiosmtpd.controller import Controller

    recorder = SMTPRecorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    yield recorder, port
    controller.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate and its key for 127.0.0.1."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        "-keyout", str(key), "-out", str(cert),
    )  # fmt: skip
    return cert, key


@pytest.fixture
def relay(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[SMTPRecorder, int]]:
    """A relay that requires STARTTLS before AUTH; the client trusts its certificate."""
    from aiosmtpd.controller import Controller

    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    recorder = SMTPRecorder()
    port = free_port()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=smtp_authenticate,
        auth_require_tls=True,
    )
    controller.start()
    yield recorder, port
    controller.stop()


class _PatientBrowser:
    """A Playwright browser whose new pages and contexts wait up to PATIENCE for anything
    (Playwright's default is 30 s): a wait ends as soon as its condition holds."""

    def __init__(self, browser: Browser) -> None:
        self._browser = browser

    def __getattr__(self, name: str) -> Any:
        return getattr(self._browser, name)

    def new_page(self, **options: Any) -> Page:
        page = self._browser.new_page(**options)
        page.set_default_timeout(PATIENCE * 1000)
        return page

    def new_context(self, **options: Any) -> BrowserContext:
        context = self._browser.new_context(**options)
        context.set_default_timeout(PATIENCE * 1000)
        return context


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium driven by Playwright, one per test module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield cast("Browser", _PatientBrowser(chromium))
        chromium.close()


@pytest.fixture
def imap_server(certificate: tuple[Path, Path]) -> Iterator[tuple[int, Path]]:
    """A real Dovecot IMAPS server on 127.0.0.1 (port, the bounce user's Maildir)."""
    from .helpers import DOVECOT, dovecot

    if not os.path.exists(DOVECOT):
        pytest.fail("Dovecot is missing: `make system-packages` installs dovecot-imapd")
    with dovecot(*certificate) as server:
        yield server


SAMPLE_NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture
def web_settings(settings: Settings, smtp_server: tuple[SMTPRecorder, int]) -> Settings:
    """Settings for the web app's tests: a signing key of their own, the test relay."""
    _, port = smtp_server
    return replace(
        settings,
        secret_key="web-test",
        smtp_url=f"smtp://127.0.0.1:{port}",
        sender=replace(settings.sender, rate=1000.0),
    )


@pytest.fixture
def client(engine: Engine, web_settings: Settings) -> Iterator[Any]:
    """An HTTP client of the app served by uvicorn on 127.0.0.1 and an ephemeral port, the
    sample newsroom stored and published (as of 22 November 2026, noon UTC)."""
    import httpx

    from digest import actions
    from digest.feeds import write_feeds
    from digest.web import create_app

    actions.ingest_sources(engine, web_settings, now=SAMPLE_NOW)
    write_feeds(engine, web_settings)
    with (
        served(create_app(web_settings, engine), web_settings) as base_url,
        httpx.Client(base_url=base_url) as http,
    ):
        yield http
