"""Embargoes and who may send what (issue 17): the web versions of alerts and digests go
through the one gate (subject included), a withheld item leaves no folder naming it,
corrections wait for the embargo, test sends go only to their sender or the test list and
are throttled, sign-in throttles per (account, client), and turning TOTP off asks for a
password or a code."""

from __future__ import annotations

import contextlib
import socket
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from digest import actions
from digest.config import BreakingSettings, Settings
from digest.errors import DigestError
from digest.model import Item
from digest.store import upsert_items
from digest.web import create_app

from .helpers import SMTPRecorder, send_at, serve, served, subscribe


def news(title: str, at: datetime, item_type: str = "reports") -> Item:
    slug = title.lower().replace(" ", "-")
    return Item(
        key=f"https://harbourlight.example/newsroom/{slug}/",
        title=title,
        published=at,
        type=item_type,
        summary=f"Summary of {title}.",
        url=f"https://harbourlight.example/newsroom/{slug}/",
        source="test",
    )


def quick(settings: Settings) -> Settings:
    """Breaking alerts go at once (no undo window), secret set, feeds refreshed each second."""
    return replace(
        settings,
        secret_key="test-secret",
        feed_refresh_seconds=1,
        breaking=BreakingSettings(undo_seconds=0),
    )


def disk_texts(out: Path) -> dict[str, str]:
    """Every file under the output folder, by path, and every folder's name."""
    texts = {str(p.relative_to(out)): p.read_text() for p in out.rglob("*") if p.is_file()}
    texts |= {f"folder:{p.relative_to(out)}": str(p) for p in out.rglob("*") if p.is_dir()}
    return texts


def test_an_alert_whose_item_is_embargoed_later_has_no_public_web_version(
    engine: Engine, settings: Settings
) -> None:
    press = quick(settings)
    now = datetime.now(UTC)
    secret = news("Minister Resigns Over Harbour Deal", now - timedelta(hours=2))
    other = news("Ferry Timetable Changes", now - timedelta(hours=3), "updates")
    upsert_items(engine, [secret, other], now - timedelta(hours=1))
    subscribe(engine, "press@example.org")
    alert = actions.breaking_alert(engine, press, secret)
    weekly = actions.weekly_digest(engine, press, now.astimezone(press.timezone).date())
    assert alert.status == "sending" and weekly.status == "sending"
    actions.publish_feeds(engine, press)
    out = press.output_dir
    assert any(secret.title in text for text in disk_texts(out).values())

    actions.embargo_item(engine, secret.key, now + timedelta(days=1), "Alice")
    actions.publish_feeds(engine, press)
    on_disk = disk_texts(out)
    assert [where for where, text in on_disk.items() if secret.title in text] == []
    assert not (out / "digests" / f"breaking-{alert.ident}").exists()
    with serve(create_app(press, engine)) as base_url, httpx.Client(base_url=base_url) as web:
        listing = web.get("/digests/")
        assert listing.status_code == 200 and secret.title not in listing.text
        from digest.links import digest_page

        page = web.get(f"/digests/{digest_page(alert.kind, alert.ident)}/")
        assert page.status_code == 404 and secret.title not in page.text
        week = web.get(f"/digests/{digest_page(weekly.kind, weekly.ident)}/")
        assert week.status_code == 200, "the weekly digest still has a public item"
        assert other.title in week.text and secret.title not in week.text
        assert "1 update" in week.text and "report" not in week.text.split("<h1>")[1][:80]

    actions.embargo_item(engine, secret.key, None, "Alice")
    actions.publish_feeds(engine, press)
    with serve(create_app(press, engine)) as base_url, httpx.Client(base_url=base_url) as web:
        assert secret.title in web.get("/digests/").text, "after the lift it is public again"


def test_a_withheld_item_leaves_no_folder_naming_it(engine: Engine, settings: Settings) -> None:
    press = quick(settings)
    now = datetime.now(UTC)
    secret = news("Secret Merger Talks", now - timedelta(hours=2))
    upsert_items(engine, [secret], now - timedelta(hours=1))
    actions.publish_feeds(engine, press)
    out = press.output_dir
    folders = [p for p in (out / "items").iterdir() if "secret-merger" in p.name]
    assert len(folders) == 1 and (folders[0] / "index.html").exists()

    actions.embargo_item(engine, secret.key, now + timedelta(days=1), "Alice")
    actions.publish_feeds(engine, press)
    assert not folders[0].exists(), "the folder names the title in its slug"
    assert [w for w, text in disk_texts(out).items() if "secret-merger" in w + text] == []
    actions.embargo_item(engine, secret.key, None, "Alice")
    actions.publish_feeds(engine, press)
    assert (folders[0] / "index.html").exists()


