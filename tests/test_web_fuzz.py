"""Property-based attack on every route: arbitrary methods, paths, query strings, headers,
cookies and bodies never get a 5xx (or an exception) from the web app. Most examples call
the ASGI app in-process with any path and header bytes a server could pass on (fast, and
anything the app lets escape fails the test); a smaller run sends raw bytes to the app
served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import quote, quote_from_bytes, unquote

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from digest import actions
from digest.config import Settings
from digest.feeds import write_feeds
from digest.model import Subscriber
from digest.store import connect, create_schema
from digest.subscribers import add_subscriber
from digest.web import create_app
from digest.web.auth import hash_password

from .helpers import served

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ROUTES = [
    "/",
    "/index.html",
    "/feeds/{}",
    "/feeds.opml",
    "/healthz",
    "/subscribe",
    "/confirm/{}",
    "/preferences/{}",
    "/unsubscribe/{}",
    "/items/{}/",
    "/items/{}",
    "/admin",
    "/admin/signin",
    "/admin/signout",
    "/admin/items",
    "/admin/digest",
    "/admin/digest/preview",
    "/admin/breaking",
    "/admin/breaking/preview",
    "/admin/breaking/test",
    "/admin/breaking/send",
    "/admin/mailings/{}",
    "/admin/audit",
    "/{}",
]
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]
SLOW = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]

digits = st.text(alphabet="0123456789\u0660\u0661\u00b2\u0967\uff11", min_size=1, max_size=30)
token = st.one_of(
    st.builds(lambda a, b, c: f"{a}.{b}.{c}", digits, digits, st.text(max_size=60)),
    st.builds(lambda n: f"{n}.0.abcdefghijklmnopqrstuvwxyz", st.integers(min_value=0)),
    st.text(max_size=200),
)
segment = st.one_of(
    token,
    st.binary(max_size=100).map(lambda raw: quote_from_bytes(raw, safe="")),
    st.sampled_from(["..", ".", "%00", "all.atom", "x.html", "..%2f..%2fpyproject.toml"]),
)
header_value = st.one_of(
    st.binary(max_size=300).map(lambda raw: bytes(b for b in raw if b not in b"\r\n")),
    st.text(max_size=100).map(lambda text: text.encode("utf-8")),
)
header_name = st.sampled_from(
    [
        b"cookie",
        b"accept-encoding",
        b"if-none-match",
        b"if-modified-since",
        b"x-forwarded-for",
        b"origin",
        b"content-type",
        b"referer",
        b"range",
        b"x-custom",
    ]
)
form_fields = st.dictionaries(
    st.sampled_from(["csrf", "email", "name", "outlet", "types", "started", "website", "x"]),
    st.text(max_size=300),
    max_size=6,
)


@pytest.fixture
def app(settings: Settings) -> Iterator[object]:
    """The app on an SQLite store with feeds, one subscriber and the staff console on."""
    live = replace(
        settings,
        secret_key="fuzz",
        admin_password=hash_password("s3cret", 1000),
        sender=replace(settings.sender, outbox=settings.output_dir.parent / "outbox"),
    )
    engine: Engine = connect(live.database_url)
    create_schema(engine)
    actions.ingest_sources(engine, live, now=NOW)
    write_feeds(engine, live)
    add_subscriber(engine, Subscriber(email="ana@example.org"), NOW)
    yield create_app(live, engine)
    engine.dispose()


@hypothesis_settings(max_examples=400, deadline=None, suppress_health_check=SLOW)
@given(
    method=st.sampled_from(METHODS),
    route=st.sampled_from(ROUTES),
    fill=segment,
    query=st.binary(max_size=200),
    headers=st.lists(st.tuples(header_name, header_value), max_size=5),
    body=st.one_of(st.binary(max_size=2000), form_fields),
)
def test_no_request_gets_a_5xx(
    app: object,
    method: str,
    route: str,
    fill: str,
    query: bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes | dict[str, str],
) -> None:
    raw_path = route.replace("{}", quote(fill or "x", safe="/%.", errors="surrogatepass"))
    raw_path = raw_path.encode("ascii")
    if isinstance(body, dict):
        content = "&".join(f"{k}={v}" for k, v in body.items()).encode("utf-8", "surrogatepass")
        headers = [*headers, (b"content-type", b"application/x-www-form-urlencoded")]
    else:
        content = body
    headers = [*headers, (b"host", b"127.0.0.1:8000"), (b"content-length", b"%d" % len(content))]
    status = asyncio.run(call(app, method, raw_path, query, headers, content))
    assert status < 500, (method, raw_path, headers, status)


async def call(
    app: object,
    method: str,
    raw_path: bytes,
    query: bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    client: str = "127.0.0.1",
) -> int:
    """One request through the ASGI app as uvicorn hands it over; the response status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(raw_path.decode("ascii")),
        "raw_path": raw_path,
        "root_path": "",
        "query_string": query,
        "headers": [(name.lower(), value) for name, value in headers],
        "client": (client, 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    chunks = [body[i : i + 512] for i in range(0, len(body), 512)] or [b""]
    statuses: list[int] = []

    async def receive() -> dict[str, object]:
        if chunks:
            chunk = chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(int(message["status"]))  # type: ignore[arg-type]

    await app(scope, receive, send)  # type: ignore[operator]
    assert len(statuses) == 1, "exactly one response"
    return statuses[0]


plain_text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=400)
COOKIE = "fuzzfuzzfuzzfuzzfuzzfuzz"


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=SLOW)
@given(
    fields=st.dictionaries(
        st.sampled_from(["name", "outlet", "types", "weekly", "breaking", "website"]),
        plain_text,
    ),
    email=st.one_of(st.emails(), plain_text, st.emails().map(lambda e: "\u00fc" + e)),
    client=st.ip_addresses().map(str),
)
def test_valid_subscribe_forms_with_any_values_never_get_a_5xx(
    app: object, fields: dict[str, str], email: str, client: str
) -> None:
    """Forms that pass the CSRF and time checks, so every value reaches validation (and
    a valid one the store and the confirmation email)."""
    from urllib.parse import urlencode

    from digest.web.forms import _csrf_for, form_stamp

    fields = {
        **fields,
        "email": email,
        "csrf": _csrf_for("fuzz", COOKIE),
        "started": form_stamp("fuzz", time.time() - 10),
    }
    body = urlencode(fields).encode()
    headers = [
        (b"cookie", f"digest_csrf={COOKIE}".encode()),
        (b"content-type", b"application/x-www-form-urlencoded"),
        (b"content-length", b"%d" % len(body)),
    ]
    status = asyncio.run(call(app, "POST", b"/subscribe", b"", headers, body, client))
    assert status < 500, (fields, status)


