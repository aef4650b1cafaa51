"""`digest publish` writes whatever the store holds that is publishable, not only what this
run's ingest changed: items stored by `digest ingest FILE` reach the next publish (issue 17)."""

from __future__ import annotations

from pathlib import Path

from .helpers import run

LISTING = """Press Release

Harbour ferry fares frozen for winter

The port authority keeps fares at this year's level.

December 1, 2026
"""
TITLE = "Harbour ferry fares frozen for winter"


def test_items_ingested_from_a_file_reach_the_next_publish(tmp_path: Path) -> None:
    first = run("publish", tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    feed = tmp_path / "public/feeds/all.atom"
    assert TITLE not in feed.read_text()
    listing = tmp_path / "listing.txt"
    listing.write_text(LISTING)
    stored = run("ingest", str(listing), tmp_path=tmp_path)
    assert "1 new" in stored.stdout, stored.stderr
    again = run("publish", tmp_path=tmp_path)
    assert again.returncode == 0, again.stderr
    assert TITLE in feed.read_text()
    assert TITLE in (tmp_path / "public/index.html").read_text()
