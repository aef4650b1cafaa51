"""Weekly digests and breaking alerts end to end: mailings in a real store, messages sent
to a real SMTP server (aiosmtpd) and parsed back."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from lxml import html as lxml_html
from sqlalchemy import Engine, select

from digest import actions
from digest.config import Settings
from digest.links import token_subscriber, verify
from digest.mailings import delivery_counts
from digest.messages import Recipient
from digest.model import Item
from digest.store import deliveries, upsert_items
from digest.subscribers import get_subscriber

from .helpers import SMTPRecorder, item, subscribe

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
Server = tuple[SMTPRecorder, int]
LIST_ID = "press.harbourlight.example"
WEEK = date(2026, 11, 22)


@pytest.fixture
def smtp_settings(settings: Settings, smtp_server: Server, tmp_path: Path):
    _, port = smtp_server
    return replace(
        settings,
        smtp_url=f"smtp://127.0.0.1:{port}",
        secret_key="test-secret",
        sender=replace(
            settings.sender,
            rate=1000.0,
            connections=2,
            backoff_seconds=60.0,
            outbox=tmp_path / "outbox",
        ),
    )


@pytest.fixture
def newsroom(engine: Engine) -> list[Item]:
    week = [
        item("Harbour <script>alert(1)</script> Plan", 20, "press-releases", caption="Photo by A"),
        item("Seabird Count Results", 19, "updates"),
        item("Shoreline Report 2026", 18, "reports"),
        item("Second Press Release", 17, "press-releases"),
        item("A Note Without Type", 17, None),
    ]
    older = [item("Last Month's News", 20, "press-releases", month=10)]
    upsert_items(engine, week + older, NOW)
    return week


async def no_wait(seconds: float) -> None:
    """A relay pause that takes no time (the run's clock is fixed, so it gives up at once
    only when relay_wait_seconds is shorter than the first backoff)."""


def by_recipient(recorder: SMTPRecorder) -> dict[str, EmailMessage]:
    return {str(m["To"].addresses[0].addr_spec): m for m in recorder.parsed()}


def test_weekly_digest_arrives_right(
    engine: Engine,
    smtp_settings: Settings,
    smtp_server: Server,
    newsroom: list[Item],
) -> None:
    recorder, _ = smtp_server
    everything = subscribe(engine, "ana@example.org", "Ana Reyes")
    subscribe(engine, "reports@example.org", "Ray", types=("reports",))
    subscribe(engine, "off@example.org", "Off", weekly=False)
    subscribe(engine, "gone@example.org", "Gone", status="unsubscribed")

    mailing = actions.weekly_digest(engine, smtp_settings, WEEK, NOW)
    summary = actions.send(engine, smtp_settings, mailing.id, clock=lambda: NOW)
    assert (summary.sent, summary.failed, summary.retrying) == (2, 0, 0)
    received = by_recipient(recorder)
    assert set(received) == {"ana@example.org", "reports@example.org"}

    message = received["ana@example.org"]
    raw = next(c for _, rcpt, c in recorder.messages if rcpt == ["ana@example.org"])
    assert b"\r\n" in raw and all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert message.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert str(message["To"]) == "Ana Reyes <ana@example.org>"
    assert message["From"].addresses[0].addr_spec == smtp_settings.email.from_address
    assert message["Message-ID"] == f"<mailing-{mailing.id}.subscriber-{everything}@{LIST_ID}>"
    assert message["Date"]
    assert message["List-Id"] == f"Harbourlight Coastal Trust press list <{LIST_ID}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https_link, mailto = re.findall(r"<([^>]+)>", str(message["List-Unsubscribe"]))
    assert https_link.startswith(smtp_settings.base_url + "unsubscribe/")
    assert mailto.startswith("mailto:")
    token = https_link.rsplit("/", 1)[1]
    assert token_subscriber(token) == everything
    assert verify("test-secret", "unsubscribe", token, everything, "ana@example.org", NOW)
    assert not verify("test-secret", "unsubscribe", token, everything, "other@example.org", NOW)
    assert not verify("test-secret", "preferences", token, everything, "ana@example.org", NOW)
    assert message["Subject"] == (
        "Weekly digest: 2 press releases, 1 update, 1 report, 1 other item — 22 November 2026"
    )

    text = message.get_body(("plain",)).get_content()
    page = message.get_body(("html",)).get_content()
    assert len(page.encode()) < 100_000
    assert "Hello Ana Reyes" in text and "Hello Ana Reyes" in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "Harbour <script>alert(1)</script> Plan" in text
    document = lxml_html.fromstring(page)
    hrefs = {a.get("href") for a in document.iter("a")}
    assert https_link in hrefs
    assert any(h.startswith(smtp_settings.base_url + "preferences/") for h in hrefs)
    titles = [a.text_content() for a in document.find_class("item-title")]
    assert titles == [
        "Harbour <script>alert(1)</script> Plan",
        "Second Press Release",
        "Seabird Count Results",
        "Shoreline Report 2026",
        "A Note Without Type",
    ]
    assert "Last Month" not in text
    assert "Photo: Photo by A" in text
    assert 'style="' in page, "CSS is inlined"
    assert "prefers-color-scheme: dark" in page

    reports = received["reports@example.org"]
    assert reports["Subject"] == "Weekly digest: 1 report — 22 November 2026"
    assert "Seabird" not in reports.get_body(("plain",)).get_content()


def test_mailings_are_created_once_and_sent_once(
    engine: Engine,
    smtp_settings: Settings,
    smtp_server: Server,
    newsroom: list[Item],
) -> None:
    recorder, _ = smtp_server
    subscribe(engine, "ana@example.org", "Ana")
    first = actions.weekly_digest(engine, smtp_settings, WEEK, NOW)
    second = actions.weekly_digest(engine, smtp_settings, WEEK, NOW + timedelta(hours=2))
    assert first.id == second.id
    actions.send(engine, smtp_settings, clock=lambda: NOW)
    actions.send(engine, smtp_settings, clock=lambda: NOW)
    assert len(recorder.messages) == 1
    assert delivery_counts(engine, first.id) == {"sent": 1}
    assert actions.weekly_digest(engine, smtp_settings, WEEK, NOW).status == "done"


def test_empty_period_sends_nothing_and_says_so(
    engine: Engine,
    smtp_settings: Settings,
    smtp_server: Server,
    newsroom: list[Item],
) -> None:
    recorder, _ = smtp_server
    subscribe(engine, "ana@example.org")
    mailing = actions.weekly_digest(engine, smtp_settings, date(2026, 12, 20), NOW)
    assert mailing.status == "empty"
    actions.send(engine, smtp_settings, clock=lambda: NOW)
    assert recorder.messages == []
    assert delivery_counts(engine, mailing.id) == {}


def test_digest_periods_never_repeat_or_lose_items(
    engine: Engine, smtp_settings: Settings, newsroom: list[Item]
) -> None:
    subscribe(engine, "ana@example.org")
    first = actions.weekly_digest(engine, smtp_settings, WEEK, NOW)
    late = item("Late Arrival Dated Last Week", 21, "updates")
    upsert_items(engine, [late, item("Next Week News", 25, "reports")], NOW)
    skipped = date(2026, 12, 6)
    later = actions.weekly_digest(engine, smtp_settings, skipped, NOW)
    from digest.mailings import plan_weekly

    titles = [i.title for i in plan_weekly(engine, smtp_settings, skipped).items]
    assert titles == ["Next Week News", "Late Arrival Dated Last Week"]
    assert later.id != first.id
    assert later.period_start <= first.period_end


def test_breaking_goes_to_matching_active_subscribers(
    engine: Engine,
    smtp_settings: Settings,
    smtp_server: Server,
    newsroom: list[Item],
) -> None:
    recorder, _ = smtp_server
    subscribe(engine, "all@example.org", "All")
    subscribe(engine, "pr@example.org", "PR", types=("press-releases", "updates"))
    subscribe(engine, "reports@example.org", types=("reports",))
    subscribe(engine, "quiet@example.org", breaking=False)
    subscribe(engine, "bounced@example.org", status="bounced")
    subscribe(engine, "pending@example.org", status="pending")
    alert = newsroom[0]
    mailing = actions.breaking_alert(engine, smtp_settings, alert, NOW)
    assert actions.breaking_alert(engine, smtp_settings, alert, NOW).id == mailing.id
    actions.send(engine, smtp_settings, clock=lambda: NOW)
    received = by_recipient(recorder)
    assert set(received) == {"all@example.org", "pr@example.org"}
    assert received["pr@example.org"]["Subject"] == f"Breaking: {alert.title}"
    body = received["pr@example.org"].get_body(("html",)).get_content()
    assert "&lt;script&gt;" in body and "<script>" not in body


def test_header_injection_is_impossible(
    engine: Engine, smtp_settings: Settings, smtp_server: Server
) -> None:
    recorder, _ = smtp_server
    evil = item("Title\r\nBcc: victim@example.org", 20, "updates")
    upsert_items(engine, [evil], NOW)
    subscribe(engine, "ana@example.org", "Ana\r\nBcc: spy@example.org")
    mailing = actions.breaking_alert(engine, smtp_settings, evil, NOW)
    actions.send(engine, smtp_settings, mailing.id, clock=lambda: NOW)
    (message,) = recorder.parsed()
    assert message["Bcc"] is None
    assert [rcpt for _, rcpt, _ in recorder.messages] == [["ana@example.org"]]
    assert "\n" not in str(message["Subject"]) and "\n" not in str(message["To"])


def test_outcomes_of_a_faulty_server(
    engine: Engine,
    smtp_settings: Settings,
    smtp_server: Server,
    newsroom: list[Item],
) -> None:
    recorder, _ = smtp_server
    for address in ("ok", "soft", "busy", "drop", "hard", "reject"):
        subscribe(engine, f"{address}@example.org")
    recorder.rcpt_replies["soft@example.org"] = ["451 4.3.0 try later"]
    recorder.rcpt_replies["hard@example.org"] = ["550 5.1.1 no such user"]
    recorder.data_replies["busy@example.org"] = ["421 4.7.0 too busy"]
    recorder.data_replies["drop@example.org"] = ["drop"]
    recorder.data_replies["reject@example.org"] = ["554 5.7.1 message refused"]
    mailing = actions.weekly_digest(engine, smtp_settings, WEEK, NOW)

    first = actions.send(engine, smtp_settings, clock=lambda: NOW)
    # A temporary failure that no accepted message follows is checked again after a probe
    # of the relay (the relay's trouble is nobody's attempt), so the transient ones may
    # already go in the first run; none of them fails, and the permanent ones do.
    assert (first.failed, first.bounced) == (2, 1)
    assert first.sent + first.retrying == 4 and first.sent >= 1
    assert get_subscriber(engine, subscribe(engine, "hard@example.org")).status == "bounced"
    assert get_subscriber(engine, subscribe(engine, "reject@example.org")).status == "active"
    early = actions.send(engine, smtp_settings, clock=lambda: NOW + timedelta(seconds=30))
    assert early.sent == 0, "retries wait for their backoff"
    later = actions.send(engine, smtp_settings, clock=lambda: NOW + timedelta(minutes=5))
    assert later.sent == first.retrying
    assert delivery_counts(engine, mailing.id) == {"sent": 4, "failed": 2}
    assert sorted(by_recipient(recorder)) == [
        f"{a}@example.org" for a in ("busy", "drop", "ok", "soft")
    ]
    with engine.connect() as conn:
        replies = dict(conn.execute(select(deliveries.c.email, deliveries.c.reply)).all())
    assert "queued" in replies["ok@example.org"]
    assert replies["hard@example.org"].startswith("550 5.1.1")


def test_retries_stop_at_the_limit(
    engine: Engine, smtp_settings: Settings, smtp_server: Server, newsroom: list[Item]
) -> None:
    recorder, _ = smtp_server
    limited = replace(smtp_settings, sender=replace(smtp_settings.sender, max_attempts=3))
    subscribe(engine, "ana@example.org")
    # refused every time (a lone recipient's refusal is tried again after a relay probe)
    recorder.rcpt_replies["ana@example.org"] = ["451 4.3.0 try later"] * 20
    mailing = actions.weekly_digest(engine, limited, WEEK, NOW)
    moments = [NOW, NOW + timedelta(minutes=2), NOW + timedelta(minutes=10)]
    outcomes = [actions.send(engine, limited, clock=lambda m=m: m) for m in moments]
    assert [(o.retrying, o.failed) for o in outcomes] == [(1, 0), (1, 0), (0, 1)]
    assert delivery_counts(engine, mailing.id) == {"failed": 1}


def test_outbox_transport_writes_one_file_per_message(
    engine: Engine, settings: Settings, newsroom: list[Item], tmp_path: Path
) -> None:
    outbox = replace(
        settings, smtp_url=None, sender=replace(settings.sender, outbox=tmp_path / "out")
    )
    subscribe(engine, "ana@example.org")
    subscribe(engine, "ben@example.org")
    actions.weekly_digest(engine, outbox, WEEK, NOW)
    assert actions.send(engine, outbox, clock=lambda: NOW).sent == 2
    files = sorted((tmp_path / "out").glob("*.eml"))
    assert len(files) == 2
    parsed = [message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]
    assert all(m["Subject"].startswith("Weekly digest") for m in parsed)
    assert sorted(str(m["To"]) for m in parsed) == ["ana@example.org", "ben@example.org"]


def test_messages_are_dkim_signed_when_a_key_is_configured(
    settings: Settings, tmp_path: Path
) -> None:
    import subprocess

    import dkim

    from digest.messages import build_message
    from digest.render import Rendered

    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    import base64

    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    email = replace(settings.email, dkim_key=key.read_bytes(), dkim_selector="s1")
    signed = replace(settings, email=email)
    body = Rendered("Subject line", "<p>Hi @@NAME@@</p>\n", "Hi @@NAME@@\n")
    message = build_message(signed, 1, body, Recipient(2, "ana@example.org", "Ana"), NOW)
    assert message.startswith(b"DKIM-Signature:")

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"s1._domainkey.harbourlight.example."
        return record

    assert dkim.verify(message, dnsfunc=dns)
    assert not dkim.verify(message.replace(b"Hi Ana", b"Hi Bob"), dnsfunc=dns)


def test_connections_are_reused_up_to_their_cap(
    engine: Engine, smtp_settings: Settings, smtp_server: Server, newsroom: list[Item]
) -> None:
    recorder, _ = smtp_server
    capped = replace(
        smtp_settings, sender=replace(smtp_settings.sender, connections=1, per_connection=2)
    )
    for n in range(6):
        subscribe(engine, f"r{n}@example.org")
    actions.weekly_digest(engine, capped, WEEK, NOW)
    assert actions.send(engine, capped, clock=lambda: NOW).sent == 6
    assert len(set(recorder.peers)) == 3, "two messages per connection, then a new one"


def test_credentials_are_never_sent_without_tls(
    engine: Engine, smtp_settings: Settings, smtp_server: Server, newsroom: list[Item]
) -> None:
    recorder, port = smtp_server
    with_password = replace(smtp_settings, smtp_url=f"smtp://user:secret@127.0.0.1:{port}")
    subscribe(engine, "ana@example.org")
    actions.weekly_digest(engine, with_password, WEEK, NOW)
    summary = actions.send(engine, with_password, clock=lambda: NOW, sleep=no_wait)
    assert summary.sent == 0 and "refusing to send the password" in (summary.paused or "")
    assert recorder.messages == []
    with engine.connect() as conn:
        assert conn.execute(select(deliveries.c.attempts)).scalar_one() == 0
