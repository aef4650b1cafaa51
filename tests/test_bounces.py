"""Returned mail: the VERP bounce address of each delivery, DSNs and complaint reports from
real servers read into bounces and complaints, auto-replies ignored, garbage kept for a look,
and what each does to the press list — through a real SMTP server, the `digest` command and
a real store."""

from __future__ import annotations

import email
import email.policy
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from digest import actions
from digest.bounces import COMPLAINT, HARD, SOFT, needs_a_look, read_report
from digest.config import BreakingSettings, Settings, load_settings
from digest.messages import message_id
from digest.store import audit_log, subscribers, upsert_items
from digest.verp import delivery_of, envelope_sender, token

from .helpers import DATA, ROOT, SMTPRecorder, item, run, subscribe

SAMPLES = DATA / "bounces"
NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
BOUNCE_ADDRESS = "bounces+{token}@news.harbourlight.example"
Server = tuple[SMTPRecorder, int]


@pytest.fixture
def press(settings: Settings, smtp_server: Server, tmp_path: Path) -> Settings:
    _, port = smtp_server
    return replace(
        settings,
        smtp_url=f"smtp://127.0.0.1:{port}",
        secret_key="test-secret",
        email=replace(settings.email, bounce_address=BOUNCE_ADDRESS),
        sender=replace(settings.sender, rate=1000.0, connections=1, outbox=tmp_path / "outbox"),
        breaking=BreakingSettings(undo_seconds=0),
    )


def sample(name: str, recipient: str, return_path: str, ident: str) -> bytes:
    """A sample returned message with its placeholders filled in."""
    text = (SAMPLES / name).read_text()
    text = text.replace("@@RECIPIENT@@", recipient).replace("@@RETURN_PATH@@", return_path)
    return text.replace("@@MESSAGE_ID@@", ident.strip("<>")).encode()


def status_of(engine: Engine, address: str) -> str:
    with engine.connect() as conn:
        query = select(subscribers.c.status).where(subscribers.c.email == address)
        return conn.execute(query).scalar_one()


# The bounce address


def test_the_envelope_sender_carries_a_signed_token(press: Settings) -> None:
    sender = envelope_sender(press, 12, 345)
    assert sender.startswith("bounces+12-345-") and sender.endswith("@news.harbourlight.example")
    assert delivery_of(press, sender) == (12, 345)
    assert delivery_of(press, sender.upper()) == (12, 345), "a server may change the case"
    forged = sender.replace("12-345", "12-346")
    assert delivery_of(press, forged) is None, "a forged token names no delivery"
    other = replace(press, secret_key="another")
    assert delivery_of(other, sender) is None
    assert delivery_of(press, "press@harbourlight.example") is None
    unset = replace(press, email=replace(press.email, bounce_address=""))
    assert envelope_sender(unset, 12, 345) == press.email.from_address


def test_a_bounce_address_without_its_token_stops_start_up(tmp_path: Path) -> None:
    from digest.errors import DigestError

    with pytest.raises(DigestError, match="bounce_address"):
        load_settings(
            {
                "DIGEST_CONFIG": str(ROOT / "config" / "digest.toml"),
                "DIGEST_EMAIL_BOUNCE_ADDRESS": "bounces@news.example.org",
            }
        )


def test_each_delivery_goes_out_with_its_own_bounce_address(
    engine: Engine, press: Settings, smtp_server: Server
) -> None:
    recorder, _ = smtp_server
    news = item("Harbour Reopens", 23, "press-releases")
    upsert_items(engine, [news], NOW)
    ids = {a: subscribe(engine, a) for a in ("a@example.org", "b@example.org")}
    mailing = actions.request_breaking(press, engine, news.key, "Alice")
    actions.send(engine, press)
    senders = {rcpt[0]: mail_from for mail_from, rcpt, _ in recorder.messages}
    for address, subscriber_id in ids.items():
        assert delivery_of(press, senders[address]) == (mailing.id, subscriber_id)
        parsed = email.message_from_bytes(
            next(d for _, r, d in recorder.messages if r == [address]), policy=email.policy.default
        )
        assert parsed["From"].addresses[0].addr_spec == press.email.from_address


# Reading what comes back


RETURN = "bounces+7-42-000000000000@news.harbourlight.example"


