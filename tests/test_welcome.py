"""The welcome email after confirmation, and the cadence choice on the preferences page,
through the real web app (uvicorn) and a real SMTP server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from email import message_from_bytes, policy

import httpx
import pytest
from sqlalchemy import Engine, select

from digest.config import Settings
from digest.store import mailings
from digest.subscribers import iter_subscribers
from digest.web import create_app

from .helpers import SMTPRecorder, csrf_of, filled, serve, wait_for

Server = tuple[SMTPRecorder, int]


@pytest.fixture
def site(engine: Engine, settings: Settings, smtp_server: Server) -> Iterator[httpx.Client]:
    _, port = smtp_server
    configured = replace(
        settings,
        secret_key="welcome-test",
        smtp_url=f"smtp://127.0.0.1:{port}",
        sender=replace(settings.sender, rate=1000.0),
    )
    with serve(create_app(configured, engine)) as base_url, httpx.Client(base_url=base_url) as web:
        yield web


def test_confirmation_brings_one_welcome_and_the_preferences_set_the_cadence(
    site: httpx.Client, engine: Engine, smtp_server: Server
) -> None:
    recorder, _ = smtp_server
    form = site.get("/subscribe")
    site.post(
        "/subscribe",
        data=filled(
            form.text,
            "welcome-test",
            email="bo@example.org",
            types=["reports", "updates"],
            weekly="yes",
            breaking="yes",
        ),
    )
    wait_for(lambda: recorder.messages)
    first = message_from_bytes(recorder.messages[0][2], policy=policy.default)
    text = first.get_body(("plain",)).get_content()
    confirm = re.search(r"http://127\.0\.0\.1:8000(/confirm/\S+)", text).group(1)
    page = site.get(confirm)
    site.post(confirm, data={"csrf": csrf_of(page.text)})
    wait_for(lambda: len(recorder.messages) == 2)
    welcome = message_from_bytes(recorder.messages[1][2], policy=policy.default)
    assert welcome["Subject"] == "Welcome to Harbourlight Coastal Trust news"
    body = welcome.get_body(("plain",)).get_content()
    assert "A weekly digest every Monday at 09:00 (America/New_York)" in body
    assert "breaking-news alerts of updates and reports" in body
    assert "http://127.0.0.1:8000/feeds/reports.atom" in body
    assert "http://127.0.0.1:8000/feeds/updates.atom" in body
    assert "feeds/press-releases.atom" not in body
    preferences = re.search(r"http://127\.0\.0\.1:8000(/preferences/\S+)", body).group(1)

    again = site.get(confirm)
    assert "already on the press list" in again.text, "a confirmation link works once"
    replay = site.post(confirm, data={"csrf": csrf_of(page.text)})
    assert replay.status_code == 200 and "already on the press list" in replay.text
    with engine.connect() as conn:
        kinds = list(conn.execute(select(mailings.c.kind).order_by(mailings.c.id)).scalars())
    assert kinds == ["confirm", "welcome"], "a second confirmation brings no second welcome"

    page = site.get(preferences)
    assert page.status_code == 200 and 'value="daily"' in page.text
    saved = site.post(
        preferences,
        data={
            "csrf": csrf_of(page.text),
            "types": ["reports"],
            "weekly": "yes",
            "cadence": "daily",
        },
    )
    assert "Saved." in saved.text
    assert next(iter_subscribers(engine)).cadence == "daily"
    page = site.get(preferences)
    bad = site.post(
        preferences,
        data={"csrf": csrf_of(page.text), "types": ["reports"], "cadence": "hourly"},
    )
    assert bad.status_code == 400
    assert next(iter_subscribers(engine)).cadence == "daily"
