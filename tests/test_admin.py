"""The staff console over HTTP: sessions, CSRF, throttled sign-in, the breaking-news send
with a test copy and progress, the audit log, and escaping on every page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import Engine

from digest import jobs
from digest.config import Settings
from digest.feeds import write_feeds
from digest.model import Item, Subscriber
from digest.store import upsert_items
from digest.subscribers import add_subscriber
from digest.web import create_app
from digest.web.auth import hash_password, password_ok

from .conftest import SMTPRecorder, serve
from .test_web import csrf_of, wait_for

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
NASTY = "Tide <script>alert('x')</script> Warning"
PAGES = ["/admin", "/admin/items", "/admin/digest", "/admin/breaking", "/admin/audit"]


@pytest.fixture
def admin_settings(settings: Settings, smtp_server: tuple[SMTPRecorder, int]) -> Settings:
    _, port = smtp_server
    return replace(
        settings,
        secret_key="admin-test",
        admin_password=hash_password("s3cret"),
        smtp_url=f"smtp://127.0.0.1:{port}",
        sender=replace(settings.sender, rate=1000.0),
    )


@pytest.fixture
def site(engine: Engine, admin_settings: Settings) -> Iterator[str]:
    jobs.ingest_sources(engine, admin_settings, now=NOW)
    upsert_items(
        engine,
        [
            Item(
                key="https://harbourlight.example/nasty",
                title=NASTY,
                published=NOW,
                type="updates",
                source="t",
            )
        ],
        NOW,
    )
    write_feeds(engine, admin_settings)
    for n in range(3):
        add_subscriber(engine, Subscriber(email=f"r{n}@example.org", types=("updates",)), NOW)
    with serve(create_app(admin_settings, engine)) as base_url:
        yield base_url


@contextmanager
def signed_in(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url) as client:
        form = client.get("/admin/signin")
        data = {"csrf": csrf_of(form.text), "name": "Jo Staff", "password": "s3cret"}
        response = client.post("/admin/signin", data=data)
        assert response.status_code == 303 and response.headers["location"] == "/admin"
        cookie = response.headers["set-cookie"].lower()
        assert "digest_admin=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
        yield client


def test_passwords_and_hashes() -> None:
    hashed = hash_password("s3cret", iterations=1000)
    assert password_ok(hashed, "s3cret") and not password_ok(hashed, "S3cret")
    assert password_ok("plain", "plain") and not password_ok("plain", "plain ")


def test_admin_pages_need_a_session(site: str) -> None:
    with httpx.Client(base_url=site) as anonymous:
        for path in PAGES:
            response = anonymous.get(path)
            assert response.status_code == 303 and response.headers["location"] == "/admin/signin"
        anonymous.cookies.set("digest_admin", "9999999999.Sm8.forged")
        assert anonymous.get("/admin").status_code == 303
        sent = anonymous.post("/admin/breaking/send", data={"item": "x", "confirm_count": "3"})
        assert sent.status_code == 403


def test_bad_sign_ins_are_throttled(site: str) -> None:
    with httpx.Client(base_url=site) as client:
        codes = []
        for _ in range(7):
            form = client.get("/admin/signin")
            data = {"csrf": csrf_of(form.text), "name": "Mallory", "password": "guess"}
            codes.append(client.post("/admin/signin", data=data).status_code)
        assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]
        form = client.get("/admin/signin")
        right = client.post(
            "/admin/signin",
            data={"csrf": csrf_of(form.text), "name": "Mallory", "password": "s3cret"},
        )
        assert right.status_code == 429, "even the right password waits out the window"


def test_forms_without_csrf_are_refused(site: str, smtp_server: tuple[SMTPRecorder, int]) -> None:
    recorder, _ = smtp_server
    with signed_in(site) as client:
        item = quote("https://harbourlight.example/nasty", safe="")
        client.get(f"/admin/breaking?item={item}")
        for data in ({}, {"csrf": "forged"}):
            fields = {"item": "https://harbourlight.example/nasty", "confirm_count": "3", **data}
            response = client.post("/admin/breaking/send", data=fields)
            assert response.status_code == 403
    assert recorder.messages == []


def test_breaking_send_with_test_and_progress(
    site: str, smtp_server: tuple[SMTPRecorder, int], engine: Engine
) -> None:
    recorder, _ = smtp_server
    key = "https://harbourlight.example/nasty"
    with signed_in(site) as client:
        page = client.get(f"/admin/breaking?item={quote(key, safe='')}")
        assert page.status_code == 200
        assert re.search(r'id="recipient-count">3<', page.text)
        preview = client.get(f"/admin/breaking/preview?item={quote(key, safe='')}")
        assert "&lt;script&gt;" in preview.text and "<script>" not in preview.text
        tested = client.post(
            "/admin/breaking/test",
            data={"csrf": csrf_of(page.text), "item": key, "address": "jo@example.org"},
        )
        assert "Test sent to jo@example.org" in tested.text
        assert [m[1] for m in recorder.messages] == [["jo@example.org"]]
        stale = client.post(
            "/admin/breaking/send",
            data={"csrf": csrf_of(page.text), "item": key, "confirm_count": "2"},
        )
        assert stale.status_code == 409
        sent = client.post(
            "/admin/breaking/send",
            data={"csrf": csrf_of(page.text), "item": key, "confirm_count": "3"},
        )
        assert sent.status_code == 303
        progress = sent.headers["location"]
        wait_for(lambda: 'id="state">done<' in client.get(progress).text)
        assert "3 of 3" in client.get(progress).text
        audit = client.get("/admin/audit").text
        assert "Jo Staff" in audit and "breaking send" in audit and "breaking test" in audit
        assert "&lt;script&gt;" in audit
    assert sorted(m[1][0] for m in recorder.messages) == [
        "jo@example.org",
        "r0@example.org",
        "r1@example.org",
        "r2@example.org",
    ]


def test_script_in_titles_is_text_on_every_page(site: str) -> None:
    with signed_in(site) as client:
        key = quote("https://harbourlight.example/nasty", safe="")
        for path in [*PAGES, f"/admin/breaking?item={key}", "/admin/digest/preview"]:
            text = client.get(path).text
            assert "<script>" not in text, path
        assert "&lt;script&gt;" in client.get("/admin/items").text


def test_console_is_off_without_a_password(engine: Engine, settings: Settings) -> None:
    with serve(create_app(replace(settings, admin_password=None), engine)) as base_url:
        assert httpx.get(base_url + "admin/signin").status_code == 503
        assert httpx.get(base_url + "admin").status_code == 503