@pytest.mark.parametrize(
    ("name", "kind", "status"),
    [
        ("postfix-user-unknown.eml", HARD, "5.1.1"),
        ("postfix-mailbox-full.eml", SOFT, "5.2.2"),
        ("exim-failed.eml", HARD, "5.0.0"),
        ("exim-old-plain.eml", HARD, "5.0.0"),
        ("exchange-ndr.eml", HARD, "5.1.10"),
        ("gmail-delayed.eml", SOFT, "4.2.2"),
        ("yahoo-arf.eml", COMPLAINT, ""),
        ("microsoft-jmrp.eml", COMPLAINT, ""),
    ],
)
def test_samples_from_real_servers_are_understood(
    press: Settings, name: str, kind: str, status: str
) -> None:
    ident = message_id(press, 7, 42)
    report = read_report(press, sample(name, "dana@paper.example", RETURN, ident))
    assert not report.problem and not report.ignored, report
    (finding,) = report.findings
    assert finding.kind == kind
    assert finding.status == status
    assert finding.delivery == (7, 42), "tied to the delivery by its Message-ID"
    if "jmrp" not in name:
        assert finding.email == "dana@paper.example"


def test_the_verp_token_wins_over_everything_else(press: Settings) -> None:
    return_path = envelope_sender(press, 3, 9)
    raw = sample("postfix-user-unknown.eml", "old@paper.example", return_path, "<x@elsewhere>")
    (finding,) = read_report(press, raw).findings
    assert finding.delivery == (3, 9)


@pytest.mark.parametrize("name", ["vacation.eml", "outlook-automatic-reply.eml"])
def test_auto_replies_are_ignored(press: Settings, name: str) -> None:
    report = read_report(press, sample(name, "dana@paper.example", RETURN, "<a@b>"))
    assert report.ignored and not report.findings and not report.problem


@pytest.mark.parametrize(
    "raw",
    [
        sample("garbage.eml", "dana@paper.example", RETURN, "<a@b>"),
        b"\x00\xff\xfe not a message at all",
        b"",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\n\n--x\n",
    ],
)
def test_what_cannot_be_understood_says_why(press: Settings, raw: bytes) -> None:
    report = read_report(press, raw)
    assert report.problem and not report.findings


# What each does


def test_hard_soft_and_complaint_change_the_press_list(
    engine: Engine, press: Settings, tmp_path: Path
) -> None:
    hard, soft, plaint = "gone@paper.example", "full@radio.example", "angry@wire.example"
    ids = {a: subscribe(engine, a) for a in (hard, soft, plaint)}

    def returned(name: str, address: str) -> tuple[str, bytes]:
        ident = message_id(press, 999, ids[address])
        return name, sample(name, address, "bounce@elsewhere.example", ident)

    run_ = actions.read_bounces(
        engine,
        press,
        "postfix",
        [
            returned("postfix-user-unknown.eml", hard),
            returned("yahoo-arf.eml", plaint),
            returned("postfix-mailbox-full.eml", soft),
        ],
        NOW,
    )
    assert run_.not_understood == 0
    assert status_of(engine, hard) == "bounced"
    assert status_of(engine, plaint) == "unsubscribed"
    assert status_of(engine, soft) == "active", "one soft bounce is only counted"
    said = " ".join(line for o in run_.outcomes for line in o.said)
    assert "soft bounce 1 of 3 in 30 days" in said and "suppressed (hard bounce)" in said
    for day in (1, 2):
        later = NOW + timedelta(days=day)
        name, raw = returned("gmail-delayed.eml", soft)
        raw = raw.replace(b"SMTPIN_ADDED_DSN@", f"day{day}@".encode())
        actions.read_bounces(engine, press, "postfix", [(name, raw)], later)
    assert status_of(engine, soft) == "bounced", "the third soft bounce in 30 days suppresses"
    history = actions.bounce_history(engine, "staff", soft)
    assert [e["kind"] for e in history] == [SOFT, SOFT, SOFT]
    assert "4.2.2" in history[0]["status"] and "over quota" in history[0]["detail"]
    entries = [e for e in audit_log(engine) if e.action == "bounce"]
    assert any(hard in e.detail and "5.1.1" in e.detail for e in entries), "audited with evidence"


def test_soft_bounces_spread_over_more_than_the_window_do_not_suppress(
    engine: Engine, press: Settings
) -> None:
    address = "full@radio.example"
    sid = subscribe(engine, address)
    raw = sample("gmail-delayed.eml", address, "x@y.example", message_id(press, 1, sid))
    for day in (0, 20, 40, 60):
        fresh = raw.replace(b"SMTPIN_ADDED_DSN@", f"day{day}@".encode())  # its own Message-ID
        actions.read_bounces(engine, press, "clock", [("m", fresh)], NOW + timedelta(days=day))
    assert status_of(engine, address) == "active"


