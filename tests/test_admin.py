"""The staff console over HTTP: personal accounts and roles, the first admin from
ADMIN_PASSWORD, server-side sessions, CSRF bound to the session and same-origin checks,
the sign-in throttle in the store, TOTP, hashing off the event loop, the breaking-news send
with a test copy and progress, the audit log, and escaping on every page."""

from __future__ import annotations

import getpass
import re
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx
import pyotp
import pytest
from sqlalchemy import Engine, select

from digest import actions, staff
from digest.config import Settings
from digest.feeds import write_feeds
from digest.model import Item, Subscriber
from digest.store import audit_log, connect, upsert_items
from digest.store import staff as staff_table
from digest.subscribers import add_subscriber
from digest.web import create_app
from digest.web.auth import HASH_WORKERS
from digest.web.console.common import human_time, humane_text

from .helpers import SMTPRecorder, csrf_of, run, serve, served, wait_for

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
NASTY = "Tide <script>alert('x')</script> Warning"
KEY = "https://harbourlight.example/nasty"
PAGES = ["/admin", "/admin/items", "/admin/digest", "/admin/breaking", "/admin/audit"]
PASSWORD = "correct horse battery"


@pytest.fixture
def admin_settings(settings: Settings, smtp_server: tuple[SMTPRecorder, int]) -> Settings:
    _, port = smtp_server
    return replace(
        settings,
        secret_key="admin-test",
        admin_password=staff.legacy_hash("s3cret-bootstrap", iterations=1000),
        smtp_url=f"smtp://127.0.0.1:{port}",
        sender=replace(settings.sender, rate=1000.0),
        breaking=replace(
            settings.breaking,
            undo_seconds=0,
            test_addresses=("jo@example.org", "x@example.org"),
        ),
    )


def make_account(engine: Engine, email: str, name: str, role: str) -> staff.StaffMember:
    _, token = staff.add_staff(engine, email, name, role, datetime.now(UTC))
    return staff.set_password_with_token(engine, token, PASSWORD, datetime.now(UTC))


@pytest.fixture
def site(engine: Engine, admin_settings: Settings) -> Iterator[str]:
    actions.ingest_sources(engine, admin_settings, now=NOW)
    upsert_items(
        engine,
        [Item(key=KEY, title=NASTY, published=NOW, type="updates", source="t")],
        NOW,
    )
    write_feeds(engine, admin_settings)
    for n in range(3):
        add_subscriber(engine, Subscriber(email=f"r{n}@example.org", types=("updates",)), NOW)
    make_account(engine, "ed@example.org", "Ed Itor", "editor")
    make_account(engine, "sam@example.org", "Sam Sender", "sender")
    make_account(engine, "ada@example.org", "Ada Admin", "admin")
    with serve(create_app(admin_settings, engine)) as base_url:
        yield base_url


def sign_in(client: httpx.Client, email: str, password: str = PASSWORD, code: str = "") -> int:
    form = client.get("/admin/signin")
    data = {"csrf": csrf_of(form.text), "email": email, "password": password, "code": code}
    return client.post("/admin/signin", data=data).status_code


@contextmanager
def signed_in(base_url: str, email: str = "sam@example.org") -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url) as client:
        form = client.get("/admin/signin")
        data = {"csrf": csrf_of(form.text), "email": email, "password": PASSWORD}
        response = client.post("/admin/signin", data=data)
        assert response.status_code == 303 and response.headers["location"] == "/admin"
        cookie = response.headers["set-cookie"].lower()
        assert "digest_staff=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
        yield client


def post(client: httpx.Client, path: str, page: str, **fields: str) -> httpx.Response:
    """A form post from a console page, with that page's CSRF token."""
    return client.post(path, data={"csrf": csrf_of(client.get(page).text), **fields})


def test_new_hashes_are_argon2_and_old_ones_still_work() -> None:
    hashed = staff.hash_password("s3cret pass")
    assert hashed.startswith("$argon2id$")
    assert staff.verify_password(hashed, "s3cret pass")
    assert not staff.verify_password(hashed, "S3cret pass")
    legacy = staff.legacy_hash("s3cret", iterations=1000)
    assert staff.verify_password(legacy, "s3cret") and not staff.verify_password(legacy, "s3cre")
    assert staff.verify_password("plain", "plain") and not staff.verify_password("plain", "plain ")
    for broken in ("pbkdf2_sha256$x$y$z", "pbkdf2_sha256$99999999999$s$h", "$argon2id$junk"):
        assert not staff.verify_password(broken, "anything")


def test_a_pbkdf2_hash_is_upgraded_at_sign_in(site: str, engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            staff_table.update()
            .where(staff_table.c.email == "ed@example.org")
            .values(password_hash=staff.legacy_hash(PASSWORD, iterations=1000))
        )
    with httpx.Client(base_url=site) as client:
        assert sign_in(client, "ed@example.org") == 303
    with engine.connect() as conn:
        stored = conn.execute(
            select(staff_table.c.password_hash).where(staff_table.c.email == "ed@example.org")
        ).scalar()
    assert stored.startswith("$argon2id$")


def test_admin_pages_need_a_session(site: str) -> None:
    with httpx.Client(base_url=site) as anonymous:
        for path in [*PAGES, "/admin/staff", "/admin/account"]:
            response = anonymous.get(path)
            assert response.status_code == 303 and response.headers["location"] == "/admin/signin"
        anonymous.cookies.set("digest_staff", "forged-token")
        assert anonymous.get("/admin").status_code == 303
        sent = anonymous.post("/admin/breaking/send", data={"item": "x", "confirm_count": "3"})
        assert sent.status_code == 403