def test_a_correction_to_an_embargoed_item_waits_for_the_lift(
    engine: Engine, settings: Settings, smtp_server: tuple[SMTPRecorder, int], tmp_path: Path
) -> None:
    recorder, port = smtp_server
    press = replace(
        quick(settings),
        smtp_url=f"smtp://127.0.0.1:{port}",
        sender=replace(settings.sender, rate=1000.0, connections=1, outbox=tmp_path / "outbox"),
    )
    now = datetime.now(UTC)
    story = news("Bridge Closure Extended", now - timedelta(hours=2))
    upsert_items(engine, [story], now - timedelta(hours=1))
    for n in range(4):
        subscribe(engine, f"desk{n}@example.org")
    alert = actions.request_breaking(press, engine, story.key, "Alice", now=now)
    actions.send(engine, press, alert.id)
    assert len(recorder.parsed()) == 4

    lifts = now + timedelta(hours=3)
    actions.embargo_item(engine, story.key, lifts, "Alice", now=now)
    actions.add_correction(engine, story.key, "The closure ends on Friday.", "Alice", now=now)
    correction = actions.send_correction(press, engine, story.key, "Alice", now=now)
    assert correction.status == "scheduled" and correction.send_after == lifts
    assert actions.release_held(engine, now + timedelta(minutes=5)) == []
    actions.send(engine, press)
    assert len(recorder.parsed()) == 4, "nothing went while the embargo held"

    assert actions.release_held(engine, lifts + timedelta(seconds=1)) == [correction.id]
    send_at(engine, press, lifts + timedelta(seconds=2))
    sent = recorder.parsed()[4:]
    assert len(sent) == 4 and all("Bridge Closure Extended" in m["Subject"] for m in sent)


def staff_actor(engine: Engine, email: str, role: str) -> actions.Actor:
    from digest import staff

    member, _token = staff.add_staff(engine, email, email.split("@")[0], role, datetime.now(UTC))
    return actions.Actor.of(member)


def test_a_test_send_goes_only_to_its_sender_or_the_test_list_and_is_throttled(
    engine: Engine, settings: Settings, smtp_server: tuple[SMTPRecorder, int]
) -> None:
    from digest.limits import TEST_SEND_PER_PERSON

    recorder, port = smtp_server
    press = replace(
        quick(settings),
        smtp_url=f"smtp://127.0.0.1:{port}",
        breaking=BreakingSettings(undo_seconds=0, test_addresses=("proofs@harbourlight.example",)),
    )
    now = datetime.now(UTC)
    story = news("Embargoed Budget Figures", now - timedelta(hours=1))
    upsert_items(engine, [story], now)
    actions.embargo_item(engine, story.key, now + timedelta(days=1), "Alice")
    editor = staff_actor(engine, "ed@harbourlight.example", "editor")
    other = staff_actor(engine, "sam@harbourlight.example", "sender")

    for outsider in ("journalist@rival.example", "ed@harbourlight.example.evil.example"):
        try:
            actions.test_alert(press, engine, story, outsider, editor)
        except actions.Forbidden as exc:
            assert outsider in str(exc) and "test_addresses" in str(exc)
        else:
            raise AssertionError(f"a test went to {outsider}")
    assert recorder.messages == []

    actions.test_alert(press, engine, story, "Ed@Harbourlight.example", editor)
    actions.test_alert(press, engine, story, "proofs@harbourlight.example", editor)
    refused = None
    for _ in range(TEST_SEND_PER_PERSON.limit):
        try:
            actions.test_alert(press, engine, story, "ed@harbourlight.example", editor)
        except DigestError as exc:
            refused = str(exc)
            break
    assert refused is not None and "try again in" in refused
    assert len(recorder.messages) == TEST_SEND_PER_PERSON.limit
    actions.test_alert(press, engine, story, "sam@harbourlight.example", other)
    actions.test_alert(press, engine, story, "anyone@elsewhere.example", "ops")
    assert [m[1] for m in recorder.messages[-2:]] == [
        ["sam@harbourlight.example"],
        ["anyone@elsewhere.example"],
    ], "another person is not throttled by the editor's tests; the operator may send anywhere"
    for _ in range(TEST_SEND_PER_PERSON.limit):
        try:
            actions.test_alert(press, engine, story, "anyone@elsewhere.example", "ops")
        except DigestError as exc:
            assert "try again in" in str(exc)
            break
    else:
        raise AssertionError("the operator's test sends are throttled too")


