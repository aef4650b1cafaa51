"""Staff correct an item's text: the amended title and summary replace the wrong ones on
every public path and in the correction email, the history is kept, and the next ingest does
not put the old text back unless the source itself changed it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from digest import actions
from digest.config import BreakingSettings, Settings
from digest.errors import DigestError
from digest.store import amendment_history, find_item, upsert_items

from .helpers import SMTPRecorder, item, run, send_at, subscribe

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
        breaking=BreakingSettings(undo_seconds=0, approval=False),
    )


def test_a_correction_amends_the_text_everywhere_and_keeps_the_history(
    engine: Engine, press: Settings, smtp_server: Server
) -> None:
    import feedparser

    recorder, _ = smtp_server
    wrong = item("Council Grants $50 Million", 20, "press-releases", summary="A $50 million grant.")
    upsert_items(engine, [wrong], NOW)
    subscribe(engine, "a@example.org")
    actions.request_breaking(press, engine, wrong.key, "Alice", now=NOW)
    send_at(engine, press, NOW)
    actions.publish_feeds(engine, press, full=True)
    atom = press.output_dir / "feeds" / "all.atom"
    (before,) = feedparser.parse(atom.read_bytes()).entries

    later = NOW + timedelta(hours=1)
    made = actions.amend_item(
        engine,
        wrong.key,
        "Council Grants $15 Million",
        "A $15 million grant.",
        "$15 million, not $50 million.",
        "Alice",
        later,
        settings=press,
    )
    assert [c["field"] for c in made] == ["title", "summary"]
    history = amendment_history(engine, wrong.key)
    assert [(h["field"], h["old"], h["new"], h["actor"]) for h in history] == [
        ("title", "Council Grants $50 Million", "Council Grants $15 Million", "Alice"),
        ("summary", "A $50 million grant.", "A $15 million grant.", "Alice"),
    ]

    (after,) = feedparser.parse(atom.read_bytes()).entries
    assert after.id == before.id, "the entry keeps its stable id"
    assert after.updated_parsed > before.updated_parsed
    assert after.title == "Council Grants $15 Million"
    assert "Correction: $15 million, not $50 million." in after.content[0].value
    home = (press.output_dir / "index.html").read_text()
    assert "Council Grants $15 Million" in home and "Corrected" in home
    assert "$50 Million" not in home
    archive = (press.output_dir / "news" / "index.html").read_text()
    assert "Corrected" in archive
    page = next((press.output_dir / "items").glob("*/index.html")).read_text()
    assert "Title was “Council Grants $50 Million”, now “Council Grants $15 Million”" in page

    actions.send_correction(press, engine, wrong.key, "Alice", now=later)
    before_count = len(recorder.messages)
    send_at(engine, press, later)
    (fix,) = recorder.parsed()[before_count:]
    text = fix.get_body(("plain",)).get_content()
    assert "$15 million, not $50 million" in text and "A $15 million grant." in text
    assert "A $50 million grant." not in text, "the item as it stands is the amended one"

    # the next read of the listing gives the old text: the staff amendment stays
    upsert_items(engine, [wrong], later + timedelta(minutes=5))
    stored = find_item(engine, wrong.key)
    assert stored is not None and stored.title == "Council Grants $15 Million"
    assert stored.summary == "A $15 million grant."
    # the source itself changes the title: the source wins for that field only
    fixed = replace(wrong, title="Council Grants $15 Million to Harbour")
    upsert_items(engine, [fixed], later + timedelta(minutes=10))
    stored = find_item(engine, wrong.key)
    assert stored is not None and stored.title == "Council Grants $15 Million to Harbour"
    assert stored.summary == "A $15 million grant."


def test_a_correction_needs_a_note_and_a_change(engine: Engine, settings: Settings) -> None:
    news = item("Dune Survey", 20, "reports")
    upsert_items(engine, [news], NOW)
    with pytest.raises(DigestError, match="needs a note"):
        actions.amend_item(engine, news.key, "Dune Survey 2", None, " ", "Alice", NOW)
    with pytest.raises(DigestError, match="same as the item's"):
        actions.amend_item(engine, news.key, "Dune Survey", None, "Typo.", "Alice", NOW)
    with pytest.raises(DigestError, match="title is empty"):
        actions.amend_item(engine, news.key, "  ", None, "Typo.", "Alice", NOW)


def test_the_cli_corrects_the_text(tmp_path: Path) -> None:
    assert run("publish", tmp_path=tmp_path).returncode == 0
    url = "https://harbourlight.example/newsroom/2026/08/osprey-platforms/"
    args = ("items", "correct", url, "--note", "Six platforms, not sixty.")
    done = run(*args, "--title", "Six Osprey Platforms Built", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "title corrected:" in done.stdout and "→ “Six Osprey Platforms Built”" in done.stdout
    atom = (tmp_path / "public" / "feeds" / "all.atom").read_text()
    assert "Six Osprey Platforms Built" in atom, "pages and feeds written at once"
    again = run(*args, "--title", "Six Osprey Platforms Built", tmp_path=tmp_path)
    assert again.returncode == 1 and "nothing changed" in again.stderr