def test_a_report_read_twice_counts_once(engine: Engine, press: Settings) -> None:
    address = "full@radio.example"
    sid = subscribe(engine, address)
    raw = sample("gmail-delayed.eml", address, "x@y.example", message_id(press, 1, sid))
    for _ in range(3):
        again = actions.read_bounces(engine, press, "clock", [("m", raw)], NOW)
    assert status_of(engine, address) == "active", "one soft bounce, read three times"
    assert "already read" in again.outcomes[0].said[0]
    assert len(actions.bounce_history(engine, "staff", address)) == 1


def test_a_suppressed_address_stays_suppressed_until_it_opts_in_again(
    engine: Engine, press: Settings, tmp_path: Path
) -> None:
    from digest.model import Subscriber

    address = "gone@paper.example"
    sid = subscribe(engine, address)
    raw = sample("postfix-user-unknown.eml", address, "x@y.example", message_id(press, 1, sid))
    actions.read_bounces(engine, press, "clock", [("m", raw)], NOW)
    assert status_of(engine, address) == "bounced"
    actions.save_contact(engine, "staff", Subscriber(email=address, name="Back"), NOW)
    csv = tmp_path / "list.csv"
    csv.write_text(f"email,name\n{address},Again\n")
    actions.import_contacts(engine, press, "staff", csv, NOW)
    assert status_of(engine, address) == "bounced", "neither staff nor an import bring it back"
    import io

    out = io.StringIO()
    actions.export_contacts(engine, press, "staff", out)
    import csv as csv_module

    (row,) = csv_module.DictReader(io.StringIO(out.getvalue()))
    assert row["status"] == "bounced", "the export carries the status"
    later = NOW + timedelta(minutes=5)
    mail = actions.subscription_mail(engine, press, Subscriber(email=address), later)
    assert mail is not None, "its owner can ask again: a confirmation goes out"
    assert status_of(engine, address) == "bounced", "asking changes nothing by itself"
    link = next(w for w in mail_text(engine, mail.id).split() if "/confirm/" in w)
    holder = actions.token_holder(engine, press, "confirm", link.rsplit("/", 1)[1], later)
    assert holder is not None
    outcome = actions.confirm(engine, holder, link.rsplit("/", 1)[1], later)
    assert outcome == actions.Confirmed.CONFIRMED
    assert status_of(engine, address) == "active"


def mail_text(engine: Engine, mailing_id: int) -> str:
    from digest.store import mailing_bodies

    with engine.connect() as conn:
        query = select(mailing_bodies.c.text).where(mailing_bodies.c.mailing_id == mailing_id)
        return conn.execute(query).scalar_one()


def test_garbage_is_kept_for_a_look_never_dropped(engine: Engine, press: Settings) -> None:
    raw = sample("garbage.eml", "x@y.example", RETURN, "<a@b>")
    run_ = actions.read_bounces(engine, press, "clock", [("odd.eml", raw)], NOW)
    assert run_.not_understood == 1
    (kept,) = needs_a_look(engine)
    assert kept["source"] == "odd.eml" and kept["subject"] == "hello?"
    assert "no failed recipient" in kept["reason"]


# The done-when scenario