def test_a_guesser_elsewhere_cannot_lock_the_owner_out(engine: Engine) -> None:
    from digest import staff

    now = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
    _, token = staff.add_staff(engine, "press@harbourlight.example", "Pat", "sender", now)
    staff.set_password_with_token(engine, token, "correct horse battery", now)
    attacker, owner = "203.0.113.9", "198.51.100.7"
    for n in range(staff.PAIR_LIMIT):
        try:
            actions.sign_in(engine, "press@harbourlight.example", f"guess{n}", "", attacker, now)
        except staff.SignInError as exc:
            assert exc.status == 401
    try:
        actions.sign_in(
            engine, "press@harbourlight.example", "correct horse battery", "", attacker, now
        )
    except staff.SignInError as exc:
        assert exc.status == 429 and "until 14:15 UTC" in str(exc), str(exc)
    else:
        raise AssertionError("the guesser's own client is locked")
    member, _ = actions.sign_in(
        engine, "press@harbourlight.example", "correct horse battery", "", owner, now
    )
    assert member.email == "press@harbourlight.example", "the owner's machine is not locked"

    # many clients guessing together reach the per-account ceiling, which locks everyone
    later = now + timedelta(minutes=1)
    for n in range(staff.ACCOUNT_LIMIT):
        staff.record_failure(engine, "press@harbourlight.example", f"192.0.2.{n % 250}", later)
    try:
        actions.sign_in(
            engine, "press@harbourlight.example", "correct horse battery", "", owner, later
        )
    except staff.SignInError as exc:
        assert exc.status == 429 and "14:16 UTC" in str(exc) and "15 minutes" in str(exc)
    else:
        raise AssertionError("the per-account ceiling holds")
    member, _ = actions.sign_in(
        engine,
        "press@harbourlight.example",
        "correct horse battery",
        "",
        owner,
        later + staff.FAILURE_WINDOW + timedelta(seconds=1),
    )
    assert member.email == "press@harbourlight.example", "the lock ends when it said"


def test_turning_the_second_factor_off_needs_the_password_or_a_code(engine: Engine) -> None:
    import pyotp

    from digest import staff

    now = datetime.now(UTC)
    _, token = staff.add_staff(engine, "ed@harbourlight.example", "Ed", "editor", now)
    member = staff.set_password_with_token(engine, token, "correct horse battery", now)
    secret = staff.new_totp_secret()
    actions.second_factor_on(engine, member, secret, pyotp.TOTP(secret).now())
    member = staff.find_staff(engine, member.email)
    assert member.totp_enabled

    for proof in ("", "wrong password", "000000"):
        try:
            actions.second_factor_off(engine, member, proof, "203.0.113.5")
        except DigestError as exc:
            assert "password" in str(exc) and "code" in str(exc)
        else:
            raise AssertionError(f"turned off with {proof!r}")
        assert staff.find_staff(engine, member.email).totp_enabled
    actions.second_factor_off(engine, member, "correct horse battery", "203.0.113.5")
    assert not staff.find_staff(engine, member.email).totp_enabled

    actions.second_factor_on(engine, member, secret, pyotp.TOTP(secret).now())
    later = now + timedelta(seconds=90)
    actions.second_factor_off(engine, member, pyotp.TOTP(secret).at(later), "203.0.113.5", later)
    assert not staff.find_staff(engine, member.email).totp_enabled

    actions.second_factor_on(engine, member, secret, pyotp.TOTP(secret).now())
    for n in range(staff.PAIR_LIMIT):
        with contextlib.suppress(DigestError):
            actions.second_factor_off(engine, member, f"guess {n}", "203.0.113.5")
    try:
        actions.second_factor_off(engine, member, "correct horse battery", "203.0.113.5")
    except DigestError as exc:
        assert "Too many attempts" in str(exc)
    else:
        raise AssertionError("guessing the password through this form is throttled too")
    assert staff.find_staff(engine, member.email).totp_enabled


