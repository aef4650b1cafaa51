"""Guarded breaking sends: the undo window, approval by a second person, pause and resume,
and the clock releasing held alerts on time — in a real store, to a real SMTP server."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from digest import actions
from digest.config import BreakingSettings, Settings
from digest.errors import DigestError
from digest.model import Item
from digest.schedule import ClockProcess
from digest.store import audit_log, items_stamp, upsert_items

from .helpers import DIGEST, ROOT, SMTPRecorder, digest_text, item, run, section, send_at, subscribe

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
Server = tuple[SMTPRecorder, int]


@pytest.fixture
def press(settings: Settings, smtp_server: Server, tmp_path: Path) -> Settings:
    _, port = smtp_server
    return replace(
        settings,
        smtp_url=f"smtp://127.0.0.1:{port}",
        secret_key="test-secret",
        sender=replace(settings.sender, rate=1000.0, connections=2, outbox=tmp_path / "outbox"),
        breaking=BreakingSettings(undo_seconds=120, approval=False),
    )


@pytest.fixture
def alert(engine: Engine) -> Item:
    news = item("Harbour Wall Breached", 23, "press-releases")
    upsert_items(engine, [news, item("Seabird Count", 20, "updates")], NOW)
    for address in ("a@example.org", "b@example.org", "c@example.org"):
        subscribe(engine, address)
    return news


def test_undo_window_cancel_delivers_nothing(
    engine: Engine, press: Settings, smtp_server: Server, alert: Item
) -> None:
    recorder, _ = smtp_server
    mailing = actions.request_breaking(press, engine, alert.key, "Alice", now=NOW)
    assert mailing.status == "scheduled"
    assert mailing.send_after == NOW + timedelta(seconds=120)
    send_at(engine, press, NOW + timedelta(seconds=60))
    assert recorder.messages == [], "nothing leaves inside the undo window"
    assert actions.mailing_progress(engine, mailing.id).pending == 3
    cancelled = actions.cancel_mailing(engine, mailing.id, "Bob", now=NOW + timedelta(seconds=90))
    assert cancelled.status == "cancelled"
    later = NOW + timedelta(hours=1)
    assert actions.release_held(engine, later) == []
    send_at(engine, press, later)
    assert recorder.messages == []
    progress = actions.mailing_progress(engine, mailing.id)
    assert (progress.sent, progress.cancelled, progress.status) == (0, 3, "cancelled")
    audited = [(e["actor"], e["action"]) for e in audit_log(engine)]
    assert ("Alice", "breaking request") in audited and ("Bob", "cancel mailing") in audited
    again = actions.request_breaking(press, engine, alert.key, "Alice", now=later)
    assert again.id != mailing.id, "a cancelled alert can be asked for again"


def test_undo_window_lets_it_go_once(
    engine: Engine, press: Settings, smtp_server: Server, alert: Item
) -> None:
    recorder, _ = smtp_server
    mailing = actions.request_breaking(press, engine, alert.key, "Alice", now=NOW)
    assert actions.request_breaking(press, engine, alert.key, "Alice", now=NOW).id == mailing.id
    assert actions.release_held(engine, NOW + timedelta(seconds=119)) == []
    due = NOW + timedelta(seconds=120)
    assert actions.release_held(engine, due) == [mailing.id]
    send_at(engine, press, due)
    send_at(engine, press, due + timedelta(minutes=5))
    assert sorted(r[0] for _, r, _ in recorder.messages) == [
        "a@example.org",
        "b@example.org",
        "c@example.org",
    ]
    with pytest.raises(DigestError, match="is done; nothing to cancel"):
        actions.cancel_mailing(engine, mailing.id, "Bob")
    progress = actions.mailing_progress(engine, mailing.id)
    assert (progress.sent, progress.pending, progress.status) == (3, 0, "done")


def test_zero_undo_seconds_sends_at_once(
    engine: Engine, press: Settings, smtp_server: Server, alert: Item
) -> None:
    recorder, _ = smtp_server
    instant = replace(press, breaking=BreakingSettings(undo_seconds=0))
    mailing = actions.request_breaking(instant, engine, alert.key, "Alice", now=NOW)
    assert mailing.status == "sending"
    send_at(engine, instant, NOW)
    assert len(recorder.messages) == 3


def test_approval_by_a_second_sender(
    engine: Engine, press: Settings, smtp_server: Server, alert: Item
) -> None:
    recorder, _ = smtp_server
    guarded = replace(press, breaking=BreakingSettings(undo_seconds=0, approval=True))
    mailing = actions.request_breaking(guarded, engine, alert.key, "Alice", now=NOW)
    assert mailing.status == "awaiting approval"
    far = NOW + timedelta(days=2)
    assert actions.release_held(engine, far) == [], "never released unapproved"
    send_at(engine, guarded, far)
    assert recorder.messages == []
    with pytest.raises(DigestError, match="someone else must approve"):
        actions.approve_mailing(guarded, engine, mailing.id, "alice", now=NOW)
    approved = actions.approve_mailing(guarded, engine, mailing.id, "Bob", now=NOW)
    assert (approved.status, approved.approved_by) == ("sending", "Bob")
    with pytest.raises(DigestError, match="not awaiting approval"):
        actions.approve_mailing(guarded, engine, mailing.id, "Carol", now=NOW)
    send_at(engine, guarded, NOW)
    send_at(engine, guarded, NOW + timedelta(minutes=1))
    assert len(recorder.messages) == 3, "an approved alert is delivered once"
    audited = [(e["actor"], e["action"]) for e in audit_log(engine)]
    assert ("Bob", "approve mailing") in audited


def test_approval_keeps_the_chosen_time_and_the_undo_window(
    engine: Engine, press: Settings, alert: Item
) -> None:
    guarded = replace(press, breaking=BreakingSettings(undo_seconds=120, approval=True))
    later = NOW + timedelta(hours=3)
    mailing = actions.request_breaking(guarded, engine, alert.key, "Alice", send_at=later, now=NOW)
    approved = actions.approve_mailing(guarded, engine, mailing.id, "Bob", now=NOW)
    assert (approved.status, approved.send_after) == ("scheduled", later)
    other = item("Second Alert", 23, "updates")
    upsert_items(engine, [other], NOW)
    second = actions.request_breaking(guarded, engine, other.key, "Alice", now=NOW)
    approved = actions.approve_mailing(guarded, engine, second.id, "Bob", now=NOW)
    assert approved.send_after == NOW + timedelta(seconds=120)


def test_pause_and_resume(
    engine: Engine, press: Settings, smtp_server: Server, alert: Item
) -> None:
    recorder, _ = smtp_server
    instant = replace(press, breaking=BreakingSettings(undo_seconds=0))
    mailing = actions.request_breaking(instant, engine, alert.key, "Alice", now=NOW)
    assert actions.pause_mailing(engine, mailing.id, "Bob", now=NOW).status == "paused"
    with pytest.raises(DigestError, match="is paused; nothing to pause"):
        actions.pause_mailing(engine, mailing.id, "Bob", now=NOW)
    send_at(engine, instant, NOW)
    assert recorder.messages == []
    progress = actions.mailing_progress(engine, mailing.id)
    assert (progress.status, progress.pending, progress.held) == ("paused", 3, 3)
    assert actions.resume_mailing(engine, mailing.id, "Carol", now=NOW).status == "sending"
    send_at(engine, instant, NOW)
    assert len(recorder.messages) == 3
    assert actions.mailing_progress(engine, mailing.id).status == "done"


def test_bad_requests_say_what_is_wrong(engine: Engine, press: Settings, alert: Item) -> None:
    with pytest.raises(DigestError, match="no-such-item"):
        actions.request_breaking(press, engine, "no-such-item", "Alice", now=NOW)
    with pytest.raises(DigestError, match="who"):
        actions.request_breaking(press, engine, alert.key, "  ", now=NOW)
    with pytest.raises(DigestError, match="no mailing has the id 999"):
        actions.cancel_mailing(engine, 999, "Bob")
    with pytest.raises(DigestError, match="no time zone"):
        actions.request_breaking(press, engine, alert.key, "Alice", send_at=datetime(2026, 12, 1))
    with pytest.raises(DigestError, match="cannot read the time"):
        actions.local_time(press, "next tuesday")
    local = actions.local_time(press, "2026-12-01 09:30")
    assert local.utcoffset() == timedelta(hours=-5)


def test_the_clock_sends_held_alerts_on_time_and_never_a_cancelled_one(
    engine: Engine, press: Settings, smtp_server: Server, alert: Item
) -> None:
    recorder, _ = smtp_server
    other = item("Cancelled Alert", 23, "updates")
    upsert_items(engine, [other], NOW)
    kept = actions.request_breaking(press, engine, alert.key, "Alice", now=NOW)
    dropped = actions.request_breaking(press, engine, other.key, "Alice", now=NOW)
    actions.cancel_mailing(engine, dropped.id, "Bob", now=NOW)
    clock_now = [NOW + timedelta(seconds=30)]
    clock = ClockProcess(press, engine, now=lambda: clock_now[0], holder="test-clock")
    clock.run_due()

    def alerts() -> list[str]:
        return [m["Subject"] for m in recorder.parsed() if m["Subject"].startswith("Breaking")]

    assert alerts() == []
    clock_now[0] = NOW + timedelta(seconds=150)
    clock.run_due()
    assert alerts() == [f"Breaking: {alert.title}"] * 3
    assert actions.mailing_progress(engine, kept.id).status == "done"


@pytest.mark.parametrize("mode", ["list", "omit"])
def test_items_sent_as_alerts_are_not_repeated_as_news(
    engine: Engine, press: Settings, smtp_server: Server, alert: Item, mode: str
) -> None:
    recorder, _ = smtp_server
    settings = replace(
        press,
        breaking=BreakingSettings(undo_seconds=0),
        cadence=replace(press.cadence, alerts_in_digest=mode),
    )
    actions.request_breaking(settings, engine, alert.key, "Alice", now=NOW)
    send_at(engine, settings, NOW)
    actions.weekly_digest(engine, settings, NOW.date(), NOW)
    send_at(engine, settings, NOW)
    text = digest_text(recorder, "a@example.org")
    assert "Seabird Count" in section(text, "Updates")
    assert "== Press releases ==" not in text
    if mode == "list":
        assert alert.title in section(text, "Sent as alerts this week")
        assert text.count(alert.title) == 1
    else:
        assert alert.title not in text
    nxt = actions.weekly_digest(engine, settings, NOW.date() + timedelta(days=7), NOW)
    assert nxt.status == "empty", "the alerted item is not carried to the next digest"


def test_corrections_reach_the_digest_once_and_the_alert_recipients_exactly(
    engine: Engine, press: Settings, smtp_server: Server, alert: Item
) -> None:
    recorder, _ = smtp_server
    settings = replace(press, breaking=BreakingSettings(undo_seconds=0))
    actions.request_breaking(settings, engine, alert.key, "Alice", now=NOW)
    send_at(engine, settings, NOW)
    subscribe(engine, "late@example.org")
    from digest.subscribers import remove_subscriber

    remove_subscriber(engine, "c@example.org", NOW)
    with pytest.raises(DigestError, match="no correction yet"):
        actions.send_correction(settings, engine, alert.key, "Alice", now=NOW)
    later = NOW + timedelta(hours=1)
    edited = replace(alert, title="Harbour Wall Breached at Two Points")
    upsert_items(engine, [edited], later)
    actions.add_correction(engine, alert.key, "The breach is 40 m long, not 400 m.", "Alice", later)
    from digest.store import correction_notes

    notes = [n["note"] for n in correction_notes(engine, alert.key)]
    assert notes[0].startswith("Title changed from “Harbour Wall Breached”")
    assert notes[1] == "The breach is 40 m long, not 400 m."

    mailing = actions.send_correction(settings, engine, alert.key, "Bob", now=later)
    assert actions.send_correction(settings, engine, alert.key, "Bob", now=later).id == mailing.id
    before = len(recorder.messages)
    send_at(engine, settings, later)
    fixes = [m for m in recorder.parsed()[before:]]
    assert sorted(m["To"].addresses[0].addr_spec for m in fixes) == [
        "a@example.org",
        "b@example.org",
    ], "exactly the alert's recipients who are still subscribed"
    assert fixes[0]["Subject"] == "Correction: Harbour Wall Breached at Two Points"
    assert "40 m long" in fixes[0].get_body(("plain",)).get_content()

    week = (later + timedelta(days=1)).date()
    actions.weekly_digest(engine, settings, week, later + timedelta(days=1))
    send_at(engine, settings, later + timedelta(days=1))
    text = digest_text(recorder, "late@example.org")
    fixes_section = section(text, "Corrections")
    assert "40 m long" in fixes_section and "Title changed" in fixes_section
    upsert_items(engine, [item("Next Week", 29, "updates")], later + timedelta(days=6))
    actions.weekly_digest(engine, settings, week + timedelta(days=7), later + timedelta(days=7))
    send_at(engine, settings, later + timedelta(days=7))
    assert "Corrections" not in digest_text(recorder, "late@example.org")


def test_a_correction_needs_a_sent_alert(engine: Engine, press: Settings, alert: Item) -> None:
    actions.add_correction(engine, alert.key, "Wrong date.", "Alice", NOW)
    with pytest.raises(DigestError, match="not sent as a breaking alert"):
        actions.send_correction(press, engine, alert.key, "Alice", now=NOW)
    with pytest.raises(DigestError, match="needs a note"):
        actions.add_correction(engine, alert.key, "   ", "Alice", NOW)


def test_cli_guarded_send_embargo_and_correction(tmp_path: Path, smtp_server: Server) -> None:

    recorder, port = smtp_server
    env = {
        "DIGEST_SENDER_OUTBOX": str(tmp_path / "outbox"),
        "SECRET_KEY": "cli-test",
        "SMTP_URL": f"smtp://127.0.0.1:{port}",
        "DIGEST_BREAKING_APPROVAL": "true",
        "DIGEST_BREAKING_UNDO_SECONDS": "0",
    }
    assert run("publish", tmp_path=tmp_path, **env).returncode == 0
    run("subscribers", "import", "config/subscribers.example.csv", tmp_path=tmp_path, **env)
    url = "https://harbourlight.example/newsroom/2026/08/osprey-platforms/"

    asked = run("breaking", url, "--yes", "--as", "alice", tmp_path=tmp_path, **env)
    assert asked.returncode == 0, asked.stderr
    assert "mailing 1 awaits approval" in asked.stdout
    own = run("mailing", "approve", "1", "--as", "Alice", tmp_path=tmp_path, **env)
    assert own.returncode == 1 and "someone else must approve" in own.stderr
    approved = run("mailing", "approve", "1", "--as", "bob", tmp_path=tmp_path, **env)
    assert approved.returncode == 0, approved.stderr
    assert "sent: 2" in approved.stdout
    status = run("mailing", "status", "1", tmp_path=tmp_path, **env)
    assert "status: done" in status.stdout and "sent: 2  pending: 0" in status.stdout
    late = run("mailing", "cancel", "1", "--as", "carol", tmp_path=tmp_path, **env)
    assert late.returncode == 1 and "nothing to cancel" in late.stderr

    noted = run(
        "items",
        "correct",
        url,
        "--note",
        "Ten platforms, not twelve.",
        "--as",
        "alice",
        tmp_path=tmp_path,
        **env,
    )
    assert noted.returncode == 0, noted.stderr
    fixed = run("correction", url, "--as", "alice", tmp_path=tmp_path, **env)
    assert "sent: 2" in fixed.stdout, fixed.stderr
    assert len(recorder.messages) == 4

    embargo = run(
        "items",
        "embargo",
        url,
        "--until",
        "2099-01-01 09:00",
        "--as",
        "alice",
        tmp_path=tmp_path,
        **env,
    )
    assert embargo.returncode == 0, embargo.stderr
    assert "embargoed until Thu 01 Jan 2099, 09:00 EST" in embargo.stdout
    bad = run("items", "embargo", url, "--until", "soon", tmp_path=tmp_path, **env)
    assert bad.returncode == 1 and "cannot read the time 'soon'" in bad.stderr
    assert run("feeds", tmp_path=tmp_path, **env).returncode == 0
    assert "Osprey" not in (tmp_path / "public" / "feeds" / "all.atom").read_text()
    lifted = run("items", "embargo", url, "--lift", "--as", "alice", tmp_path=tmp_path, **env)
    assert "embargo lifted" in lifted.stdout
    run("feeds", tmp_path=tmp_path, **env)
    assert "Osprey" in (tmp_path / "public" / "feeds" / "all.atom").read_text()


def test_cli_undo_window_and_cancel(tmp_path: Path, smtp_server: Server) -> None:

    recorder, port = smtp_server
    env = {
        "DIGEST_SENDER_OUTBOX": str(tmp_path / "outbox"),
        "SECRET_KEY": "cli-test",
        "SMTP_URL": f"smtp://127.0.0.1:{port}",
        "DIGEST_BREAKING_UNDO_SECONDS": "120",
    }
    run("publish", tmp_path=tmp_path, **env)
    run("subscribers", "import", "config/subscribers.example.csv", tmp_path=tmp_path, **env)
    url = "https://harbourlight.example/newsroom/2026/08/osprey-platforms/"
    held = run("breaking", url, "--yes", "--no-wait", "--as", "alice", tmp_path=tmp_path, **env)
    assert held.returncode == 0, held.stderr
    assert "mailing 1 goes at" in held.stdout and "digest mailing cancel 1" in held.stdout
    assert "sent: 0" in run("send", tmp_path=tmp_path, **env).stdout
    cancelled = run("mailing", "cancel", "1", "--as", "bob", tmp_path=tmp_path, **env)
    assert "mailing 1: cancelled" in cancelled.stdout
    assert "sent: 0" in run("send", tmp_path=tmp_path, **env).stdout
    assert recorder.messages == []


def test_feeds_show_a_correction_and_bump_updated(engine: Engine, settings: Settings) -> None:
    import feedparser

    news = item("Dune Survey", 20, "reports")
    upsert_items(engine, [news], NOW)
    actions.publish_feeds(engine, settings)
    path = settings.output_dir / "feeds" / "all.atom"
    (before,) = feedparser.parse(path.read_bytes()).entries
    stamp = items_stamp(engine, NOW)
    # an hour after the item was first seen: feeds date an entry by its first sighting or
    # its last change, whichever is later
    later = NOW + timedelta(hours=1)
    actions.add_correction(engine, news.key, "The survey covered 12 km, not 21 km.", "Alice", later)
    assert items_stamp(engine, later) != stamp, "the web process will rewrite its feeds"
    actions.publish_feeds(engine, settings)
    (after,) = feedparser.parse(path.read_bytes()).entries
    assert after.id == before.id
    assert after.updated_parsed > before.updated_parsed
    assert "Correction: The survey covered 12 km, not 21 km." in after.content[0].value
    json_feed = (settings.output_dir / "feeds" / "reports.json").read_text()
    assert "Correction: The survey covered 12 km" in json_feed


def test_hostile_notes_and_names_stay_text(
    engine: Engine, press: Settings, smtp_server: Server, alert: Item
) -> None:
    recorder, _ = smtp_server
    instant = replace(press, breaking=BreakingSettings(undo_seconds=0))
    actions.request_breaking(instant, engine, alert.key, "<b>Mallory</b>\r\nBcc: x@evil", now=NOW)
    send_at(engine, instant, NOW)
    note = '<script>alert("x")</script>\r\nBcc: victim@example.org'
    actions.add_correction(engine, alert.key, note, "Alice", NOW)
    actions.send_correction(instant, engine, alert.key, "Alice", now=NOW)
    before = len(recorder.messages)
    send_at(engine, instant, NOW)
    fixes = recorder.parsed()[before:]
    assert len(fixes) == 3 and all(m["Bcc"] is None for m in fixes)
    html = fixes[0].get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html
    entry = audit_log(engine)[-1]
    assert entry["actor"] == "<b>Mallory</b> Bcc: x@evil", "one line, shown as text"


def test_any_typed_time_is_read_or_refused_clearly(settings: Settings) -> None:
    from hypothesis import given
    from hypothesis import strategies as st

    @given(st.text(max_size=30))
    def check(text: str) -> None:
        try:
            when = actions.local_time(settings, text, NOW)
        except DigestError as exc:
            assert repr(text) in str(exc)
        else:
            assert when.tzinfo is not None

    check()


def test_cli_ctrl_c_in_the_undo_window_cancels(tmp_path: Path, smtp_server: Server) -> None:
    import os
    import signal
    import subprocess

    recorder, port = smtp_server
    env = {
        "DIGEST_SENDER_OUTBOX": str(tmp_path / "outbox"),
        "SECRET_KEY": "cli-test",
        "SMTP_URL": f"smtp://127.0.0.1:{port}",
        "DIGEST_BREAKING_UNDO_SECONDS": "300",
    }
    run("publish", tmp_path=tmp_path, **env)
    run("subscribers", "import", "config/subscribers.example.csv", tmp_path=tmp_path, **env)
    url = "https://harbourlight.example/newsroom/2026/08/osprey-platforms/"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    environment |= {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'digest.db'}",
        "DIGEST_FEEDS_OUTPUT": str(tmp_path / "public"),
        **env,
    }

    def as_at_a_terminal() -> None:
        # the runner may hand its children SIGINT ignored or blocked; a person at a
        # terminal has it delivered
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    process = subprocess.Popen(
        [DIGEST, "breaking", url, "--yes", "--as", "alice"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=as_at_a_terminal,
    )
    assert process.stderr is not None
    assert "sending in" in process.stderr.readline()
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    assert "mailing 1 cancelled; nothing was sent" in out
    assert "status: cancelled" in run("mailing", "status", "1", tmp_path=tmp_path, **env).stdout
    assert "sent: 0" in run("send", tmp_path=tmp_path, **env).stdout
    assert recorder.messages == []