def test_after_a_dsn_a_complaint_and_a_full_mailbox_the_next_alert_skips_two(
    settings: Settings, smtp_server: Server, tmp_path: Path
) -> None:
    """Send through a real SMTP server; feed `digest bounces read` a Postfix DSN (5.1.1),
    an ARF complaint and a mailbox-full DSN; the next alert reaches the third and everyone
    else but not the first two."""
    recorder, port = smtp_server
    press = replace(
        settings,
        smtp_url=f"smtp://127.0.0.1:{port}",
        secret_key="test-secret",
        email=replace(settings.email, bounce_address=BOUNCE_ADDRESS),
        sender=replace(settings.sender, rate=1000.0, connections=1),
        breaking=BreakingSettings(undo_seconds=0),
    )
    engine = actions.open_store(press)
    first, second = item("Harbour Reopens", 23, "press-releases"), item("Ferry Back", 24, None)
    upsert_items(engine, [first, second], NOW)
    people = ["gone@paper.example", "angry@wire.example", "full@radio.example", "ok@tv.example"]
    for address in people:
        subscribe(engine, address)
    actions.request_breaking(press, engine, first.key, "Alice")
    actions.send(engine, press)
    sent = {rcpt[0]: (mail_from, data) for mail_from, rcpt, data in recorder.messages}
    assert set(sent) == set(people)

    folder = tmp_path / "returned"
    folder.mkdir()
    for name, address in [
        ("postfix-user-unknown.eml", people[0]),
        ("yahoo-arf.eml", people[1]),
        ("postfix-mailbox-full.eml", people[2]),
    ]:
        mail_from, data = sent[address]
        ident = email.message_from_bytes(data)["Message-ID"]
        (folder / name).write_bytes(sample(name, address, mail_from, ident))
    env = {"SECRET_KEY": "test-secret", "DIGEST_EMAIL_BOUNCE_ADDRESS": BOUNCE_ADDRESS}
    done = run("bounces", "read", *sorted(map(str, folder.iterdir())), tmp_path=tmp_path, **env)
    assert done.returncode == 0, done.stderr
    assert f"hard {people[0]}: suppressed (hard bounce)" in done.stdout
    assert f"complaint {people[1]}: unsubscribed (complaint)" in done.stdout
    assert f"soft {people[2]}: soft bounce 1 of 3" in done.stdout

    recorder.messages.clear()
    actions.request_breaking(press, engine, second.key, "Alice")
    actions.send(engine, press)
    reached = sorted(rcpt[0] for _, rcpt, _ in recorder.messages)
    assert reached == sorted(people[2:])


def test_the_command_reads_a_pipe_and_a_maildir_and_exits_1_on_garbage(
    settings: Settings, tmp_path: Path
) -> None:
    engine = actions.open_store(settings)
    subscribe(engine, "gone@paper.example")
    maildir = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (maildir / "new" / "1.eml").write_bytes(
        sample("postfix-user-unknown.eml", "gone@paper.example", "x@y.example", "<a@b>")
    )
    (maildir / "cur" / "2.eml").write_bytes(
        sample("vacation.eml", "gone@paper.example", "x@y.example", "<a@b>")
    )
    done = run("bounces", "read", str(maildir), tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "suppressed (hard bounce)" in done.stdout and "ignored: an auto-reply" in done.stdout
    assert status_of(engine, "gone@paper.example") == "bounced"

    import subprocess

    from .helpers import DIGEST

    garbage = sample("garbage.eml", "x@y.example", "x@y.example", "<a@b>")
    piped = subprocess.run(
        [DIGEST, "bounces", "read", "-"],
        input=garbage,
        capture_output=True,
        cwd=ROOT,
        env={**run_env(tmp_path)},
        timeout=300,
    )
    assert piped.returncode == 1
    assert b"needs a look" in piped.stdout and b"kept for a look" in piped.stderr
    missing = run("bounces", "read", str(tmp_path / "nope.eml"), tmp_path=tmp_path)
    assert missing.returncode == 1 and "nope.eml: cannot read" in missing.stderr
    listed = run("bounces", "list", tmp_path=tmp_path)
    assert "no failed recipient" in listed.stdout and "gone@paper.example" in listed.stdout
    one = run("bounces", "list", "--email", "gone@paper.example", tmp_path=tmp_path)
    assert "hard: suppressed (hard bounce) (5.1.1" in one.stdout


def run_env(tmp_path: Path) -> dict[str, str]:
    import os

    environment = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    environment.pop("BASE_URL", None)
    return environment | {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'digest.db'}",
        "DIGEST_FEEDS_OUTPUT": str(tmp_path / "public"),
    }


def test_a_mailing_past_the_hard_bounce_threshold_warns(
    engine: Engine, press: Settings, smtp_server: Server
) -> None:
    news = item("Harbour Reopens", 23, "press-releases")
    upsert_items(engine, [news], NOW)
    addresses = [f"p{n}@example.org" for n in range(10)]
    for address in addresses:
        subscribe(engine, address)
    mailing = actions.request_breaking(press, engine, news.key, "Alice")
    actions.send(engine, press)
    recorder, _ = smtp_server
    returned = []
    for mail_from, rcpt, _ in recorder.messages[:1]:
        returned.append(("b", sample("postfix-user-unknown.eml", rcpt[0], mail_from, "<a@b>")))
    run_ = actions.read_bounces(engine, press, "clock", returned, NOW)
    (warning,) = run_.warnings
    assert warning.mailing_id == mailing.id and warning.hard == 1 and warning.sent == 10
    assert warning.hard_rate == pytest.approx(10.0)
    assert token(press, 1, 2) != token(press, 2, 1)


# The bounce mailbox, over IMAP, against a real Dovecot