def test_first_admin_from_admin_password_works_once(
    engine: Engine, admin_settings: Settings
) -> None:
    with (
        serve(create_app(admin_settings, engine)) as base_url,
        httpx.Client(base_url=base_url) as client,
    ):
        assert "Create the first one" in client.get("/admin/signin").text
        page = client.get("/admin/first-admin")
        fields = {"email": "chief@example.org", "name": "Chief Editor", "password": PASSWORD}
        wrong = client.post(
            "/admin/first-admin",
            data={"csrf": csrf_of(page.text), "admin_password": "nope", **fields},
        )
        assert wrong.status_code == 401 and staff.list_staff(engine) == []
        made = client.post(
            "/admin/first-admin",
            data={"csrf": csrf_of(page.text), "admin_password": "s3cret-bootstrap", **fields},
        )
        assert made.status_code == 303
        assert "Chief Editor" in client.get("/admin/staff").text
        (chief,) = staff.list_staff(engine)
        assert chief.role == "admin" and chief.has_password
        again = client.post(
            "/admin/first-admin",
            data={
                "csrf": csrf_of(page.text),
                "admin_password": "s3cret-bootstrap",
                **fields,
                "email": "mallory@example.org",
            },
        )
        assert again.status_code == 404
        assert "Create the first one" not in client.get("/admin/signin").text
    assert [e.actor for e in audit_log(engine) if e.action == "first admin"] == [
        "Chief Editor (chief@example.org)"
    ]


def test_console_is_off_without_accounts_or_admin_password(
    engine: Engine, settings: Settings
) -> None:
    with serve(create_app(replace(settings, admin_password=None), engine)) as base_url:
        answer = httpx.get(base_url + "admin/signin")
        assert answer.status_code == 503 and "digest staff add" in answer.text
        assert httpx.get(base_url + "admin", follow_redirects=True).status_code == 503


def test_set_password_link_works_once(site: str, engine: Engine) -> None:
    _, token = staff.add_staff(engine, "new@example.org", "New Person", "editor", datetime.now(UTC))
    with httpx.Client(base_url=site) as client:
        link = f"/admin/password/{token}"
        page = client.get(link)
        assert page.status_code == 200 and "new@example.org" in page.text
        short = client.post(link, data={"csrf": csrf_of(page.text), "password": "x", "repeat": "x"})
        assert short.status_code == 400 and "at least 10" in short.text
        done = client.post(
            link, data={"csrf": csrf_of(page.text), "password": PASSWORD, "repeat": PASSWORD}
        )
        assert done.status_code == 303 and client.get("/admin").status_code == 200
        assert client.get(link).status_code == 404
    assert staff.find_staff(engine, "NEW@example.org").has_password


def test_sign_out_ends_the_session_on_the_server(site: str) -> None:
    with signed_in(site) as client:
        stolen = client.cookies["digest_staff"]
        assert client.get("/admin").status_code == 200
        signout = post(client, "/admin/signout", "/admin")
        assert signout.status_code == 303
    with httpx.Client(base_url=site) as thief:
        thief.cookies.set("digest_staff", stolen, path="/admin")
        assert thief.get("/admin").status_code == 303, "the old cookie no longer works"


def test_password_change_and_removal_end_sessions(site: str, engine: Engine) -> None:
    with signed_in(site, "ed@example.org") as laptop, signed_in(site, "ed@example.org") as phone:
        changed = post(
            laptop,
            "/admin/account/password",
            "/admin/account",
            current=PASSWORD,
            new="a brand new password",
            repeat="a brand new password",
        )
        assert changed.status_code == 303
        assert laptop.get("/admin").status_code == 200, "the changing session starts afresh"
        assert phone.get("/admin").status_code == 303, "every other session ended"
        with signed_in(site) as _, signed_in(site, "ada@example.org") as admin:
            removed = post(admin, "/admin/staff/remove", "/admin/staff", email="ed@example.org")
            assert removed.status_code == 200 and "was removed" in removed.text
        assert laptop.get("/admin").status_code == 303
    with httpx.Client(base_url=site) as client:
        assert sign_in(client, "ed@example.org", "a brand new password") == 401


def test_csrf_is_bound_to_the_session_and_origin_is_checked(
    site: str, smtp_server: tuple[SMTPRecorder, int]
) -> None:
    recorder, _ = smtp_server
    fields = {"item": KEY, "address": "x@example.org"}
    with signed_in(site) as one, signed_in(site, "ada@example.org") as other:
        token_of_one = csrf_of(one.get("/admin/breaking").text)
        for data in ({}, {"csrf": "forged"}, {"csrf": token_of_one}):
            response = other.post("/admin/breaking/test", data={**fields, **data})
            assert response.status_code == 403
        token = csrf_of(other.get("/admin/breaking").text)
        for headers in (
            {"Origin": "https://evil.example"},
            {"Origin": "null"},
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site"},
            {"Sec-Fetch-Site": "cross-site", "Origin": site.rstrip("/")},
        ):
            response = other.post(
                "/admin/breaking/test", data={**fields, "csrf": token}, headers=headers
            )
            assert response.status_code == 403, headers
        ok = other.post(
            "/admin/breaking/test",
            data={**fields, "csrf": token},
            headers={"Origin": site.rstrip("/"), "Sec-Fetch-Site": "same-origin"},
        )
        assert ok.status_code == 200 and "Test sent to x@example.org" in ok.text
    assert [m[1] for m in recorder.messages] == [["x@example.org"]]


def test_bad_sign_ins_are_throttled_per_account(site: str, engine: Engine) -> None:
    with httpx.Client(base_url=site) as client:
        codes = [sign_in(client, "sam@example.org", "guess") for _ in range(7)]
        assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]
        assert sign_in(client, "sam@example.org") == 429, "the right password waits too"
        assert sign_in(client, "ed@example.org") == 303, "other accounts are not locked"


