"""The clock with an injected time and a real store: the weekly digest on time, caught up
once after a short outage, never twice; one clock at a time; SIGTERM loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select

from digest import actions
from digest.config import Settings, SourceConfig
from digest.mailings import delivery_counts, find_mailing, plan_weekly, weekly_ident
from digest.model import Item, Subscriber
from digest.schedule import LEASE, ClockProcess, latest_weekly_time, weekly_due
from digest.store import deliveries, leases, source_state, upsert_items
from digest.subscribers import add_subscriber

from .helpers import ROOT, SMTPRecorder

NEW_YORK = ZoneInfo("America/New_York")
MONDAY_9 = datetime(2026, 11, 23, 9, 0, tzinfo=NEW_YORK)


class FakeTime:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment.astimezone(UTC)


@pytest.fixture
def outbox_settings(settings: Settings, tmp_path: Path) -> Settings:
    sender = replace(settings.sender, outbox=tmp_path / "outbox", rate=1000.0)
    return replace(settings, smtp_url=None, secret_key="clock", sender=sender)


def week_of_news(engine: Engine, first_day: datetime) -> None:
    items = [
        Item(
            key=f"https://harbourlight.example/{first_day:%m%d}/{n}",
            title=f"News {n}",
            published=first_day + timedelta(days=n),
            type="updates",
            source="t",
        )
        for n in range(3)
    ]
    upsert_items(engine, items, first_day)


def test_latest_weekly_time_is_in_the_newsroom_zone(settings: Settings) -> None:
    assert latest_weekly_time(settings, MONDAY_9.astimezone(UTC)) == MONDAY_9
    just_before = MONDAY_9 - timedelta(minutes=1)
    assert latest_weekly_time(settings, just_before) == MONDAY_9 - timedelta(days=7)
    assert latest_weekly_time(settings, MONDAY_9 + timedelta(days=3)) == MONDAY_9


def test_missed_monday_sends_once_when_the_clock_returns(
    engine: Engine, outbox_settings: Settings
) -> None:
    week_of_news(engine, MONDAY_9 - timedelta(days=6))
    add_subscriber(engine, Subscriber(email="ana@example.org"), MONDAY_9)
    now = FakeTime(MONDAY_9 - timedelta(minutes=5))
    clock = ClockProcess(outbox_settings, engine, now=now, holder="a")
    clock.run_due()
    assert weekly_due(outbox_settings, engine, now()) is None, "not yet 09:00"
    now.moment = MONDAY_9 + timedelta(hours=2)  # down at 09:00, back at 11:00
    assert weekly_due(outbox_settings, engine, now()) == MONDAY_9.date()
    clock.run_due()
    clock.run_due()
    now.moment += timedelta(minutes=1)
    ClockProcess(outbox_settings, engine, now=now, holder="b").run_due()
    mailing = find_mailing(engine, weekly_ident(MONDAY_9.date()))
    assert mailing is not None and delivery_counts(engine, mailing.id) == {"sent": 1}
    assert len(list((outbox_settings.sender.outbox).glob("*.eml"))) == 1


def test_a_week_down_loses_nothing(engine: Engine, outbox_settings: Settings) -> None:
    add_subscriber(engine, Subscriber(email="ana@example.org"), MONDAY_9)
    week_of_news(engine, MONDAY_9 - timedelta(days=6))
    now = FakeTime(MONDAY_9 + timedelta(minutes=1))
    ClockProcess(outbox_settings, engine, now=now).run_due()
    week_of_news(engine, MONDAY_9 + timedelta(days=1))
    week_of_news(engine, MONDAY_9 + timedelta(days=8))
    now.moment = MONDAY_9 + timedelta(days=8)  # Tuesday of the next week: too late for Monday
    assert weekly_due(outbox_settings, engine, now()) is None
    now.moment = MONDAY_9 + timedelta(days=14, minutes=1)
    ClockProcess(outbox_settings, engine, now=now).run_due()
    later = (MONDAY_9 + timedelta(days=14)).date()
    second = find_mailing(engine, weekly_ident(later))
    assert second is not None and second.status == "done"
    assert len(plan_weekly(engine, outbox_settings, later).items) == 6, "both weeks since"


def test_one_clock_at_a_time(engine: Engine, outbox_settings: Settings) -> None:
    now = FakeTime(MONDAY_9)
    first = ClockProcess(outbox_settings, engine, now=now, holder="first")
    second = ClockProcess(outbox_settings, engine, now=now, holder="second")
    ran: list[str] = []
    assert first.holds_lease()
    second._guarded("job", lambda: ran.append("second"))()
    first._guarded("job", lambda: ran.append("first"))()
    assert ran == ["first"]
    now.moment += timedelta(seconds=outbox_settings.schedule.lease_seconds + 1)  # first died
    second._guarded("job", lambda: ran.append("second"))()
    assert ran == ["first", "second"]
    assert not first.holds_lease()
    second.stop()
    with engine.connect() as conn:
        assert conn.execute(select(leases).where(leases.c.name == LEASE)).first() is None
    assert first.holds_lease(), "a clean stop frees the lease at once"


def test_sigterm_mid_send_loses_nothing(
    engine: Engine, settings: Settings, smtp_server: tuple[SMTPRecorder, int], tmp_path: Path
) -> None:
    recorder, port = smtp_server
    recorder.data_delay = 0.05
    from digest import actions

    now = datetime.now(UTC)
    alert = Item(
        key="https://harbourlight.example/alert",
        title="Alert",
        type="updates",
        published=now,
        source="t",
    )
    upsert_items(engine, [alert], now)
    for n in range(40):
        add_subscriber(engine, Subscriber(email=f"r{n}@example.org"), now)
    mailing = actions.breaking_alert(engine, settings, alert, now)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env |= {
        "DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "SMTP_URL": f"smtp://127.0.0.1:{port}",
        "SECRET_KEY": "clock",
        "DIGEST_FEEDS_OUTPUT": str(tmp_path / "public"),
        "DIGEST_SENDER_CONNECTIONS": "2",
        "DIGEST_SENDER_RATE": "1000",
    }
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "digest"), "clock"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while len(recorder.messages) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "clock stopped" in err
    counts = delivery_counts(engine, mailing.id)
    assert counts.get("sending", 0) == 0, "nothing left claimed"
    assert 0 < counts["sent"] < 40
    assert counts["sent"] == len(recorder.messages), "every accepted message is recorded"
    with engine.connect() as conn:
        assert conn.execute(select(leases)).first() is None, "the lease was released"
        attempts = set(conn.execute(select(deliveries.c.attempts)).scalars())
    assert attempts <= {0, 1}
    actions.send(engine, replace(settings, smtp_url=env["SMTP_URL"], secret_key="clock"))
    assert delivery_counts(engine, mailing.id) == {"sent": 40}
    assert len({m[1][0] for m in recorder.messages}) == len(recorder.messages) == 40


def test_digest_run_serves_and_schedules_then_stops_cleanly(engine: Engine, tmp_path: Path) -> None:
    from .helpers import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env |= {
        "DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "SECRET_KEY": "run",
        "DIGEST_FEEDS_OUTPUT": str(tmp_path / "public"),
        "DIGEST_SENDER_OUTBOX": str(tmp_path / "outbox"),
    }
    env.pop("PORT", None)
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "digest"), "run", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    import httpx

    try:
        deadline = time.monotonic() + 60
        health = None
        while time.monotonic() < deadline:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz").json()
                if health["last_poll_age_seconds"] is not None:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        assert health and health["ok"], "the clock polled and the web process answers"
        # The poll is recorded before its publish has written the feeds: wait for them.
        feed = httpx.get(f"http://127.0.0.1:{port}/feeds/all.atom")
        while b"King Tide" not in feed.content and time.monotonic() < deadline + 60:
            time.sleep(0.2)
            feed = httpx.get(f"http://127.0.0.1:{port}/feeds/all.atom")
        assert feed.status_code == 200 and b"King Tide" in feed.content
        with engine.connect() as conn:
            assert conn.execute(select(leases.c.name)).scalar() == LEASE
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    assert process.returncode in (0, -signal.SIGTERM), err  # uvicorn re-raises the signal
    assert "clock stopped" in err
    with engine.connect() as conn:
        assert conn.execute(select(leases)).first() is None


def test_the_clock_polls_each_source_at_its_own_interval(
    outbox_settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    seeds = sorted((ROOT / "tests" / "data" / "seeds").glob("*.txt"))
    sources = []
    for name, minutes, seed in (("often", 15, seeds[0]), ("daily", 1440, seeds[1])):
        page = tmp_path / f"{name}.txt"
        page.write_bytes(seed.read_bytes())
        sources.append(SourceConfig(name, "listing", str(page), interval_minutes=minutes))
    clock_settings = replace(outbox_settings, sources=tuple(sources))
    now = FakeTime(MONDAY_9)
    clock = ClockProcess(clock_settings, engine, now=now, holder="a")

    def polls() -> dict[str, datetime]:
        clock.poll_and_publish()
        return {s.name: (source_state(engine, s.name) or {})["polled_at"] for s in sources}

    first = polls()
    assert first == {"often": now(), "daily": now()}
    now.moment += timedelta(minutes=14, seconds=30)  # a poll come a little early
    assert polls() == {"often": now(), "daily": first["daily"]}
    now.moment += timedelta(hours=24)
    assert polls() == {"often": now(), "daily": now()}
    assert actions.publish(engine, clock_settings).ingest.results.keys() == {"often", "daily"}, (
        "a publish by hand reads every source"
    )