def test_the_bounce_mailbox_is_read_over_imap_and_emptied(
    engine: Engine, press: Settings, imap_server: tuple[int, Path], certificate: tuple[Path, Path]
) -> None:
    import ssl
    from urllib.parse import quote

    from .helpers import IMAP_PASSWORD, IMAP_USER

    port, maildir = imap_server
    gone = subscribe(engine, "gone@paper.example")
    files = {
        "1.eml": sample("postfix-user-unknown.eml", "gone@paper.example", "x@y.example",
                        message_id(press, 5, gone)),
        "2.eml": sample("vacation.eml", "gone@paper.example", "x@y.example", "<a@b>"),
        "3.eml": sample("garbage.eml", "x@y.example", "x@y.example", "<a@b>"),
    }  # fmt: skip
    for name, raw in files.items():
        (maildir / "new" / name).write_bytes(raw)
    url = f"imaps://{IMAP_USER}:{quote(IMAP_PASSWORD)}@127.0.0.1:{port}/INBOX"
    polled = replace(press, bounces=replace(press.bounces, mailbox_url=url, processed=""))
    trust = ssl.create_default_context(cafile=str(certificate[0]))
    run_ = actions.read_bounce_mailbox(engine, polled, "clock", NOW, ssl_context=trust)
    assert len(run_.outcomes) == 3 and run_.not_understood == 1
    assert all(o.source.startswith(f"imaps://{IMAP_USER}@127.0.0.1") for o in run_.outcomes)
    assert IMAP_PASSWORD not in " ".join(o.source for o in run_.outcomes)
    assert status_of(engine, "gone@paper.example") == "bounced"
    assert len(needs_a_look(engine)) == 1, "the garbage is kept in the store"
    again = actions.read_bounce_mailbox(engine, polled, "clock", NOW, ssl_context=trust)
    assert again.outcomes == [], "what was read is deleted from the mailbox"

    (maildir / "new" / "4.eml").write_bytes(files["2.eml"])
    moving = replace(polled, bounces=replace(polled.bounces, processed="Processed"))
    moved = actions.read_bounce_mailbox(engine, moving, "clock", NOW, ssl_context=trust)
    assert len(moved.outcomes) == 1
    assert list((maildir / ".Processed" / "cur").iterdir()) or list(
        (maildir / ".Processed" / "new").iterdir()
    ), "moved to the processed folder"


def test_a_wrong_mailbox_password_is_a_clear_error(
    engine: Engine, press: Settings, imap_server: tuple[int, Path], certificate: tuple[Path, Path]
) -> None:
    import ssl

    from digest.errors import DigestError

    from .helpers import IMAP_USER

    port, _ = imap_server
    url = f"imaps://{IMAP_USER}:wrong@127.0.0.1:{port}/INBOX"
    polled = replace(press, bounces=replace(press.bounces, mailbox_url=url))
    trust = ssl.create_default_context(cafile=str(certificate[0]))
    with pytest.raises(DigestError, match=f"bounce mailbox imaps://{IMAP_USER}@127.0.0.1") as err:
        actions.read_bounce_mailbox(engine, polled, "clock", NOW, ssl_context=trust)
    assert "wrong" not in str(err.value)