def test_guessing_the_current_password_from_a_session_is_throttled(
    site: str, engine: Engine
) -> None:
    with signed_in(site, "ed@example.org") as stolen:
        replies = [
            post(
                stolen,
                "/admin/account/password",
                "/admin/account",
                current=f"guess {n}",
                new="the thief's password",
                repeat="the thief's password",
            )
            for n in range(staff.PAIR_LIMIT + 1)
        ]
        assert all("current password is not right" in r.text for r in replies[:-1])
        assert "Too many attempts. Changing your password from here is locked for" in (
            replies[-1].text
        ), "the refusal names what is locked"
        right = post(
            stolen,
            "/admin/account/password",
            "/admin/account",
            current=PASSWORD,
            new="the thief's password",
            repeat="the thief's password",
        )
        assert "Too many attempts" in right.text, "the right password waits too"
    ed = staff.find_staff(engine, "ed@example.org")
    assert staff.proven(engine, ed, PASSWORD, NOW), "the password is unchanged"
    assert not staff.proven(engine, ed, "the thief's password", NOW)


def test_throttle_per_client_holds_across_web_processes(
    engine: Engine, admin_settings: Settings
) -> None:
    with (
        serve(create_app(admin_settings, engine)) as first,
        serve(create_app(admin_settings, engine)) as second,
        httpx.Client(base_url=first) as one,
        httpx.Client(base_url=second) as two,
    ):
        make_account(engine, "sam@example.org", "Sam Sender", "sender")
        codes = [
            sign_in(one if n % 2 else two, f"nobody{n}@example.org", "guess")
            for n in range(staff.CLIENT_LIMIT)
        ]
        assert codes == [401] * staff.CLIENT_LIMIT
        assert sign_in(one, "sam@example.org") == 429
        assert sign_in(two, "sam@example.org") == 429


def test_rotating_x_forwarded_for_does_not_escape_the_throttle(
    engine: Engine, admin_settings: Settings
) -> None:
    """Served as `digest serve` serves it: no proxy is trusted by default, so a forged
    X-Forwarded-For is not the client."""

    app = create_app(admin_settings, engine)
    with served(app, admin_settings) as site, httpx.Client(base_url=site) as client:
        codes = []
        for n in range(staff.CLIENT_LIMIT + 2):
            form = client.get("/admin/signin")
            data = {
                "csrf": csrf_of(form.text),
                "email": f"nobody{n}@example.org",
                "password": "guess",
            }
            headers = {"X-Forwarded-For": f"203.0.113.{n}", "X-Real-IP": f"198.51.100.{n}"}
            codes.append(client.post("/admin/signin", data=data, headers=headers).status_code)
    assert codes == [401] * staff.CLIENT_LIMIT + [429, 429]


