"""The web process over HTTP, served by uvicorn with the options and protocol `digest serve`
uses: feeds with ETag/304/gzip, and the press contacts' pages with signed links, CSRF and
RFC 8058 one-click unsubscribe."""

from __future__ import annotations

import gzip
import re
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from digest import actions
from digest.config import Settings
from digest.feeds import write_feeds
from digest.links import sign
from digest.model import Item, Subscriber
from digest.store import upsert_items
from digest.subscribers import add_subscriber, iter_subscribers
from digest.web import create_app

from .helpers import SMTPRecorder, csrf_of, filled, served, wait_for

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/feeds/all.atom", "application/atom+xml"),
        ("/feeds/reports.rss", "application/rss+xml"),
        ("/feeds/updates.json", "application/feed+json"),
        ("/", "text/html"),
        ("/feeds.opml", "text/x-opml"),
    ],
)
def test_feeds_are_cheap_to_poll(client: httpx.Client, path: str, media_type: str) -> None:
    first = client.get(path, headers={"Accept-Encoding": "identity"})
    assert first.status_code == 200
    assert first.headers["content-type"].startswith(media_type)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert "max-age" in first.headers["cache-control"]
    again = client.get(path, headers={"If-None-Match": etag, "Accept-Encoding": "identity"})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    since = client.get(path, headers={"If-Modified-Since": modified, "Accept-Encoding": "identity"})
    assert since.status_code == 304
    stale = client.get(path, headers={"If-None-Match": '"other"', "Accept-Encoding": "identity"})
    assert stale.status_code == 200 and stale.content == first.content
    head = client.head(path, headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(first.content))
    zipped = client.get(path, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["etag"] != etag
    assert zipped.content == first.content  # httpx decodes the gzip body
    assert zipped.headers["vary"] == "Accept-Encoding"


def test_changed_feed_gets_a_new_etag(
    client: httpx.Client, engine: Engine, web_settings: Settings
) -> None:
    old = client.get("/feeds/reports.atom").headers["etag"]
    upsert_items(
        engine,
        [
            Item(
                key="https://x.example/new",
                title="New Report",
                published=NOW,
                type="reports",
                source="t",
            )
        ],
        NOW,
    )
    write_feeds(engine, web_settings, changed_types={"reports"})
    wait_for(
        lambda: client.get("/feeds/reports.atom", headers={"If-None-Match": old}).status_code == 200
    )
    fresh = client.get("/feeds/reports.atom", headers={"If-None-Match": old})
    assert fresh.status_code == 200 and b"New Report" in fresh.content
    assert fresh.headers["etag"] != old


def test_unknown_and_traversal_paths_are_404(client: httpx.Client) -> None:
    for path in ("/feeds/nope.atom", "/feeds/..%2F..%2Fpyproject.toml", "/feeds/all.png"):
        assert client.get(path).status_code == 404


def test_subscribe_confirm_preferences_unsubscribe(
    client: httpx.Client, engine: Engine, smtp_server: tuple[SMTPRecorder, int]
) -> None:
    recorder, _ = smtp_server
    form = client.get("/subscribe")
    assert form.status_code == 200
    answer = client.post(
        "/subscribe",
        data=filled(
            form.text,
            email="Ana@Example.ORG",
            name="Ana",
            types=["reports", "updates"],
            weekly="yes",
        ),
    )
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    (subscriber,) = iter_subscribers(engine)
    assert (subscriber.email, subscriber.status) == ("Ana@example.org", "pending")
    assert subscriber.types == ("reports", "updates") and not subscriber.breaking
    wait_for(lambda: recorder.messages)
    (message,) = [message_from_bytes(m[2], policy=policy.default) for m in recorder.messages]
    assert message["To"].addresses[0].addr_spec == "Ana@example.org"
    text = message.get_body(("plain",)).get_content()
    confirm_url = re.search(r"http://127\.0\.0\.1:8000(/confirm/\S+)", text).group(1)

    page = client.get(confirm_url)
    assert page.status_code == 200 and "Confirm" in page.text
    assert next(iter_subscribers(engine)).status == "pending", "a GET confirms nothing"
    done = client.post(confirm_url, data={"csrf": csrf_of(page.text)})
    assert "You are subscribed" in done.text
    assert next(iter_subscribers(engine)).status == "active"

    preferences = re.search(
        r'href="http://127\.0\.0\.1:8000(/preferences/[^"]+)"', done.text
    ).group(1)
    page = client.get(preferences)
    saved = client.post(
        preferences, data={"csrf": csrf_of(page.text), "types": ["reports"], "breaking": "yes"}
    )
    assert "Saved." in saved.text
    stored = next(iter_subscribers(engine))
    assert stored.types == ("reports",) and stored.breaking and not stored.weekly


def test_same_answer_for_a_known_address(
    client: httpx.Client, engine: Engine, smtp_server: tuple[SMTPRecorder, int]
) -> None:
    add_subscriber(engine, Subscriber(email="known@example.org", name="Known"), NOW)
    answers = []
    for email in ("known@example.org", "new@example.org"):
        form = client.get("/subscribe")
        response = client.post("/subscribe", data=filled(form.text, email=email))
        answers.append((response.status_code, response.text.replace(email, "ADDRESS")))
    assert answers[0] == answers[1]
    statuses = {s.email: s.status for s in iter_subscribers(engine)}
    assert statuses == {"known@example.org": "active", "new@example.org": "pending"}


def test_one_click_unsubscribe(
    client: httpx.Client, engine: Engine, web_settings: Settings
) -> None:
    add_subscriber(engine, Subscriber(email="ana@example.org"), NOW)
    (subscriber,) = iter_subscribers(engine)
    token = sign("web-test", "unsubscribe", subscriber.id, subscriber.email)
    page = client.get(f"/unsubscribe/{token}")
    assert page.status_code == 200 and "Unsubscribe" in page.text
    assert next(iter_subscribers(engine)).status == "active", "a link scanner's GET does nothing"
    response = httpx.post(  # a mail provider's POST: no cookie, no CSRF token
        f"{client.base_url}unsubscribe/{token}",
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert next(iter_subscribers(engine)).status == "unsubscribed"


def test_forged_expired_or_foreign_tokens_are_refused(client: httpx.Client, engine: Engine) -> None:
    add_subscriber(engine, Subscriber(email="ana@example.org"), NOW)
    add_subscriber(engine, Subscriber(email="ben@example.org"), NOW)
    ana, ben = iter_subscribers(engine)
    good = sign("web-test", "unsubscribe", ana.id, ana.email)
    tokens = [
        sign("wrong-secret", "unsubscribe", ana.id, ana.email),
        sign("web-test", "preferences", ana.id, ana.email),
        f"{ben.id}.0.{good.split('.')[2]}",
        sign("web-test", "unsubscribe", ana.id, ben.email),
        "12345.0.abc",
        "garbage",
    ]
    for token in tokens:
        for response in (
            client.get(f"/unsubscribe/{token}"),
            client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"}),
        ):
            assert response.status_code == 404
            assert "ana@" not in response.text and "ben@" not in response.text
    expired = sign("web-test", "confirm", ana.id, ana.email, NOW - timedelta(hours=1))
    assert client.get(f"/confirm/{expired}").status_code == 404
    assert {s.status for s in iter_subscribers(engine)} == {"active"}


def test_forms_without_a_valid_csrf_token_are_refused(client: httpx.Client, engine: Engine) -> None:
    add_subscriber(engine, Subscriber(email="ana@example.org", types=("reports",)), NOW)
    (ana,) = iter_subscribers(engine)
    preferences = f"/preferences/{sign('web-test', 'preferences', ana.id, ana.email)}"
    client.get(preferences)
    for data in ({"types": "updates"}, {"types": "updates", "csrf": "forged"}):
        assert client.post(preferences, data=data).status_code == 403
        assert client.post("/subscribe", data={"email": "x@example.org", **data}).status_code == 403
    assert next(iter_subscribers(engine)).types == ("reports",)
    assert len(list(iter_subscribers(engine))) == 1


def test_healthz(client: httpx.Client) -> None:
    health = client.get("/healthz").json()
    assert health["ok"] is True and health["store"] == "reachable"
    assert health["last_poll_age_seconds"] is not None


def test_html_in_titles_is_text_on_pages(
    client: httpx.Client, engine: Engine, web_settings: Settings, tmp_path: Path
) -> None:
    add_subscriber(engine, Subscriber(email="ana@example.org", name="<script>x</script>"), NOW)
    (ana,) = iter_subscribers(engine)
    token = sign("web-test", "preferences", ana.id, ana.email)
    page = client.get(f"/preferences/{token}")
    assert "<script>" not in page.text
    index = client.get("/").content
    assert gzip.compress(index)  # served


def test_web_process_rebuilds_stale_feeds_from_the_store(
    engine: Engine, web_settings: Settings, tmp_path: Path
) -> None:
    own_folder = replace(web_settings, output_dir=tmp_path / "web-copy", feed_refresh_seconds=1)
    actions.ingest_sources(engine, own_folder, now=NOW)
    with (
        served(create_app(own_folder, engine), own_folder) as base_url,
        httpx.Client(base_url=base_url) as web,
    ):
        wait_for(lambda: web.get("/feeds/reports.atom").status_code == 200)  # no shared disk
        upsert_items(
            engine,
            [
                Item(
                    key="https://x.example/late",
                    title="Late Report",
                    published=NOW,
                    type="reports",
                    source="t",
                )
            ],
            NOW,
        )
        wait_for(lambda: b"Late Report" in web.get("/feeds/reports.atom").content)


def test_memory_path_speaks_http_1_0_1_1_pipelining_and_head(client: httpx.Client) -> None:
    import socket

    body = client.get("/feeds/all.atom", headers={"Accept-Encoding": "identity"}).content
    host, port = str(client.base_url).removeprefix("http://").rstrip("/").split(":")

    def exchange(request: bytes) -> bytes:
        with socket.create_connection((host, int(port)), timeout=60) as sock:
            sock.sendall(request)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
            return answer

    old = exchange(b"GET /feeds/all.atom HTTP/1.0\r\n\r\n")
    assert old.startswith(b"HTTP/1.1 200") and old.endswith(body), "closed after one answer"
    assert b"\r\nconnection: close\r\n" in old.lower()
    two = exchange(
        b"GET /feeds/all.atom HTTP/1.1\r\nHost: x\r\n\r\n"
        b"HEAD /feeds/all.atom HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert two.count(b"HTTP/1.1 200 OK\r\n") == 3
    assert two.count(body) == 1, "HEAD sends no body"
    assert two.rstrip().endswith(b"}"), "the dynamic answer comes last, in order"


def test_pages_on_disk_and_healthz_answer_while_a_refresh_runs(
    engine: Engine, web_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = replace(web_settings, output_dir=tmp_path / "web-copy", feed_refresh_seconds=1)
    actions.ingest_sources(engine, own, now=NOW)
    actions.publish_feeds(engine, own, full=True)
    late = Item(key="https://x.example/held", title="Held Back", published=NOW, source="t")
    upsert_items(engine, [late], NOW)
    started, release = threading.Event(), threading.Event()
    publish = actions.publish_feeds

    def slow_publish(*args: object, **kwargs: object) -> object:
        started.set()
        assert release.wait(60), "the test never let the refresh go"
        return publish(*args, **kwargs)

    monkeypatch.setattr(actions, "publish_feeds", slow_publish)
    with served(create_app(own, engine), own) as base_url, httpx.Client(base_url=base_url) as web:
        try:
            assert web.get("/feeds/all.atom").status_code == 200
            wait_for(started.is_set)
            assert web.get("/healthz").json()["ok"] is True
            for path in ("/feeds/all.atom", "/news/", "/"):
                answer = web.get(path)
                assert answer.status_code == 200, path
                assert "Held Back" not in answer.text, "what is on disk, while the refresh runs"
        finally:
            release.set()
        wait_for(lambda: "Held Back" in web.get("/feeds/all.atom").text)


def test_the_page_cache_is_bounded_by_bytes(tmp_path: Path) -> None:
    import asyncio
    import os as os_module

    from digest.web.static import StaticFiles

    for n in range(6):
        (tmp_path / f"p{n}.png").write_bytes(os_module.urandom(4000))  # an image: kept as it is
    files = StaticFiles(tmp_path, lambda media_type: [], max_bytes=14_000)

    def get(n: int) -> bytes:
        entry = asyncio.run(files.lookup(f"/p{n}.png"))
        assert entry is not None
        return entry.identity.body

    for n in (0, 1, 2):
        get(n)
    assert list(files.entries) == ["/p0.png", "/p1.png", "/p2.png"]
    get(0)
    get(3)
    assert files.held <= 14_000
    assert list(files.entries) == ["/p2.png", "/p0.png", "/p3.png"], "least recently used out"
    assert files.held == sum(entry.size for entry in files.entries.values())
    assert get(1) == (tmp_path / "p1.png").read_bytes(), "an evicted file is read again"
