"""A simulated week on real parts: PostgreSQL, aiosmtpd, the web app on uvicorn and the
clock's jobs under an injected time. New listing pages appear day by day, a feed reader
polls with conditional GET, staff send a breaking alert from the console, and Monday's
digest goes out; afterwards every expected message arrived exactly once and every feed
validates."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser
import httpx
from lxml import etree

from digest import staff
from digest.catalog import feed_specs
from digest.config import Settings, SourceConfig
from digest.model import Subscriber
from digest.schedule import ClockProcess
from digest.subscribers import add_subscriber
from digest.web import create_app

from .helpers import ATOM_SCHEMA, SMTPRecorder, csrf_of, free_port, fresh_postgres, serve, wait_for

NEW_YORK = ZoneInfo("America/New_York")
START = datetime(2026, 11, 24, 10, 0, tzinfo=NEW_YORK)  # a Tuesday
KINDS = ["Press Release", "Update", "Report", "Press Release", "Update", "Report"]


class FakeTime:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


def page_for(days: int) -> str:
    """The listing as it stands after `days` days: one new item a day, newest first."""
    blocks = []
    for n in reversed(range(days)):
        day = START + timedelta(days=n)
        blocks.append(
            f"{KINDS[n]}\n\nSimulated Item {n} of the Week\n\nWhat happened on day "
            f"{n}.\n\n{day:%B} {day.day}, {day.year}\n"
        )
    return "Harbourlight Coastal Trust — Newsroom\n\n" + "\n".join(blocks)


def test_a_simulated_week(
    postgres_url: str, settings: Settings, smtp_server: tuple[SMTPRecorder, int], tmp_path: Path
) -> None:
    engine = fresh_postgres(postgres_url)
    recorder, smtp_port = smtp_server
    port = free_port()
    pages = tmp_path / "pages"
    pages.mkdir()
    live = replace(
        settings,
        sources=(SourceConfig("newsroom", "listing", str(pages / "*.txt")),),
        base_url=f"http://127.0.0.1:{port}/",
        secret_key="week",
        admin_password="s3cret",
        smtp_url=f"smtp://127.0.0.1:{smtp_port}",
        sender=replace(settings.sender, rate=1000.0),
        breaking=replace(settings.breaking, undo_seconds=0),
        feed_refresh_seconds=1,
    )
    _, token = staff.add_staff(engine, "jo@example.org", "Jo", "sender", datetime.now(UTC))
    staff.set_password_with_token(engine, token, "s3cret-s3cret", datetime.now(UTC))
    add_subscriber(engine, Subscriber(email="all@example.org", name="All"), START)
    add_subscriber(
        engine, Subscriber(email="reports@example.org", types=("reports",), breaking=False), START
    )
    add_subscriber(
        engine, Subscriber(email="pr@example.org", types=("press-releases",), weekly=False), START
    )
    now = FakeTime(START)
    clock = ClockProcess(live, engine, now=now, holder="week-clock")

    with serve(create_app(live, engine), port) as base_url, httpx.Client(base_url=base_url) as web:
        etag, seen, polls = None, set(), Counter()
        for day in range(1, 7):  # Tuesday to Sunday: a page snapshot a day
            now.moment = START + timedelta(days=day - 1, hours=1)
            (pages / f"snapshot-{day}.txt").write_text(page_for(day))
            clock.poll_and_publish()
            clock.run_due()
            for _ in range(2):  # a reader polling twice: the second poll costs a 304
                headers = {"If-None-Match": etag} if etag else {}
                response = web.get("/feeds/all.atom", headers=headers)
                polls[response.status_code] += 1
                if response.status_code == 200:
                    etag = response.headers["etag"]
                    feed = feedparser.parse(response.content)
                    assert not feed.bozo
                    seen |= {entry.title for entry in feed.entries}
            if day == 3:  # Thursday: a breaking alert from the console
                form = web.get("/admin/signin")
                web.post(
                    "/admin/signin",
                    data={
                        "csrf": csrf_of(form.text),
                        "email": "jo@example.org",
                        "password": "s3cret-s3cret",
                    },
                )
                items = web.get("/admin/items").text
                assert "Simulated Item 0 of the Week" in items
                row = next(row for row in items.split("<tr>") if "Item 0 of" in row)
                key = row.split("/admin/breaking?item=")[1].split('"')[0]
                page = web.get(f"/admin/breaking?item={key}")
                count = page.text.split('id="recipient-count">')[1].split("<")[0]
                fields = {
                    "csrf": csrf_of(page.text),
                    "item": httpx.QueryParams(f"k={key}")["k"],
                    "confirm_count": count,
                }
                sent = web.post("/admin/breaking/send", data=fields)
                progress = sent.headers["location"]
                wait_for(lambda progress=progress: 'id="state">done<' in web.get(progress).text)
        assert polls[304] >= 6 and polls[200] == 6, polls
        assert seen == {f"Simulated Item {n} of the Week" for n in range(6)}

        now.moment = datetime(2026, 11, 30, 9, 1, tzinfo=NEW_YORK)  # Monday 09:01
        clock.run_due()
        now.moment += timedelta(minutes=1)
        clock.run_due()

        for spec in feed_specs(live):
            atom = web.get(f"/feeds/{spec.slug}.atom").content
            assert ATOM_SCHEMA.validate(etree.fromstring(atom)), spec.slug
            for fmt in ("atom", "rss"):
                assert not feedparser.parse(web.get(f"/feeds/{spec.slug}.{fmt}").content).bozo

    engine.dispose()
    messages = [message_from_bytes(m[2], policy=policy.default) for m in recorder.messages]
    received = Counter((str(m["To"].addresses[0].addr_spec), str(m["Subject"])) for m in messages)
    assert set(received.values()) == {1}, "every message exactly once"
    breaking = "Breaking: Simulated Item 0 of the Week"
    # the subject counts what the sections list: the alerted press release is listed apart
    weekly_all = "Weekly digest: 1 press release, 2 updates, 2 reports — 30 November 2026"
    weekly_reports = "Weekly digest: 2 reports — 30 November 2026"
    assert set(received) == {
        ("all@example.org", breaking),
        ("pr@example.org", breaking),
        ("all@example.org", weekly_all),
        ("reports@example.org", weekly_reports),
    }