def test_the_clock_reads_the_mailbox_checking_the_certificate(
    engine: Engine,
    press: Settings,
    imap_server: tuple[int, Path],
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from urllib.parse import quote

    from digest.schedule import ClockProcess

    from .helpers import IMAP_PASSWORD, IMAP_USER

    port, maildir = imap_server
    sid = subscribe(engine, "gone@paper.example")
    raw = sample("postfix-user-unknown.eml", "gone@paper.example", "x@y", message_id(press, 5, sid))
    (maildir / "new" / "1.eml").write_bytes(raw)
    url = f"imaps://{IMAP_USER}:{quote(IMAP_PASSWORD)}@127.0.0.1:{port}/INBOX"
    polled = replace(press, bounces=replace(press.bounces, mailbox_url=url))
    clock = ClockProcess(polled, engine, holder="test-clock")
    with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
        clock.bounces()
    assert status_of(engine, "gone@paper.example") == "active", "an unknown certificate: no read"
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    clock.bounces()
    assert status_of(engine, "gone@paper.example") == "bounced"


# What staff see


def test_the_bounces_page_shows_events_history_rates_and_what_needs_a_look(
    engine: Engine, press: Settings
) -> None:
    import httpx

    from digest import staff
    from digest.web import create_app

    from .helpers import csrf_of, serve

    sid = subscribe(engine, "gone@paper.example")
    raw = sample("postfix-user-unknown.eml", "gone@paper.example", "x@y", message_id(press, 1, sid))
    garbage = sample("garbage.eml", "x", "x", "<a@b>").replace(b"hello?", b"<b>hello</b>")
    actions.read_bounces(engine, press, "clock", [("a.eml", raw), ("b.eml", garbage)], NOW)
    for email_, role in (("ada@example.org", "admin"), ("ed@example.org", "editor")):
        _, setup = staff.add_staff(engine, email_, email_, role, datetime.now(UTC))
        staff.set_password_with_token(engine, setup, "correct horse battery", datetime.now(UTC))
    with serve(create_app(press, engine)) as base_url:
        for email_, expected in (("ed@example.org", 403), ("ada@example.org", 200)):
            with httpx.Client(base_url=base_url) as client:
                form = client.get("/admin/signin")
                data = {"csrf": csrf_of(form.text), "email": email_}
                client.post("/admin/signin", data=data | {"password": "correct horse battery"})
                page = client.get("/admin/bounces", params={"email": "gone@paper.example"})
                assert page.status_code == expected
                dashboard_text = client.get("/admin").text
        text = page.text
    assert "User unknown" in text and "suppressed (hard bounce)" in text
    assert 'id="history"' in text and "5.1.1" in text
    assert "no failed recipient" in text and "&lt;b&gt;hello&lt;/b&gt;" in text
    assert "<b>hello</b>" not in text
    assert 'id="bounce-unread"' in dashboard_text, "the dashboard says what needs a look"


def test_a_message_that_needs_a_look_can_be_dismissed_once_by_an_admin(
    engine: Engine, press: Settings
) -> None:
    import httpx

    from digest import staff
    from digest.bounces import needs_a_look
    from digest.store import audit_log
    from digest.web import create_app

    from .helpers import csrf_of, serve

    garbage = sample("garbage.eml", "x", "x", "<a@b>")
    actions.read_bounces(engine, press, "clock", [("b.eml", garbage)], NOW)
    (unread,) = needs_a_look(engine)
    _, setup = staff.add_staff(engine, "ada@example.org", "Ada", "admin", datetime.now(UTC))
    staff.set_password_with_token(engine, setup, "correct horse battery", datetime.now(UTC))
    with serve(create_app(press, engine)) as base_url, httpx.Client(base_url=base_url) as client:
        form = client.get("/admin/signin")
        data = {"csrf": csrf_of(form.text), "email": "ada@example.org"}
        client.post("/admin/signin", data=data | {"password": "correct horse battery"})
        token = csrf_of(client.get("/admin/bounces").text)
        forged = client.post("/admin/bounces/dismiss", data={"id": str(unread["id"])})
        assert forged.status_code == 403 and needs_a_look(engine), "no CSRF token: nothing"
        for bad in ("x' OR 1=1", "99999", ""):
            refused = client.post("/admin/bounces/dismiss", data={"csrf": token, "id": bad})
            assert refused.status_code == 400 and needs_a_look(engine)
        done = client.post("/admin/bounces/dismiss", data={"csrf": token, "id": str(unread["id"])})
        assert done.status_code == 200 and "Dismissed the returned mail" in done.text
        again = client.post("/admin/bounces/dismiss", data={"csrf": token, "id": str(unread["id"])})
        assert again.status_code == 400 and "not on the needs-a-look list" in again.text
    assert needs_a_look(engine) == []
    entries = [row for row in audit_log(engine) if row.action == "returned mail dismissed"]
    assert [row.actor for row in entries] == ["Ada (ada@example.org)"]


def test_the_dashboard_warns_about_a_mailing_past_the_threshold(
    engine: Engine, press: Settings, smtp_server: Server
) -> None:
    from digest.actions.overview import dashboard

    news = item("Harbour Reopens", 23, "press-releases")
    upsert_items(engine, [news], NOW)
    for n in range(4):
        subscribe(engine, f"p{n}@example.org")
    actions.request_breaking(press, engine, news.key, "Alice")
    actions.send(engine, press)
    recorder, _ = smtp_server
    mail_from, rcpt, _ = recorder.messages[0]
    raw = sample("postfix-user-unknown.eml", rcpt[0], mail_from, "<a@b>")
    actions.read_bounces(engine, press, "clock", [("b", raw)], NOW)
    (warning,) = dashboard(engine, press, NOW)["bounce_warnings"]
    assert warning.hard == 1 and warning.sent == 4 and warning.warn
