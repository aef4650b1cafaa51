"""Daily digests per subscriber: on weekdays at the configured time, same guarantees as the
weekly one (a skipped day loses nothing, no item goes twice); the CSV and the preferences
carry the choice."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from digest import actions
from digest.config import Settings
from digest.model import Item
from digest.schedule import daily_due, latest_daily_time
from digest.store import upsert_items
from digest.subscribers import (
    SubscriberError,
    get_subscriber,
    import_csv,
    iter_subscribers,
    set_preferences,
)

from .helpers import SMTPRecorder, digest_text, report_item, section, send_at, subscribe

Server = tuple[SMTPRecorder, int]
THU = date(2026, 11, 19)


@pytest.fixture
def press(settings: Settings, smtp_server: tuple[SMTPRecorder, int], tmp_path: Path) -> Settings:
    _, port = smtp_server
    return replace(
        settings,
        smtp_url=f"smtp://127.0.0.1:{port}",
        secret_key="test-secret",
        sender=replace(settings.sender, rate=1000.0, connections=1, outbox=tmp_path / "outbox"),
    )


def news(title: str, when: datetime) -> Item:
    return report_item(title, when, type="updates", summary=f"About {title}.")


def local(settings: Settings, day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=settings.timezone)


def test_daily_times_are_weekday_mornings_in_the_newsroom_zone(settings: Settings) -> None:
    saturday_noon = local(settings, date(2026, 11, 21), 12)
    assert latest_daily_time(settings, saturday_noon) == local(settings, date(2026, 11, 20), 7)
    monday_six = local(settings, date(2026, 11, 23), 6)
    assert latest_daily_time(settings, monday_six) == local(settings, date(2026, 11, 20), 7)
    monday_eight = local(settings, date(2026, 11, 23), 8)
    assert latest_daily_time(settings, monday_eight) == local(settings, date(2026, 11, 23), 7)


def test_skipped_days_lose_nothing_and_repeat_nothing(
    engine: Engine,
    press: Settings,
    smtp_server: Server,
) -> None:
    recorder, _ = smtp_server
    subscribe(engine, "daily@example.org", cadence="daily")
    subscribe(engine, "weekly@example.org")
    days = [THU + timedelta(days=n) for n in range(5)]  # Thu, Fri, Sat, Sun, Mon
    for day in days:
        upsert_items(
            engine, [news(f"News of {day:%A}", local(press, day, 5))], local(press, day, 5)
        )

    thu = local(
        press,
        THU,
        7,
    )
    assert daily_due(press, engine, thu + timedelta(minutes=1)) == THU
    actions.daily_digest(engine, press, THU, thu)
    assert daily_due(press, engine, thu + timedelta(minutes=1)) is None
    send_at(engine, press, thu)
    first = digest_text(recorder, "daily@example.org", "Daily")
    assert "News of Thursday" in first and "News of Wednesday" not in first
    saturday = local(press, days[2], 12)
    assert daily_due(press, engine, saturday) is None, "no daily digest at the weekend"

    monday = local(press, days[4], 7)
    actions.daily_digest(engine, press, days[4], monday)  # Friday's was skipped
    send_at(engine, press, monday)
    second = digest_text(recorder, "daily@example.org", "Daily")
    for name in ("Friday", "Saturday", "Sunday", "Monday"):
        assert f"News of {name}" in second
    assert "News of Thursday" not in second
    assert second.startswith("Daily digest: 4 updates")
    to_weekly = [
        m for m in recorder.parsed() if m["To"].addresses[0].addr_spec == "weekly@example.org"
    ]
    assert to_weekly == [], "weekly readers get no daily digest"
    actions.weekly_digest(engine, press, days[3], monday)
    send_at(engine, press, monday)
    weekly = digest_text(recorder, "weekly@example.org")
    assert "News of Thursday" in weekly and "News of Sunday" in weekly
    received = [m["Subject"] for m in recorder.parsed() if "daily@" in str(m["To"])]
    assert not any(s.startswith("Weekly") for s in received), "daily readers get no weekly"


def test_the_csv_and_the_preferences_carry_the_cadence(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    now = datetime(2026, 11, 23, tzinfo=UTC)
    csv = tmp_path / "list.csv"
    csv.write_text(
        "email,types,cadence\na@example.org,,daily\nb@example.org,Report,\nc@example.org,,hourly\n",
        encoding="utf-8",
    )
    report = import_csv(engine, settings, csv, now)
    assert report.added == 2
    assert report.errors == [(4, "cadence must be weekly or daily, not 'hourly'")]
    cadences = {s.email: s.cadence for s in iter_subscribers(engine)}
    assert cadences == {"a@example.org": "daily", "b@example.org": "weekly"}
    b = next(s for s in iter_subscribers(engine) if s.email == "b@example.org")
    set_preferences(engine, b.id or 0, (), True, True, now, "daily")
    assert (get_subscriber(engine, b.id or 0) or b).cadence == "daily"
    with pytest.raises(SubscriberError):
        set_preferences(engine, b.id or 0, (), True, True, now, "<script>")


def test_a_daily_digest_of_nothing_is_empty(engine: Engine, press: Settings) -> None:
    subscribe(engine, "daily@example.org", cadence="daily")
    mailing = actions.daily_digest(engine, press, THU, local(press, THU, 7))
    assert mailing.status == "empty"


def test_corrections_reach_daily_and_weekly_readers_once_each(
    engine: Engine, press: Settings, smtp_server: tuple[SMTPRecorder, int]
) -> None:
    recorder, _ = smtp_server
    subscribe(engine, "daily@example.org", cadence="daily")
    subscribe(engine, "weekly@example.org")
    first = news("Kelp Survey", local(press, THU, 5))
    upsert_items(engine, [first], local(press, THU, 5))
    actions.add_correction(engine, first.key, "Kelp covers 3 ha.", "Alice", local(press, THU, 6))
    fri = THU + timedelta(days=1)
    upsert_items(engine, [news("Tide Table", local(press, fri, 5))], local(press, fri, 5))
    actions.daily_digest(engine, press, fri, local(press, fri, 7))
    send_at(engine, press, local(press, fri, 7))
    assert "Kelp covers 3 ha." in section(
        digest_text(recorder, "daily@example.org", "Daily"), "Corrections"
    )
    mon = THU + timedelta(days=4)
    upsert_items(engine, [news("Gull Count", local(press, mon, 5))], local(press, mon, 5))
    actions.daily_digest(engine, press, mon, local(press, mon, 7))
    send_at(engine, press, local(press, mon, 7))
    assert "Corrections" not in digest_text(recorder, "daily@example.org", "Daily")
    actions.weekly_digest(engine, press, THU + timedelta(days=3), local(press, mon, 9))
    send_at(engine, press, local(press, mon, 9))
    assert "Kelp covers 3 ha." in section(
        digest_text(recorder, "weekly@example.org"), "Corrections"
    )