@hypothesis_settings(max_examples=100, deadline=None, suppress_health_check=SLOW)
@given(types=st.lists(plain_text, max_size=5), weekly=st.booleans(), breaking=st.booleans())
def test_preferences_with_any_values_never_get_a_5xx(
    app: object, types: list[str], weekly: bool, breaking: bool
) -> None:
    from urllib.parse import urlencode

    from digest.links import sign
    from digest.web.forms import _csrf_for

    fields = [("csrf", _csrf_for("fuzz", COOKIE)), *(("types", t) for t in types)]
    fields += [("weekly", "yes")] if weekly else []
    fields += [("breaking", "yes")] if breaking else []
    body = urlencode(fields).encode()
    headers = [
        (b"cookie", f"digest_csrf={COOKIE}".encode()),
        (b"content-type", b"application/x-www-form-urlencoded"),
        (b"content-length", b"%d" % len(body)),
    ]
    token = sign("fuzz", "preferences", 1, "ana@example.org")
    status = asyncio.run(call(app, "POST", f"/preferences/{token}".encode(), b"", headers, body))
    assert status < 500, (fields, status)


request_line = st.builds(
    lambda method, target: method + b" " + target + b" HTTP/1.1\r\n",
    st.sampled_from([b"GET", b"POST", b"HEAD", b"G\x00T", b"\xff"]),
    st.one_of(
        st.sampled_from([b"/", b"/subscribe", b"/feeds/all.atom", b"/confirm/1.0.x"]),
        st.binary(min_size=1, max_size=200).map(lambda raw: b"/" + raw.replace(b" ", b"")),
    ),
)


@hypothesis_settings(max_examples=120, deadline=None, suppress_health_check=SLOW)
@given(
    line=request_line,
    headers=st.lists(st.tuples(header_name, header_value), max_size=6),
    body=st.binary(max_size=500),
)
def test_raw_bytes_to_uvicorn_never_get_a_5xx(
    uvicorn_url: str, line: bytes, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    host, port = uvicorn_url.removeprefix("http://").rstrip("/").split(":")
    head = line + b"Host: 127.0.0.1\r\nConnection: close\r\n"
    head += b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    head += b"Content-Length: %d\r\n\r\n" % len(body)
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        try:
            sock.sendall(head + body)
        except ConnectionError:
            return
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionError:
            pass
    if answer:
        status = answer.split(b" ", 2)[1]
        assert status[:1] in (b"1", b"2", b"3", b"4"), answer[:200]


@pytest.fixture
def uvicorn_url(app: object, settings: Settings) -> Iterator[str]:
    with served(app, settings) as url:
        yield url
