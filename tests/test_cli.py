"""The command line as the acceptance checks use it: the installed `digest` script."""

from __future__ import annotations

import json
from pathlib import Path

from .helpers import DATA, ROOT, SEEDS, run


def test_parse_json_prints_items_in_page_order(tmp_path: Path) -> None:
    seeds = sorted(SEEDS.glob("*.txt"))
    result = run("parse", *map(str, seeds), "--json", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    expected = json.loads((DATA / "seed-000.json").read_text()) + json.loads(
        (DATA / "seed-004.json").read_text()
    )
    assert json.loads(result.stdout) == expected
    assert set(expected[0]) == {"type", "title", "published", "summary", "image_caption", "url"}


def test_parse_warns_on_skipped_items_and_exits_0(tmp_path: Path) -> None:
    page = tmp_path / "cut.txt"
    page.write_text("Update\n\nWhole\n\nMay 5, 2022\n\nUpdate\n\nCut Off\n")
    result = run("parse", str(page), "--json", tmp_path=tmp_path)
    assert result.returncode == 0
    assert [i["title"] for i in json.loads(result.stdout)] == ["Whole"]
    assert f"{page}:9" in result.stderr and "no date" in result.stderr
    assert f"warning: {page}:9: item 'Cut Off'" in result.stderr  # set up at the first message


def test_parse_unreadable_input_exits_2(tmp_path: Path) -> None:
    junk = tmp_path / "junk.txt"
    junk.write_bytes(b"\x00\xff\xfe junk")
    for path in (str(junk), str(tmp_path / "missing.txt")):
        result = run("parse", path, "--json", tmp_path=tmp_path)
        assert result.returncode == 2
        assert path in result.stderr
        assert result.stdout == ""


def test_ingest_feeds_and_publish(tmp_path: Path) -> None:
    first = run("ingest", tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "total: 22 new, 0 updated, 0 unchanged" in first.stdout
    again = run("ingest", "--source", "newsroom", tmp_path=tmp_path)
    assert "newsroom: 0 new, 0 updated, 17 unchanged" in again.stdout
    by_path = run("ingest", str(SEEDS / "000_bb9fff116277e6df.txt"), tmp_path=tmp_path)
    assert "12 new" in by_path.stdout
    out = tmp_path / "elsewhere"
    feeds = run("feeds", "--out", str(out), tmp_path=tmp_path)
    assert feeds.returncode == 0, feeds.stderr
    printed = feeds.stdout.split()
    assert str(out / "feeds/all.atom") in printed and str(out / "index.html") in printed
    published = run("publish", tmp_path=tmp_path)
    assert published.returncode == 0, published.stderr
    assert (tmp_path / "public/feeds/reports.rss").exists()
    assert "index: " in published.stdout


def test_unknown_source_and_bad_setting_stop_with_a_message(tmp_path: Path) -> None:
    unknown = run("ingest", "--source", "nope", tmp_path=tmp_path)
    assert unknown.returncode != 0 and "no source named 'nope'" in unknown.stderr
    bad = run("publish", tmp_path=tmp_path, DIGEST_FEEDS_SIZE="0")
    assert bad.returncode != 0 and "feeds.size" in bad.stderr


def test_press_list_weekly_and_breaking_commands(tmp_path: Path, smtp_server) -> None:  # type: ignore[no-untyped-def]
    recorder, port = smtp_server
    env = {"DIGEST_SENDER_OUTBOX": str(tmp_path / "outbox"), "SECRET_KEY": "cli-test"}
    assert run("publish", tmp_path=tmp_path, **env).returncode == 0
    imported = run("subscribers", "import", "config/subscribers.example.csv", tmp_path=tmp_path)
    assert "5 added, 0 updated, 0 unchanged, 0 rejected" in imported.stdout

    dry = run("weekly", "--as-of", "2026-11-22", "--dry-run", tmp_path=tmp_path, **env)
    assert "subject: Weekly digest: 1 press release, 2 updates, 1 report" in dry.stdout
    assert "recipients: 4" in dry.stdout
    preview = run(
        "weekly",
        "--as-of",
        "2026-11-22",
        "--preview",
        str(tmp_path / "p"),
        tmp_path=tmp_path,
        **env,
    )
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == [
        "weekly-2026-11-22.eml",
        "weekly-2026-11-22.html",
    ]
    assert str(tmp_path / "p" / "weekly-2026-11-22.html") in preview.stdout
    assert not (tmp_path / "outbox").exists(), "a preview sends nothing"

    sent = run("weekly", "--as-of", "2026-11-22", tmp_path=tmp_path, **env)
    assert sent.returncode == 0, sent.stderr
    assert "sent: 4  failed: 0  waiting for retry: 0" in sent.stdout
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 4
    again = run("weekly", "--as-of", "2026-11-22", tmp_path=tmp_path, **env)
    assert "sent: 0" in again.stdout
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 4

    url = "https://harbourlight.example/newsroom/2026/08/osprey-platforms/"
    smtp = {**env, "SMTP_URL": f"smtp://127.0.0.1:{port}", "DIGEST_BREAKING_UNDO_SECONDS": "0"}
    test = run("breaking", url, "--test-to", "me@example.org", tmp_path=tmp_path, **smtp)
    assert test.returncode == 0, test.stderr
    assert [rcpt for _, rcpt, _ in recorder.messages] == [["me@example.org"]]
    dry_breaking = run("breaking", url, "--dry-run", tmp_path=tmp_path, **smtp)
    assert "subject: Breaking: Twelve New Osprey Platforms" in dry_breaking.stdout
    assert "recipients: 2" in dry_breaking.stdout
    confirmed = run("breaking", url, "--yes", tmp_path=tmp_path, **smtp)
    assert "sent: 2" in confirmed.stdout
    assert len(recorder.messages) == 3
    unknown = run("breaking", "no-such-item", "--yes", tmp_path=tmp_path, **smtp)
    assert unknown.returncode != 0 and "no-such-item" in unknown.stderr
    assert "sent: 0" in run("send", tmp_path=tmp_path, **smtp).stdout


def test_ingest_saved_page_with_base_url_keeps_its_links(tmp_path: Path) -> None:
    import sqlite3

    page = ROOT / "tests/data/html/ghost-casper-dev-blog.html"
    expected = json.loads(page.with_suffix(".json").read_text(encoding="utf-8"))
    result = run("ingest", str(page), "--base-url", expected["url"], tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"{len(expected['items'])} new" in result.stdout
    with sqlite3.connect(tmp_path / "digest.db") as db:
        urls = {row[0] for row in db.execute("SELECT url FROM items")}
    assert urls == {item["url"] for item in expected["items"]}


def test_ingest_base_url_must_be_a_web_address_for_files(tmp_path: Path) -> None:
    page = str(ROOT / "tests/data/html/ghost-casper-dev-blog.html")
    bad = run("ingest", page, "--base-url", "javascript:alert(1)", tmp_path=tmp_path)
    assert bad.returncode == 2 and "--base-url" in bad.stderr and "http(s)" in bad.stderr
    alone = run("ingest", "--base-url", "https://example.org/", tmp_path=tmp_path)
    assert alone.returncode == 2 and "files given by path" in alone.stderr
    assert not (tmp_path / "digest.db").exists()


def test_nothing_readable_exits_2_whatever_the_kind(tmp_path: Path) -> None:
    """One rule for a file with nothing readable: a feed whose only entry has no title
    (with or without an HTML-only entity in it), a page with nothing dated, a text
    listing with no item: exit 2, and `parse --help` says so."""
    rss = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        "<item><description>Only a teaser{}</description></item></channel></rss>"
    )
    files = {
        "plain.xml": rss.format(""),
        "entity.xml": rss.format("&hellip;"),
        "links.html": "<html><body><a href='/a'>A link</a></body></html>",
        "about.txt": "About us\n\nWe are a trust.\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        result = run("parse", str(tmp_path / name), tmp_path=tmp_path)
        assert result.returncode == 2, (name, result.stderr)
        assert name in result.stderr
    help_text = run("parse", "--help", tmp_path=tmp_path).stdout
    assert "exit status 2" in " ".join(help_text.split())


def test_parse_json_marks_undated_feed_entries(tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><link>https://e.org/'
        "</link><item><title>No date</title><link>https://e.org/1</link></item>"
        "<item><title>Dated</title><link>https://e.org/2</link>"
        "<pubDate>Tue, 03 Mar 2026 10:00:00 GMT</pubDate></item></channel></rss>"
    )
    result = run("parse", str(feed), "--json", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["title"], r["published"], r.get("undated")) for r in rows] == [
        ("No date", None, True),
        ("Dated", "2026-03-03", None),
    ]
    text = run("parse", str(feed), tmp_path=tmp_path).stdout
    assert text.splitlines()[0].startswith("undated")


def test_parse_json_marks_items_dated_only_to_a_month(tmp_path: Path) -> None:
    page = tmp_path / "listing.html"
    page.write_text(
        "<!doctype html><html lang='en'><body><main><h1>News</h1>"
        "<h2>April 2013</h2><ul><li><a href='https://e.org/a/2'>Budget agreed for next year</a>"
        "</li><li><a href='https://e.org/a/1'>Market square works start</a></li></ul>"
        "</main></body></html>"
    )
    result = run("parse", str(page), "--json", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["published"], r.get("month_only")) for r in rows] == [("2013-04", True)] * 2