def test_hashing_never_holds_the_event_loop(
    engine: Engine, admin_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """20 wrong guesses are held inside the password check until a feed request has been
    answered: if hashing ran on the event loop, the feed could never be served."""
    write_feeds(engine, admin_settings)
    make_account(engine, "sam@example.org", "Sam Sender", "sender")
    real = staff.verify_password
    inside, release = threading.Semaphore(0), threading.Event()

    def held(stored: str, given: str) -> bool:
        inside.release()
        assert release.wait(60)
        return real(stored, given)

    monkeypatch.setattr(staff, "verify_password", held)
    with serve(create_app(admin_settings, engine)) as base_url:
        forms = []
        with httpx.Client(base_url=base_url) as client:
            for _ in range(20):
                token = csrf_of(client.get("/admin/signin").text)
                forms.append((dict(client.cookies), token))

        def guess(n: int) -> int:
            cookies, token = forms[n]
            with httpx.Client(base_url=base_url, cookies=cookies, timeout=60) as client:
                data = {"csrf": token, "email": "sam@example.org", "password": f"guess{n}"}
                return client.post("/admin/signin", data=data).status_code

        with ThreadPoolExecutor(20) as pool:
            guesses = [pool.submit(guess, n) for n in range(20)]
            for _ in range(HASH_WORKERS):
                assert inside.acquire(timeout=60), "guesses reach the password check"
            feed = httpx.get(base_url + "feeds/all.atom", timeout=60)
            assert feed.status_code == 200, "the feed is served while the hashes wait"
            early = [g.result() for g in guesses if g.done()]
            assert not early, f"no guess finished before the feed: {early}"
            release.set()
            codes = [g.result() for g in guesses]
    assert set(codes) == {401, 429}, "wrong guesses fail, and the account throttle still holds"
    assert codes.count(401) >= staff.PAIR_LIMIT


def test_totp_second_factor(site: str, engine: Engine) -> None:
    with signed_in(site, "ed@example.org") as client:
        page = client.get("/admin/account")
        secret = re.search(r'id="totp-secret" data-key="([A-Z2-7]+)"', page.text).group(1)
        shown = re.search(r'id="totp-secret"[^>]*>([A-Z2-7 ]+)<', page.text).group(1)
        assert shown.split() == [secret[i : i + 4] for i in range(0, len(secret), 4)]
        assert '<svg id="totp-qr" role="img"' in page.text, "an inline SVG drawn on the server"
        wrong = post(client, "/admin/account/totp", "/admin/account", secret=secret, code="000000")
        assert (
            wrong.status_code == 400 and not staff.find_staff(engine, "ed@example.org").totp_enabled
        )
        code = pyotp.TOTP(secret).now()
        on = post(client, "/admin/account/totp", "/admin/account", secret=secret, code=code)
        assert on.status_code == 303 and staff.find_staff(engine, "ed@example.org").totp_enabled
    with httpx.Client(base_url=site) as client:
        assert sign_in(client, "ed@example.org") == 401, "a code is needed"
        assert sign_in(client, "ed@example.org", code=code) == 401, "a used code is not reused"
        form = client.get("/admin/signin")
        data = {"csrf": csrf_of(form.text), "email": "ed@example.org", "password": PASSWORD}
        reused = client.post("/admin/signin", data=data | {"code": code})
        assert "This code was just used — wait for the next" in reused.text
        assert "missing or not right" in client.post("/admin/signin", data=data).text
    with engine.begin() as conn:
        conn.execute(staff_table.update().values(totp_last=None))
    with httpx.Client(base_url=site) as client:
        assert sign_in(client, "ed@example.org", code=pyotp.TOTP(secret).now()) == 303
        bare = post(client, "/admin/account/totp", "/admin/account", action="off")
        assert bare.status_code == 400 and "current password" in bare.text
        assert staff.find_staff(engine, "ed@example.org").totp_enabled, "a session is not enough"
        off = post(client, "/admin/account/totp", "/admin/account", action="off", proof=PASSWORD)
        assert (
            off.status_code == 303 and not staff.find_staff(engine, "ed@example.org").totp_enabled
        )


def test_admin_can_require_totp(site: str, engine: Engine) -> None:
    with signed_in(site, "ada@example.org") as admin:
        done = post(
            admin, "/admin/staff/totp", "/admin/staff", email="sam@example.org", required="yes"
        )
        assert "second factor required" in done.text
    with signed_in(site, "sam@example.org") as sam:
        blocked = sam.get("/admin/breaking")
        assert blocked.status_code == 303 and blocked.headers["location"] == "/admin/account"
        page = sam.get("/admin/account")
        assert "requires a second factor" in page.text
        secret = re.search(r'id="totp-secret" data-key="([A-Z2-7]+)"', page.text).group(1)
        code = pyotp.TOTP(secret).now()
        post(sam, "/admin/account/totp", "/admin/account", secret=secret, code=code)
        assert sam.get("/admin/breaking").status_code == 200
        off = post(sam, "/admin/account/totp", "/admin/account", action="off")
        assert off.status_code == 400 and "requires" in off.text


def test_roles_allow_exactly_what_they_say(
    site: str, engine: Engine, smtp_server: tuple[SMTPRecorder, int]
) -> None:
    recorder, _ = smtp_server
    with signed_in(site, "ed@example.org") as editor:
        for path in [*PAGES, f"/admin/breaking/preview?item={quote(KEY, safe='')}"]:
            assert editor.get(path).status_code == 200, path
        tested = post(editor, "/admin/breaking/test", "/admin/breaking", item=KEY)
        assert "Test sent to ed@example.org" in tested.text
        sent = post(editor, "/admin/breaking/send", "/admin/breaking", item=KEY, confirm_count="3")
        assert sent.status_code == 403 and "editor" in sent.text
        assert editor.get("/admin/staff").status_code == 403
        added = post(editor, "/admin/staff/add", "/admin", email="x@example.org", role="admin")
        assert added.status_code == 403 and staff.find_staff(engine, "x@example.org") is None
        assert "/admin/staff" not in editor.get("/admin").text
    with signed_in(site, "sam@example.org") as sender:
        assert sender.get("/admin/staff").status_code == 403
        sent = post(sender, "/admin/breaking/send", "/admin/breaking", item=KEY, confirm_count="3")
        assert sent.status_code == 303
        wait_for(lambda: 'id="state">done<' in sender.get(sent.headers["location"]).text)
    with signed_in(site, "ada@example.org") as admin:
        added = post(
            admin,
            "/admin/staff/add",
            "/admin/staff",
            email="x@example.org",
            name="X",
            role="editor",
        )
        assert added.status_code == 200
        link = re.search(r'id="setup-link">([^<]+)<', added.text).group(1)
        assert "/admin/password/" in link
        promoted = post(
            admin, "/admin/staff/role", "/admin/staff", email="x@example.org", role="sender"
        )
        assert "x@example.org: sender" in promoted.text
        last = post(
            admin, "/admin/staff/role", "/admin/staff", email="ada@example.org", role="editor"
        )
        assert last.status_code == 400 and "last admin" in last.text
    assert sorted(m[1][0] for m in recorder.messages) == [
        "ed@example.org",
        "r0@example.org",
        "r1@example.org",
        "r2@example.org",
    ]
    audited = {(e.actor, e.action) for e in audit_log(engine)}
    assert ("Ed Itor (ed@example.org)", "breaking test") in audited
    assert ("Sam Sender (sam@example.org)", "breaking request") in audited
    assert ("Ada Admin (ada@example.org)", "staff added") in audited
    assert ("Ada Admin (ada@example.org)", "staff role") in audited
    assert not any(a == "Ed Itor (ed@example.org)" and w == "breaking request" for a, w in audited)


def test_breaking_send_with_test_and_progress(
    site: str, smtp_server: tuple[SMTPRecorder, int]
) -> None:
    recorder, _ = smtp_server
    with signed_in(site) as client:
        page = client.get(f"/admin/breaking?item={quote(KEY, safe='')}")
        assert page.status_code == 200
        assert re.search(r'id="recipient-count">3<', page.text)
        preview = client.get(f"/admin/breaking/preview?item={quote(KEY, safe='')}")
        assert "&lt;script&gt;" in preview.text and "<script>" not in preview.text
        tested = post(
            client, "/admin/breaking/test", "/admin/breaking", item=KEY, address="jo@example.org"
        )
        assert "Test sent to jo@example.org" in tested.text
        assert [m[1] for m in recorder.messages] == [["jo@example.org"]]
        outside = post(
            client, "/admin/breaking/test", "/admin/breaking", item=KEY, address="a@rival.example"
        )
        assert outside.status_code == 400 and "test list" in outside.text
        assert len(recorder.messages) == 1, "no test goes outside the test list"
        stale = post(client, "/admin/breaking/send", "/admin/breaking", item=KEY, confirm_count="2")
        assert stale.status_code == 409
        sent = post(client, "/admin/breaking/send", "/admin/breaking", item=KEY, confirm_count="3")
        assert sent.status_code == 303
        progress = sent.headers["location"]
        wait_for(lambda: 'id="state">done<' in client.get(progress).text)
        assert "3 of 3" in client.get(progress).text
        audit = client.get("/admin/audit").text
        assert "Sam Sender" in audit and "breaking request" in audit and "breaking test" in audit
        assert "&lt;script&gt;" in audit
        only_tests = client.get("/admin/audit?what=test").text
        assert "breaking test" in only_tests and "breaking request" not in only_tests
        nobody = client.get("/admin/audit?who=Nobody").text
        assert "Nothing matches" in nobody
    assert sorted(m[1][0] for m in recorder.messages) == [
        "jo@example.org",
        "r0@example.org",
        "r1@example.org",
        "r2@example.org",
    ]


def test_script_in_titles_is_text_on_every_page(site: str) -> None:
    with signed_in(site, "ada@example.org") as client:
        key = quote(KEY, safe="")
        for path in [
            *PAGES,
            "/admin/staff",
            f"/admin/breaking?item={key}",
            "/admin/digest/preview",
        ]:
            text = client.get(path).text
            assert "<script>" not in text, path
        assert "&lt;script&gt;" in client.get("/admin/items").text


def test_times_read_as_people_say_them(settings: Settings) -> None:
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    moment = datetime(2020, 11, 23, 13, 5, tzinfo=UTC)
    assert human_time(moment, berlin) == "Mon 23 Nov 2020, 14:05 CET"
    this_year = datetime.now(UTC).replace(month=7, day=1, hour=10, minute=0)
    assert human_time(this_year, berlin).endswith("Jul, 12:00 CEST")
    assert human_time(None, berlin) == "never"
    detail = "Tide (mailing 3, scheduled for 2020-11-23T13:05:00+00:00) <b>"
    assert (
        humane_text(detail, berlin)
        == "Tide (mailing 3, scheduled for Mon 23 Nov 2020, 14:05 CET) <b>"
    )
    assert humane_text("2020-13-45T99:99", berlin) == "2020-13-45T99:99"


def test_every_staff_command_help_has_an_example() -> None:
    import click
    from click.testing import CliRunner

    from digest.cli import main

    staff = main.get_command(click.Context(main), "staff")
    assert isinstance(staff, click.Group)
    for name in staff.commands:
        result = CliRunner().invoke(main, ["staff", name, "--help"])
        assert result.exit_code == 0 and "Example: digest staff " in result.output, name


def test_cli_checks_the_role_of_the_account_named_with_as(tmp_path: Path) -> None:

    def digest(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return run(*args, tmp_path=tmp_path, BASE_URL="https://press.example/", **env)

    empty = digest("staff", "list")
    assert empty.returncode == 1 and "no staff accounts" in empty.stderr
    first = digest("staff", "add", "ada@example.org", "--role", "admin", "--name", "Ada Admin")
    assert first.returncode == 0, first.stderr
    assert re.search(r"https://press\.example/admin/password/\S{30,}", first.stdout)
    admin = ("--as", "ada@example.org")
    editor = ("--as", "ed@example.org")
    added = digest("staff", "add", "ed@example.org", "--role", "editor", *admin)
    assert added.returncode == 0, added.stderr
    assert digest("staff", "add", "sam@example.org", "--role", "sender", *admin).returncode == 0
    for command in (
        ("staff", "add", "x@example.org", "--role", "admin"),
        ("staff", "remove", "ada@example.org"),
        ("staff", "role", "ed@example.org", "admin"),
        ("staff", "reset", "ada@example.org"),
    ):
        refused = digest(*command, *editor)
        assert refused.returncode == 1 and "role editor cannot do this" in refused.stderr

    assert digest("publish").returncode == 0
    url = "https://harbourlight.example/newsroom/2026/08/osprey-platforms/"
    env = {"DIGEST_BREAKING_UNDO_SECONDS": "600"}
    no_send = digest("breaking", url, "--yes", "--no-wait", *editor, **env)
    assert no_send.returncode == 1 and "role editor cannot do this" in no_send.stderr
    held = digest("breaking", url, "--yes", "--no-wait", "--as", "sam@example.org", **env)
    assert held.returncode == 0 and "mailing 1 goes at" in held.stdout, held.stderr
    assert digest("mailing", "pause", "1", *editor).returncode == 1
    cancelled = digest("mailing", "cancel", "1", *editor)
    assert cancelled.returncode == 0, "anyone on the staff may cancel in the undo window"

    unknown = digest("staff", "add", "y@example.org", "--role", "editor", "--as", "who@x.org")
    assert unknown.returncode == 1 and "no active staff account" in unknown.stderr
    bad = digest("staff", "add", "not an address", "--role", "editor")
    assert bad.returncode == 1 and "not an address" in bad.stderr
    last = digest("staff", "remove", "ada@example.org")
    assert last.returncode == 1 and "last admin" in last.stderr
    reset = digest("staff", "reset", "ed@example.org", *admin)
    assert reset.returncode == 0 and "/admin/password/" in reset.stdout
    assert digest("staff", "remove", "ed@example.org", *admin).returncode == 0
    assert digest("staff", "list").stdout.splitlines() == [
        "ada@example.org\tadmin\tno-totp\tno-password-yet\tAda Admin",
        "sam@example.org\tsender\tno-totp\tno-password-yet\t",
        "ed@example.org\teditor\tno-totp\tremoved\t",
    ]
    engine = connect(f"sqlite:///{tmp_path / 'digest.db'}")
    entries = [(e.actor, e.action) for e in reversed(audit_log(engine))]
    engine.dispose()
    assert entries == [
        (getpass.getuser(), "staff added"),
        ("Ada Admin (ada@example.org)", "staff added"),
        ("Ada Admin (ada@example.org)", "staff added"),
        ("sam@example.org", "breaking request"),
        ("ed@example.org", "cancel mailing"),
        ("Ada Admin (ada@example.org)", "staff reset"),
        ("Ada Admin (ada@example.org)", "staff removed"),
    ]


def test_guarded_breaking_send_in_the_console(
    engine: Engine, admin_settings: Settings, smtp_server: tuple[SMTPRecorder, int]
) -> None:
    """An editor asks, a sender approves, the undo window is used to cancel; asked again
    and approved through a second web process with no undo window, it goes once; then an
    embargo, a correction note and the correction to exactly the alert's recipients."""
    recorder, _ = smtp_server
    guarded = replace(
        admin_settings, breaking=replace(admin_settings.breaking, approval=True, undo_seconds=600)
    )
    at_once = replace(guarded, breaking=replace(guarded.breaking, undo_seconds=0))
    upsert_items(engine, [Item(key=KEY, title=NASTY, published=NOW, type="updates")], NOW)
    for n in range(3):
        add_subscriber(engine, Subscriber(email=f"r{n}@example.org", types=("updates",)), NOW)
    make_account(engine, "ed@example.org", "Ed Itor", "editor")
    make_account(engine, "sam@example.org", "Sam Sender", "sender")
    with (
        serve(create_app(guarded, engine)) as site,
        serve(create_app(at_once, engine)) as other_site,
        signed_in(site, "ed@example.org") as editor,
        signed_in(site, "sam@example.org") as sender,
        signed_in(other_site, "sam@example.org") as sender_elsewhere,
    ):
        page = f"/admin/breaking?item={quote(KEY, safe='')}"
        assert "Ask for approval to send to 3 recipients" in editor.get(page).text
        asked = post(editor, "/admin/breaking/send", page, item=KEY, confirm_count="3")
        assert asked.status_code == 303 and asked.headers["location"] == "/admin/mailings/1"
        view = editor.get("/admin/mailings/1").text
        assert 'id="state">awaiting approval<' in view and "You asked for it" in view
        assert 'id="approve"' not in view
        assert post(editor, "/admin/mailings/1/approve", "/admin/mailings/1").status_code == 403

        assert 'id="approve"' in sender.get("/admin/mailings/1").text
        approved = post(sender, "/admin/mailings/1/approve", "/admin/mailings/1")
        assert approved.status_code == 303
        view = sender.get("/admin/mailings/1").text
        assert 'id="state">in undo window (goes at ' in view and "Nothing has left yet" in view
        assert int(re.search(r'id="seconds-left">(\d+)<', view).group(1)) > 500
        live = sender.get("/admin/mailings/1/live").text
        assert live.startswith('<div id="live"') and 'hx-trigger="every 2s"' in live
        cancelled = post(editor, "/admin/mailings/1/cancel", "/admin/mailings/1")
        assert cancelled.status_code == 303
        view = editor.get("/admin/mailings/1").text
        assert 'id="state">cancelled<' in view and "hx-trigger" not in view
        readers = [m for m in recorder.messages if m[1][0].startswith("r")]
        assert readers == [], "staff were told (approval notices); no reader got anything"

        asked = post(editor, "/admin/breaking/send", page, item=KEY, confirm_count="3")
        second = asked.headers["location"]
        assert second == "/admin/mailings/2"
        post(sender_elsewhere, f"{second}/approve", second)
        wait_for(lambda: 'id="state">done<' in sender_elsewhere.get(second).text)
        assert "3 of 3" in sender.get(second).text
        again = post(sender, f"{second}/cancel", second)
        assert again.status_code == 400 and "nothing to cancel" in again.text

        late = post(sender, "/admin/breaking/send", page, item=KEY, confirm_count="3", send_at="x")
        assert late.status_code == 400 and "cannot read the time" in late.text
        passed = post(
            sender,
            "/admin/breaking/send",
            page,
            item=KEY,
            confirm_count="3",
            send_at="2020-01-01T09:00",
        )
        assert passed.status_code == 400 and "has passed" in passed.text

        embargo = post(editor, "/admin/items/embargo", page, item=KEY, until="2099-01-01T09:00")
        assert embargo.status_code == 200 and "Embargo set" in embargo.text
        assert "embargoed until Thu 1 Jan 2099, 09:00 EST" in editor.get("/admin/items").text
        asked = post(editor, "/admin/items/embargo", page, item=KEY, action="lift")
        assert (
            "Yes, lift it now" in asked.text
            and "embargoed until" in editor.get("/admin/items").text
        ), "an early lift is asked about first"
        post(editor, "/admin/items/embargo", page, item=KEY, action="lift", confirm="yes")
        assert "embargoed until" not in editor.get("/admin/items").text

        noted = post(editor, "/admin/items/correction", page, item=KEY, note="The tide was 2 m.")
        assert noted.status_code == 200 and "The tide was 2 m." in editor.get(page).text
        assert 'id="send-correction"' not in editor.get(page).text, "editors do not send"
        refused = post(editor, "/admin/items/correction/send", page, item=KEY)
        assert refused.status_code == 403
        fixed = post(sender_elsewhere, "/admin/items/correction/send", page, item=KEY)
        assert fixed.status_code == 303
        wait_for(lambda: 'id="state">done<' in sender.get(fixed.headers["location"]).text)
    received = sorted(
        (m[1][0], "Correction" in str(p["Subject"]))
        for m, p in zip(recorder.messages, recorder.parsed(), strict=True)
        if m[1][0].startswith("r")
    )
    assert received == [(f"r{n}@example.org", flag) for n in range(3) for flag in (False, True)]
    audited = [(e.actor, e.action) for e in reversed(audit_log(engine))]
    for expected in [
        ("Ed Itor (ed@example.org)", "breaking request"),
        ("Sam Sender (sam@example.org)", "approve mailing"),
        ("Ed Itor (ed@example.org)", "cancel mailing"),
        ("Ed Itor (ed@example.org)", "embargo"),
        ("Ed Itor (ed@example.org)", "correction"),
        ("Sam Sender (sam@example.org)", "correction send"),
    ]:
        assert expected in audited


def test_press_list_search_edit_unsubscribe_import_export(site: str, engine: Engine) -> None:
    with signed_in(site, "sam@example.org") as sender:
        assert sender.get("/admin/press").status_code == 403
        refused = post(sender, "/admin/press/save", "/admin", email="z@example.org")
        assert refused.status_code == 403
    with signed_in(site, "ada@example.org") as admin:
        added = post(
            admin,
            "/admin/press/save",
            "/admin/press",
            email="dana@Courier.example",
            name="Dana Ortiz",
            outlet="Coastal Courier",
            weekly="on",
            breaking="on",
            **{"type-updates": "on"},
        )
        assert added.status_code == 303 and "#contact-" in added.headers["location"]
        assert "dana@courier.example: added" in admin.get(added.headers["location"]).text
        found = admin.get("/admin/press?q=courier").text
        assert "Dana Ortiz" in found and "r0@example.org" not in found and "1 found" in found
        edit = admin.get("/admin/press?edit=dana@courier.example").text
        assert 'value="Coastal Courier"' in edit
        edited = post(
            admin,
            "/admin/press/save",
            "/admin/press",
            email="dana@courier.example",
            name="Dana Ortiz-Reyes",
            outlet="Coastal Courier",
        )
        assert "dana@courier.example: updated" in admin.get(edited.headers["location"]).text
        gone = post(
            admin,
            "/admin/press/unsubscribe",
            "/admin/press",
            email="dana@courier.example",
            confirm="yes",
        )
        assert "dana@courier.example: unsubscribed" in gone.text
        again = post(
            admin,
            "/admin/press/save",
            "/admin/press",
            email="dana@courier.example",
            name="Dana",
            weekly="on",
        )
        assert again.status_code == 303
        bad = post(admin, "/admin/press/save", "/admin/press", email="not an address")
        assert bad.status_code == 400 and "Not saved" in bad.text
        pasted = (
            "email,name\nnew1@example.org,New One\nbroken,Nobody\nnew2@example.org,<b>Two</b>\n"
        )
        imported = post(admin, "/admin/press/import", "/admin/press", csv=pasted)
        assert imported.status_code == 400
        assert "2 added, 0 updated, 0 unchanged, 1 rejected" in imported.text
        errors = imported.text.split('id="import-errors"')[1].split("</table>")[0]
        assert '<td data-label="Line">3</td>' in errors and "broken" in errors
        assert "&lt;b&gt;Two&lt;/b&gt;" in admin.get("/admin/press?q=new2").text
        exported = admin.get("/admin/press/export.csv")
        assert exported.headers["content-type"].startswith("text/csv")
        assert "attachment" in exported.headers["content-disposition"]
        rows = exported.text.splitlines()
        assert rows[0].startswith("email,") and len(rows) == 1 + 6
        assert any(r.startswith("dana@courier.example,") and "unsubscribed" in r for r in rows)
    audited = [(e.actor, e.action) for e in audit_log(engine)]
    for action in ("add", "edit", "unsubscribe", "import", "export"):
        assert ("Ada Admin (ada@example.org)", f"press list {action}") in audited


def test_dashboard_shows_next_sends_failures_and_sources_in_local_time(
    site: str, engine: Engine, smtp_server: tuple[SMTPRecorder, int]
) -> None:
    recorder, _ = smtp_server
    page = f"/admin/breaking?item={quote(KEY, safe='')}"
    with signed_in(site, "sam@example.org") as sender:
        later = post(
            sender,
            "/admin/breaking/send",
            page,
            item=KEY,
            confirm_count="3",
            send_at="2099-03-02T14:05",
        )
        assert later.status_code == 303
        view = sender.get(later.headers["location"]).text
        assert 'id="state">scheduled<' in view and "Goes at Mon 2 Mar 2099, 14:05 EST" in view
        board = sender.get("/admin").text
    upcoming = board.split('id="upcoming"')[1].split("</table>")[0]
    assert "Mon 2 Mar 2099, 14:05 EST" in upcoming and later.headers["location"] in upcoming
    assert "Weekly digest" in upcoming
    sources = board.split('id="sources"')[1].split("</table>")[0]
    assert "Last successful read" in sources and "never" not in sources
    assert re.search(r"\w{3} \d{1,2} \w{3}( \d{4})?, \d\d:\d\d E[SD]T", sources)
    with signed_in(site, "ada@example.org") as admin:
        for path in [
            "/admin",
            "/admin/items",
            "/admin/digest",
            page,
            later.headers["location"],
            "/admin/audit",
            "/admin/staff",
            "/admin/press",
        ]:
            text = admin.get(path).text
            assert not re.search(r"\d{4}-\d\d-\d\d", text), f"no raw timestamps on {path}"
    assert recorder.messages == []


def test_pause_and_resume_from_the_console(
    site: str, engine: Engine, admin_settings: Settings, smtp_server: tuple[SMTPRecorder, int]
) -> None:
    recorder, _ = smtp_server
    mailing = actions.request_breaking(admin_settings, engine, KEY, "Script")
    where = f"/admin/mailings/{mailing.id}"
    with signed_in(site, "ed@example.org") as editor:
        assert 'id="pause"' not in editor.get(where).text
        assert post(editor, f"{where}/pause", where).status_code == 403
    with signed_in(site, "sam@example.org") as sender:
        assert 'id="state">sending<' in sender.get(where).text
        paused = post(sender, f"{where}/pause", where)
        assert paused.status_code == 303
        view = sender.get(where).text
        assert 'id="state">paused<' in view and 'id="resume"' in view
        assert actions.send(engine, admin_settings, mailing.id).sent == 0, "held while paused"
        resumed = post(sender, f"{where}/resume", where)
        assert resumed.status_code == 303
        wait_for(lambda: 'id="state">done<' in sender.get(where).text)
        twice = post(sender, f"{where}/resume", where)
        assert twice.status_code == 400 and "not paused" in twice.text
    assert sorted(m[1][0] for m in recorder.messages) == [f"r{n}@example.org" for n in range(3)]
    audited = [(e.actor, e.action) for e in audit_log(engine)]
    assert ("Sam Sender (sam@example.org)", "pause mailing") in audited
    assert ("Sam Sender (sam@example.org)", "resume mailing") in audited


CONSOLE_POSTS = [
    "/admin/signin",
    "/admin/first-admin",
    "/admin/password/abc",
    "/admin/signout",
    "/admin/account/password",
    "/admin/account/totp",
    "/admin/staff/add",
    "/admin/staff/role",
    "/admin/breaking/send",
    "/admin/items/embargo",
    "/admin/mailings/1/approve",
    "/admin/press/save",
    "/admin/press/import",
]


def test_hostile_console_requests_never_get_a_5xx(engine: Engine, admin_settings: Settings) -> None:
    """Arbitrary bytes in fields, cookies and headers of every console form, signed in and
    not: always an answer below 500."""
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hypothesis_settings
    from hypothesis import strategies as st

    make_account(engine, "ada@example.org", "Ada Admin", "admin")
    text = st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("latin-1"))
    with (
        serve(create_app(admin_settings, engine)) as base_url,
        signed_in(base_url, "ada@example.org") as admin,
    ):
        session = admin.cookies["digest_staff"]
        good_csrf = csrf_of(admin.get("/admin/staff").text)

        @hypothesis_settings(
            max_examples=150, deadline=None, suppress_health_check=list(HealthCheck)
        )
        @given(
            path=st.sampled_from(CONSOLE_POSTS),
            fields=st.dictionaries(
                st.sampled_from(
                    [
                        "csrf",
                        "email",
                        "password",
                        "code",
                        "name",
                        "role",
                        "item",
                        "until",
                        "send_at",
                        "secret",
                        "csv",
                        "note",
                        "action",
                        "admin_password",
                        "new",
                    ]
                ),
                text,
                max_size=6,
            ),
            signed=st.booleans(),
            real_csrf=st.booleans(),
            cookie=text.map(lambda v: "".join(c for c in v if " " <= c != "\x7f").strip()),
            origin=st.sampled_from([None, "null", "https://evil.example", "\u00e9"]),
        )
        def attack(
            path: str,
            fields: dict[str, str],
            signed: bool,
            real_csrf: bool,
            cookie: str,
            origin: str | None,
        ) -> None:
            data = {**fields, **({"csrf": good_csrf} if real_csrf else {})}
            body = "&".join(
                f"{quote(k)}={quote(v.encode('utf-8', 'surrogatepass'))}" for k, v in data.items()
            )
            token = session if signed else cookie
            headers = {
                "content-type": "application/x-www-form-urlencoded",
                "cookie": f"digest_staff={token}; digest_csrf={cookie}".encode(
                    "latin-1", "replace"
                ),
            }
            if origin is not None:
                headers["origin"] = origin.encode("latin-1", "replace")
            with httpx.Client(base_url=base_url) as client:
                answer = client.post(path, content=body.encode(), headers=headers)
            assert answer.status_code < 500, (path, data, answer.text[-300:])

        attack()


def test_settings_and_checks_are_for_admins(site: str, engine: Engine) -> None:
    with signed_in(site, "sam@example.org") as sender:
        assert sender.get("/admin/settings").status_code == 403
        assert post(sender, "/admin/settings", "/admin").status_code == 403
    with signed_in(site, "ada@example.org") as admin:
        page = admin.get("/admin/settings").text
        assert "Undo window after send" in page and "America/New_York" in page
        checked = post(admin, "/admin/settings", "/admin/settings")
        assert checked.status_code == 200
        rows = checked.text.split('id="checks"')[1].split("</table>")[0]
        assert "store" in rows and ("ok" in rows or "warn" in rows)
    assert ("Ada Admin (ada@example.org)", "checks") in [
        (e.actor, e.action) for e in audit_log(engine)
    ]


def test_a_failed_read_keeps_the_last_successful_one(engine: Engine) -> None:
    from datetime import timedelta

    from digest.store import record_poll, source_state

    record_poll(engine, "wire", {"polled_at": NOW, "result": "3 new, 0 updated, 0 unchanged"})
    later = NOW + timedelta(hours=1)
    record_poll(engine, "wire", {"polled_at": later, "result": "error: HTTP 503"})
    state = source_state(engine, "wire")
    assert state["polled_at"] == later and state["read_ok_at"] == NOW


def test_a_mailing_id_beyond_the_column_is_a_404_not_a_500(site: str) -> None:
    with signed_in(site) as client:
        for path in ("/admin/mailings/99999999999", "/admin/mailings/99999999999/live"):
            assert client.get(path).status_code == 404
        stopped = post(client, "/admin/mailings/99999999999/cancel", "/admin/breaking")
        assert stopped.status_code == 404


def test_the_embargo_form_says_what_is_wrong_instead_of_a_500(site: str) -> None:
    """A time in the past, an unreadable time and lifting an embargo that is not there are
    messages on the form (400), never a server error."""
    page = f"/admin/breaking?item={KEY}"
    with signed_in(site, "ed@example.org") as editor:
        past = post(editor, "/admin/items/embargo", page, item=KEY, until="2001-01-01 09:00")
        assert past.status_code == 400 and "in the past" in past.text
        garbled = post(editor, "/admin/items/embargo", page, item=KEY, until="next tuesday")
        assert garbled.status_code == 400 and "cannot read the time" in garbled.text
        lift = post(editor, "/admin/items/embargo", page, item=KEY, action="lift")
        assert lift.status_code == 400 and "no embargo" in lift.text
