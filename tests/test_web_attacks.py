"""The public web process attacked: the subscribe form as a mail cannon, replayed
confirmation links, malformed input, huge bodies, spoofed X-Forwarded-For and Host
headers, missing security headers, and a production start without SECRET_KEY. Served by
uvicorn with the options `digest serve` uses, on 127.0.0.1, with a real SMTP server."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from digest import actions
from digest.config import Settings
from digest.errors import ConfigError
from digest.feeds import write_feeds
from digest.links import sign
from digest.model import Subscriber
from digest.subscribers import add_subscriber, iter_subscribers
from digest.web import create_app, server_options
from digest.web.forms import form_stamp

from .helpers import SMTPRecorder, csrf_of, served, wait_for

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SECRET = "web-attack-test"
ADDRESS = "target@example.org"


@pytest.fixture
def live(settings: Settings, smtp_server: tuple[SMTPRecorder, int]) -> Settings:
    _, port = smtp_server
    return replace(
        settings,
        secret_key=SECRET,
        smtp_url=f"smtp://127.0.0.1:{port}",
        sender=replace(settings.sender, rate=1000.0),
    )


def start(engine: Engine, settings: Settings) -> object:
    actions.ingest_sources(engine, settings, now=NOW)
    write_feeds(engine, settings)
    return create_app(settings, engine)


def submit(
    web: httpx.Client, email: str, forwarded: str | None = None, **fields: str
) -> httpx.Response:
    """One submission of the subscribe form as a browser sends it (a fresh form, its CSRF
    token, a start time ten seconds ago), optionally through a proxy naming the client."""
    page = web.get("/subscribe")
    data = {
        "csrf": csrf_of(page.text),
        "started": form_stamp(SECRET, time.time() - 10),
        "email": email,
        "name": "Target",
        **fields,
    }
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return web.post("/subscribe", data=data, headers=headers)


def settle(recorder: SMTPRecorder, engine: Engine) -> None:
    """Wait until every queued delivery has been attempted (the server sends after
    answering)."""
    from sqlalchemy import select

    from digest.store import deliveries

    def idle() -> bool:
        with engine.connect() as conn:
            statuses = conn.execute(select(deliveries.c.status)).scalars().all()
        return all(status in ("sent", "failed") for status in statuses)

    wait_for(idle)
    time.sleep(0.2)


def test_fifty_submissions_for_one_address_send_at_most_two_emails(
    engine: Engine, live: Settings, smtp_server: tuple[SMTPRecorder, int]
) -> None:
    recorder, _ = smtp_server
    behind_proxy = replace(live, trusted_proxies=("127.0.0.1",))
    with (
        served(start(engine, behind_proxy), behind_proxy) as url,
        httpx.Client(base_url=url) as web,
    ):
        for n in range(25):  # from 25 different clients: only the address limit applies
            answer = submit(web, ADDRESS, forwarded=f"198.51.100.{n}")
            assert answer.status_code == 200 and "Check your inbox" in answer.text
        settle(recorder, engine)
        assert len(recorder.messages) == 1, "one confirmation an hour"
        text = recorder.parsed()[0].get_body(("plain",)).get_content()
        confirm = re.search(r"http://127\.0\.0\.1:8000(/confirm/\S+)", text).group(1)
        page = web.get(confirm)
        assert web.post(confirm, data={"csrf": csrf_of(page.text)}).status_code == 200
        assert next(iter_subscribers(engine)).status == "active"
        for n in range(25):
            answer = submit(web, ADDRESS, forwarded=f"203.0.113.{n}")
            assert answer.status_code == 200 and "Check your inbox" in answer.text
        settle(recorder, engine)
    subjects = [message["Subject"] for message in recorder.parsed()]
    welcome = [subject for subject in subjects if subject.startswith("Welcome")]
    assert len(welcome) == 1, "confirming (not the form) sends the welcome, once"
    from_the_form = [m for m in recorder.parsed() if not m["Subject"].startswith("Welcome")]
    assert len(from_the_form) == 2, "then one 'already subscribed' notice a day"
    notice = from_the_form[1]
    assert "already" in notice["Subject"]
    assert "/preferences/" in notice.get_body(("plain",)).get_content()


def test_unsubscribed_and_bounced_addresses_get_at_most_one_email_a_day(
    engine: Engine, live: Settings, smtp_server: tuple[SMTPRecorder, int]
) -> None:
    recorder, _ = smtp_server
    add_subscriber(engine, Subscriber(email="gone@example.org", status="unsubscribed"), NOW)
    add_subscriber(engine, Subscriber(email="bounced@example.org", status="bounced"), NOW)
    behind_proxy = replace(live, trusted_proxies=("127.0.0.1",))
    with (
        served(start(engine, behind_proxy), behind_proxy) as url,
        httpx.Client(base_url=url) as web,
    ):
        for n in range(10):
            for email in ("gone@example.org", "bounced@example.org"):
                assert submit(web, email, forwarded=f"192.0.2.{n}").status_code == 200
        settle(recorder, engine)
    recipients = [to for _, tos, _ in recorder.messages for to in tos]
    assert sorted(recipients) == ["bounced@example.org", "gone@example.org"], (
        "one confirmation each: a suppressed address comes back only by confirming"
    )
    assert {s.email: s.status for s in iter_subscribers(engine)} == {
        "bounced@example.org": "bounced",
        "gone@example.org": "unsubscribed",
    }, "asking again changes nothing until the new link is used"


def test_one_client_gets_429_with_retry_after_even_rotating_x_forwarded_for(
    engine: Engine, live: Settings, smtp_server: tuple[SMTPRecorder, int]
) -> None:
    assert live.trusted_proxies == (), "no proxy is trusted by default"
    with served(start(engine, live), live) as url, httpx.Client(base_url=url) as web:
        answers = [
            submit(web, f"person{n}@example.org", forwarded=f"10.0.{n}.1").status_code
            for n in range(12)
        ]
        assert answers[:10] == [200] * 10
        refused = submit(web, "late@example.org", forwarded="10.9.9.9")
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 600
        assert "Try again in" in refused.text
    assert answers[10:] == [429, 429]
    assert "late@example.org" not in {s.email for s in iter_subscribers(engine)}


def test_honeypot_and_too_fast_forms_send_nothing(
    engine: Engine, live: Settings, smtp_server: tuple[SMTPRecorder, int]
) -> None:
    recorder, _ = smtp_server
    with served(start(engine, live), live) as url, httpx.Client(base_url=url) as web:
        bot = submit(web, "bot@example.org", website="http://spam.example")
        assert bot.status_code == 200 and "Check your inbox" in bot.text, "a bot learns nothing"
        page = web.get("/subscribe")
        hasty = web.post(
            "/subscribe",
            data={"csrf": csrf_of(page.text), "started": form_stamp(SECRET), "email": "a@ex.org"},
        )
        assert hasty.status_code == 400 and "press Subscribe again" in hasty.text
        forged = web.post(
            "/subscribe",
            data={"csrf": csrf_of(page.text), "started": "form.AAAA.forged", "email": "a@ex.org"},
        )
        assert forged.status_code == 400 and "expired" in forged.text
        time.sleep(0.5)
    assert list(iter_subscribers(engine)) == []
    assert recorder.messages == []


def confirm_links(recorder: SMTPRecorder) -> list[str]:
    """The confirmation links received so far, oldest first."""
    pattern = re.compile(r"http://127\.0\.0\.1:8000(/confirm/\S+)")
    texts = [message.get_body(("plain",)).get_content() for message in recorder.parsed()]
    return [match.group(1) for text in texts if (match := pattern.search(text))]


def test_a_confirmation_link_works_once_and_only_for_a_pending_address(
    engine: Engine, live: Settings, smtp_server: tuple[SMTPRecorder, int]
) -> None:
    recorder, _ = smtp_server
    with served(start(engine, live), live) as url, httpx.Client(base_url=url) as web:
        submit(web, ADDRESS)
        wait_for(lambda: confirm_links(recorder))
        (link,) = confirm_links(recorder)
        page = web.get(link)
        csrf = csrf_of(page.text)
        assert web.post(link, data={"csrf": csrf}).status_code == 200
        (ana,) = iter_subscribers(engine)
        assert ana.status == "active"
        assert "already on the press list" in web.get(link).text
        unsubscribe = sign(SECRET, "unsubscribe", ana.id, ana.email)
        web.post(f"/unsubscribe/{unsubscribe}", data={"List-Unsubscribe": "One-Click"})
        assert next(iter_subscribers(engine)).status == "unsubscribed"

        assert web.get(link).status_code == 410
        replay = web.post(link, data={"csrf": csrf})
        assert replay.status_code == 410 and "already been used" in replay.text
        assert next(iter_subscribers(engine)).status == "unsubscribed", "not re-activated"

        time.sleep(1.1)  # the new link is made after the unsubscribe, to the second
        submit(web, ADDRESS)  # asking again sends a fresh link, which works once
        wait_for(lambda: len(confirm_links(recorder)) == 2)
        fresh = confirm_links(recorder)[1]
        assert web.post(fresh, data={"csrf": csrf}).status_code == 200
        assert next(iter_subscribers(engine)).status == "active"
        web.post(f"/unsubscribe/{unsubscribe}", data={"List-Unsubscribe": "One-Click"})
        assert web.post(fresh, data={"csrf": csrf}).status_code == 410
        assert web.post(link, data={"csrf": csrf}).status_code == 410
    assert next(iter_subscribers(engine)).status == "unsubscribed"


MALFORMED: list[tuple[str, str, dict[str, object]]] = [
    ("GET", "/subscribe", {"headers": {"Cookie": "digest_csrf=\u00fc\u00df\u00e9"}}),
    ("GET", "/feeds/all.atom%00", {}),
    ("GET", "/%00", {}),
    ("GET", "/feeds/%00/x.atom", {}),
    ("GET", "/confirm/\u0661\u0662.\u0660.abcdefghijklmnopqrstuvwxyz", {}),
    ("GET", "/preferences/\u00b2.0.abcdefghijklmnopqrstuvwxyz", {}),
    ("GET", "/unsubscribe/" + "9" * 5000 + ".0.x", {}),
    ("GET", "/unsubscribe/99999999999999999999.0.abcdefghijklmnopqrstuvwxyz", {}),
    ("GET", "/preferences/2147483648.0.abcdefghijklmnopqrstuvwxyz", {}),
    ("GET", "/confirm/99999999999.99999999999.abcdefghijklmnopqrstuvwxyz", {}),
    ("POST", "/unsubscribe/1" + "0" * 30 + ".0.abc", {"data": {"List-Unsubscribe": "One-Click"}}),
    ("GET", "/items/%2e%2e/%2e%2e/pyproject.toml", {}),
    ("GET", "/.secret_key", {}),
    ("GET", "/feeds/" + "a" * 5000 + ".atom", {}),
    ("POST", "/subscribe", {"content": b"\xff\xfe\x00=\x00&csrf=\xc3\x28"}),
    ("POST", "/subscribe", {"content": b"a=" + b"&a=" * 5000}),
    ("GET", "/subscribe", {"headers": {"Accept-Encoding": "\u00e9" * 50}}),
    ("GET", "/feeds/all.atom", {"headers": {"If-Modified-Since": "Mon, 99 Foo 99999 99:99"}}),
    ("GET", "/feeds/all.atom", {"headers": {"If-None-Match": "\u00e9\u00e9"}}),
    ("GET", "/feeds/all.atom", {"headers": {"Accept-Encoding": "gzip;q=abc, br;q=1e999"}}),
]


def test_malformed_requests_get_4xx_not_5xx(
    engine: Engine, live: Settings, smtp_server: tuple[SMTPRecorder, int]
) -> None:
    with served(start(engine, live), live) as url, httpx.Client(base_url=url) as web:
        for method, path, options in MALFORMED:
            raw_headers = options.get("headers", {})
            headers = [(k.encode(), str(v).encode("utf-8")) for k, v in raw_headers.items()]
            request = web.build_request(
                method,
                url + path.lstrip("/"),
                content=options.get("content"),
                data=options.get("data"),
            )
            for name, value in headers:
                request.headers[name.decode()] = value.decode("latin-1")
            response = web.send(request)
            assert response.status_code < 500, (method, path, response.status_code)

        page = web.get("/subscribe")
        csrf = csrf_of(page.text)
        for field, wrong in (("csrf", "\u00fc" * 40), ("csrf", "\x00"), ("csrf", "1" * 100_000)):
            answer = web.post("/subscribe", data={field: wrong, "email": "a@example.org"})
            assert answer.status_code in (403, 413), (field, answer.status_code)
        long_name = web.post(
            "/subscribe",
            data={
                "csrf": csrf,
                "started": form_stamp(SECRET, time.time() - 10),
                "email": "long@example.org",
                "name": "N" * 60_000,
            },
        )
        assert long_name.status_code == 400
        assert "The name field is too long (at most 200 characters)" in long_name.text
        assert "N" * 201 not in long_name.text
    assert list(iter_subscribers(engine)) == []


def raw_exchange(url: str, head: bytes, body_chunks: Iterator[bytes]) -> tuple[bytes, int]:
    """Send a request over a plain socket, stopping when the server answers or closes;
    returns the answer and how many body bytes were sent before that."""
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    sent = 0
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(head)
        sock.setblocking(False)
        answer = b""
        for chunk in body_chunks:
            try:
                answer += sock.recv(65536)
            except BlockingIOError:
                pass
            except ConnectionError:
                break
            if answer:
                break
            try:
                sock.sendall(chunk)
            except (BlockingIOError, ConnectionError):
                break
            sent += len(chunk)
        sock.setblocking(True)
        try:
            while b"\r\n\r\n" not in answer:
                more = sock.recv(65536)
                if not more:
                    break
                answer += more
        except (ConnectionError, TimeoutError):
            pass
    return answer, sent


def test_a_200_megabyte_post_is_refused_without_being_read(
    engine: Engine, live: Settings, smtp_server: tuple[SMTPRecorder, int]
) -> None:
    size = 200 * 1024 * 1024
    chunk = b"a" * 65536

    def chunks(framing: bool) -> Iterator[bytes]:
        for _ in range(size // len(chunk)):
            time.sleep(0.002)
            yield b"%x\r\n%s\r\n" % (len(chunk), chunk) if framing else chunk

    with served(start(engine, live), live) as url:
        declared = (
            b"POST /subscribe HTTP/1.1\r\nHost: x\r\nContent-Type: "
            b"application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n" % size
        )
        answer, sent = raw_exchange(url, declared, chunks(False))
        assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
        assert sent < 8 * 1024 * 1024, "answered long before the body could have been read"

        streamed = (
            b"POST /subscribe HTTP/1.1\r\nHost: x\r\nContent-Type: "
            b"application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        answer, sent = raw_exchange(url, streamed, chunks(True))
        assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
        assert sent < 8 * 1024 * 1024, "stopped as soon as the limit was passed"
        assert httpx.get(url + "healthz").status_code == 200


PAGE_HEADERS = (
    "content-security-policy",
    "x-content-type-options",
    "referrer-policy",
    "x-frame-options",
    "permissions-policy",
)


def test_every_html_answer_has_security_headers_and_feeds_have_nosniff(
    engine: Engine, live: Settings, smtp_server: tuple[SMTPRecorder, int]
) -> None:
    secure = replace(live, base_url="https://press.example.org/")
    app = start(engine, secure)
    item_page = secure.output_dir / "items" / "tide-warning" / "index.html"
    item_page.parent.mkdir(parents=True)
    item_page.write_text("<!doctype html><title>Tide warning</title><p>High tide.</p>")
    (secure.output_dir / "news.html").write_text("<!doctype html><title>News</title>")
    add_subscriber(engine, Subscriber(email="ana@example.org"), NOW)
    (ana,) = iter_subscribers(engine)
    pages = [
        "/",
        "/index.html",
        "/subscribe",
        "/items/tide-warning/",
        "/news.html",
        f"/preferences/{sign(SECRET, 'preferences', ana.id, ana.email)}",
        f"/unsubscribe/{sign(SECRET, 'unsubscribe', ana.id, ana.email)}",
        "/confirm/1.0.abcdefghijklmnopqrstuvwxyz",
        "/no/such/page",
        "/admin/signin",
    ]
    with served(app, secure) as url, httpx.Client(base_url=url) as web:
        for path in pages:
            for response in (web.get(path), web.head(path)):
                assert response.headers["content-type"].startswith("text/html"), path
                for header in PAGE_HEADERS:
                    assert header in response.headers, (path, header)
                assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
                assert response.headers["strict-transport-security"].startswith("max-age=")
        for path in ("/feeds/all.atom", "/feeds/all.rss", "/feeds/all.json", "/feeds.opml"):
            response = web.get(path)
            assert response.status_code == 200, path
            assert response.headers["x-content-type-options"] == "nosniff", path
            assert "strict-transport-security" in response.headers
        wrong = web.post("/feeds/all.atom")
        assert wrong.status_code in (404, 405) and "content-security-policy" in wrong.headers


def test_the_host_header_is_never_echoed(
    engine: Engine, live: Settings, smtp_server: tuple[SMTPRecorder, int]
) -> None:
    app = start(engine, live)
    (live.output_dir / "items" / "storm").mkdir(parents=True)
    (live.output_dir / "items" / "storm" / "index.html").write_text("<p>Storm</p>")
    evil = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    with served(app, live) as url, httpx.Client(base_url=url, headers=evil) as web:
        folder = web.get("/items/storm")
        assert folder.status_code == 301
        assert folder.headers["location"] == "http://127.0.0.1:8000/items/storm/"
        for path in ("/subscribe/", "/admin/", "/feeds/", "/", "/subscribe", "/admin"):
            response = web.get(path)
            assert "evil.example" not in response.headers.get("location", ""), path
            assert "evil.example" not in response.text, path


def test_static_pages_come_from_the_output_folder_and_nothing_else(
    engine: Engine, live: Settings, smtp_server: tuple[SMTPRecorder, int], tmp_path: Path
) -> None:
    app = start(engine, live)
    out = live.output_dir
    (out / "items" / "a").mkdir(parents=True)
    (out / "items" / "a" / "index.html").write_text("<p>" + "Item A " * 100 + "</p>")
    (out / ".hidden.html").write_text("secret")
    (tmp_path / "outside.html").write_text("outside")
    (out / "escape.html").symlink_to(tmp_path / "outside.html")
    with served(app, live) as url, httpx.Client(base_url=url) as web:
        page = web.get("/items/a/", headers={"Accept-Encoding": "br"})
        assert page.status_code == 200 and page.headers["content-encoding"] == "br"
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert "stale-while-revalidate" in page.headers["cache-control"]
        assert "Item A" in page.text
        again = web.get(
            "/items/a/",
            headers={"If-None-Match": page.headers["etag"], "Accept-Encoding": "gzip"},
        )
        assert again.status_code == 200, "another encoding has its own ETag"
        assert again.headers["content-encoding"] == "gzip"
        again = web.get(
            "/items/a/",
            headers={"If-None-Match": page.headers["etag"], "Accept-Encoding": "br"},
        )
        assert again.status_code == 304
        for path in ("/.hidden.html", "/escape.html", "/items/a/../../outside.html"):
            assert web.get(path).status_code == 404, path
        (out / "items" / "a" / "index.html").write_text("<p>Edited</p>")
        wait_for(lambda: "Edited" in web.get("/items/a/").text)


def test_proxy_headers_are_believed_only_from_trusted_proxies(live: Settings) -> None:
    from digest.config import load_settings
    from digest.web.security import TrustedProxies

    assert server_options(live)["proxy_headers"] is False, "uvicorn's own handling is off"
    none = TrustedProxies(None, ())  # type: ignore[arg-type]
    assert none.client("203.0.113.9", ["1.2.3.4"]) == "203.0.113.9"
    ours = TrustedProxies(None, ("10.0.0.0/8",))  # type: ignore[arg-type]
    assert ours.client("10.0.0.5", ["1.2.3.4", "198.51.100.7", "10.0.0.9"]) == "198.51.100.7"
    assert ours.client("203.0.113.9", ["1.2.3.4"]) == "203.0.113.9", "not from our proxy"
    router = TrustedProxies(None, ("*",))  # type: ignore[arg-type]
    assert router.client("10.1.2.3", ["forged", "198.51.100.7"]) == "198.51.100.7"
    with pytest.raises(ConfigError, match=r"site\.trusted_proxies"):
        load_settings(
            {"DIGEST_CONFIG": "config/digest.toml", "TRUSTED_PROXIES": "10.0.0.1, not-an-ip"}
        )
    loaded = load_settings({"DIGEST_CONFIG": "config/digest.toml", "TRUSTED_PROXIES": "*"})
    assert loaded.trusted_proxies == ("*",)


def test_behind_a_router_a_client_forging_x_forwarded_for_is_still_one_client(
    engine: Engine, live: Settings, smtp_server: tuple[SMTPRecorder, int]
) -> None:
    behind_router = replace(live, trusted_proxies=("*",))
    app = start(engine, behind_router)
    with served(app, behind_router) as url, httpx.Client(base_url=url) as web:
        answers = [
            submit(web, f"p{n}@example.org", forwarded=f"10.0.{n}.1, 198.51.100.7").status_code
            for n in range(11)
        ]
        other = submit(web, "other@example.org", forwarded="10.9.9.9, 198.51.100.8")
    assert answers == [200] * 10 + [429], "what the client wrote is ignored"
    assert other.status_code == 200, "the address the router saw is the client"


def test_request_heads_are_limited_in_size_and_time(
    engine: Engine, live: Settings, smtp_server: tuple[SMTPRecorder, int], monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    import digest.web
    from digest.web import server

    monkeypatch.setattr(server, "HEADER_SECONDS", 0.5)
    monkeypatch.setattr(digest.web, "KEEP_ALIVE_SECONDS", 0.5)
    with served(start(engine, live), live) as url:
        host, port = url.removeprefix("http://").rstrip("/").split(":")

        def exchange(head: bytes) -> bytes:
            with socket.create_connection((host, int(port)), timeout=60) as sock:
                sock.sendall(head)
                answer = b""
                while chunk := sock.recv(65536):
                    answer += chunk
                return answer

        big = b"GET /feeds/all.atom HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 60_000 + b"\r\n\r\n"
        assert exchange(big).startswith(b"HTTP/1.1 431")
        assert exchange(b"GET / HTTP/1.1\r\nHost: x\r\n").startswith(b"HTTP/1.1 408")
        assert exchange(b"") == b"", "an idle connection is closed without a word"
        small = exchange(b"GET /feeds/all.atom HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert small.startswith(b"HTTP/1.1 200")


def test_sign_in_guesses_rotating_x_forwarded_for_are_still_one_client(
    engine: Engine, live: Settings, smtp_server: tuple[SMTPRecorder, int]
) -> None:
    from digest.web.auth import hash_password

    staffed = replace(live, admin_password=hash_password("s3cret", 1000))
    with served(start(engine, staffed), staffed) as url, httpx.Client(base_url=url) as web:
        statuses = []
        for n in range(7):
            page = web.get("/admin/signin")
            guess = {"csrf": csrf_of(page.text), "name": "Mallory", "password": f"guess{n}"}
            answer = web.post(
                "/admin/signin", data=guess, headers={"X-Forwarded-For": f"192.0.2.{n}"}
            )
            statuses.append(answer.status_code)
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429, 429], "a new X-Forwarded-For does not make a new client"


def test_an_address_the_relay_cannot_take_is_refused_at_subscribe_time(
    engine: Engine, live: Settings, smtp_server: tuple[SMTPRecorder, int]
) -> None:
    recorder, _ = smtp_server
    with served(start(engine, live), live) as url, httpx.Client(base_url=url) as web:
        answer = submit(web, "ü@example.org")
        assert "non-ASCII" in answer.text
        assert "Check your inbox" not in answer.text
        accepted = submit(web, "reader@bücher.example")
        assert "Check your inbox" in accepted.text
        settle(recorder, engine)
    assert [message["To"] for message in recorder.parsed()] == [
        "Target <reader@xn--bcher-kva.example>"
    ]
    assert [s.email for s in iter_subscribers(engine)] == ["reader@bücher.example"]