def test_slow_connections_from_one_address_do_not_shut_out_the_others(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client opens more slow-header connections than the server takes in all (uvicorn
    then answers 503 to everyone); another client, from 127.0.0.2, is still answered."""
    import digest.web
    from digest.store import connect, create_schema

    pytest.importorskip("uvloop")
    monkeypatch.setattr(digest.web, "MAX_CONCURRENCY", 120)
    engine = connect(settings.database_url)
    create_schema(engine)
    actions.publish_feeds(engine, settings)
    sockets = []
    with served(create_app(settings, engine), settings) as base_url:
        port = int(base_url.rsplit(":", 1)[1].strip("/"))
        try:
            for _ in range(150):
                sock = socket.create_connection(("127.0.0.1", port), timeout=60)
                sock.sendall(b"GET /feeds/all.atom HTTP/1.1\r\nHost: x\r\n")
                sockets.append(sock)
            other = socket.create_connection(("127.0.0.1", port), 60, ("127.0.0.2", 0))
            with other:
                other.sendall(b"GET /search?q=x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                answer = b""
                while chunk := other.recv(65536):
                    answer += chunk
            assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
            refused = sockets[-1].recv(200)
            assert b"503" in refused and b"connections" in refused.lower()
        finally:
            for sock in sockets:
                sock.close()
    engine.dispose()


def test_a_trusted_proxy_is_not_capped_at_the_socket(settings: Settings) -> None:
    from digest.store import connect

    engine = connect(settings.database_url)
    proxied = replace(settings, trusted_proxies=("10.0.0.0/8",), connections_per_client=7)
    app = create_app(proxied, engine)
    assert app.connection_cap("10.1.2.3") is None, "the proxy limits its clients itself"
    assert app.connection_cap("203.0.113.4") == 7
    engine.dispose()


def nginx_example(upstream_port: int, port: int) -> str:
    """docs/security.md's nginx configuration, listening on 127.0.0.1:`port` without TLS
    (no certificate in a test) and proxying to the app on `upstream_port`."""
    import re

    text = (Path(__file__).parent.parent / "docs" / "security.md").read_text()
    block = re.search(r"```nginx\n(.*?)```", text, re.S)
    assert block, "docs/security.md shows the nginx configuration"
    lines = [line for line in block[1].splitlines() if "ssl_certificate" not in line]
    conf = "\n".join(lines)
    conf = conf.replace("listen 443 ssl;", f"listen 127.0.0.1:{port};")
    return conf.replace("127.0.0.1:8000", f"127.0.0.1:{upstream_port}")


def test_the_documented_nginx_limits_work_in_front_of_the_app(
    settings: Settings, tmp_path: Path
) -> None:
    import shutil
    import subprocess

    from digest.store import connect, create_schema

    from .helpers import free_port, wait_for

    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx is None:
        pytest.skip("nginx is not installed")
    engine = connect(settings.database_url)
    create_schema(engine)
    proxied = replace(settings, trusted_proxies=("127.0.0.1",))
    actions.publish_feeds(engine, proxied)
    with served(create_app(proxied, engine), proxied) as base_url:
        upstream = int(base_url.rsplit(":", 1)[1].strip("/"))
        port = free_port()
        conf = tmp_path / "nginx.conf"
        conf.write_text(
            f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
            f"http {{\naccess_log off;\n{nginx_example(upstream, port)}\n}}\n"
        )
        checked = subprocess.run(
            [nginx, "-t", "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "e.log")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert checked.returncode == 0, checked.stderr
        process = subprocess.Popen(
            [
                nginx,
                "-p",
                str(tmp_path),
                "-c",
                str(conf),
                "-e",
                str(tmp_path / "e.log"),
                "-g",
                "daemon off;",
            ],
        )
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}/", timeout=60) as web:

                def answers() -> bool:
                    try:
                        return web.get("/feeds/all.atom").status_code == 200
                    except httpx.TransportError:
                        return False

                wait_for(answers)
                sockets = []
                try:
                    for _ in range(150):
                        sock = socket.create_connection(("127.0.0.1", port), timeout=60)
                        sock.sendall(b"GET /search?q=x HTTP/1.1\r\nHost: x\r\n")
                        sockets.append(sock)
                    other = httpx.Client(
                        base_url=f"http://127.0.0.1:{port}/",
                        transport=httpx.HTTPTransport(local_address="127.0.0.2"),
                        timeout=60,
                    )
                    with other:
                        assert other.get("/search?q=x").status_code == 200
                finally:
                    for sock in sockets:
                        sock.close()
        finally:
            process.terminate()
            process.wait(timeout=60)
    engine.dispose()


def test_the_cli_test_send_follows_the_same_rule(
    tmp_path: Path, smtp_server: tuple[SMTPRecorder, int]
) -> None:
    from .helpers import run

    recorder, port = smtp_server
    env = {"SECRET_KEY": "cli-test", "SMTP_URL": f"smtp://127.0.0.1:{port}"}
    assert run("publish", tmp_path=tmp_path, **env).returncode == 0
    assert (
        run("staff", "add", "ada@example.org", "--role", "admin", tmp_path=tmp_path).returncode == 0
    )
    added = run(
        "staff",
        "add",
        "ed@example.org",
        "--role",
        "editor",
        "--as",
        "ada@example.org",
        tmp_path=tmp_path,
    )
    assert added.returncode == 0, added.stderr
    url = "https://harbourlight.example/newsroom/2026/08/osprey-platforms/"
    editor = ("--as", "ed@example.org")
    outside = run(
        "breaking", url, "--test-to", "a@rival.example", *editor, tmp_path=tmp_path, **env
    )
    assert outside.returncode == 1 and "test_addresses" in outside.stderr
    assert "Traceback" not in outside.stderr and recorder.messages == []
    own = run("breaking", url, "--test-to", "ed@example.org", *editor, tmp_path=tmp_path, **env)
    assert own.returncode == 0, own.stderr
    assert [m[1] for m in recorder.messages] == [["ed@example.org"]]
