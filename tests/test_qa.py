"""Found by trying the merged program as a new user, a press officer and an attacker would:
each test is the reproduction of one problem, kept so it stays fixed."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import Engine

from digest import actions
from digest.checks import check_store
from digest.config import BreakingSettings, Settings, SourceConfig
from digest.errors import DigestError, SourceError
from digest.sources.configured import read_source
from digest.store import embargo_of, is_publishable, upsert_items

from .helpers import item, run, subscribe

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)

LISTING = """<html lang="en"><body><ul class="news">
<li><a href="/news/1">First thing happened</a><span>January 2, 2025</span></li>
<li><a href="/news/2">Second thing happened</a><span>January 3, 2025</span></li>
<li><a href="/news/3">Third thing</a><span>January 4, 2025</span></li>
</ul></body></html>"""


@pytest.mark.parametrize("base", ["notaurl", "javascript:alert(1)//", "ftp://example.org/"])
def test_parse_refuses_a_base_url_that_is_no_web_address(tmp_path: Path, base: str) -> None:
    """`digest parse --base-url notaurl` used to drop every link and then advise
    'use --base-url', with exit status 0."""
    page = tmp_path / "news.html"
    page.write_text(LISTING)
    result = run("parse", str(page), "--base-url", base, tmp_path=tmp_path)
    assert result.returncode == 2, result.stdout
    assert "--base-url" in result.stderr and "not an http(s) address" in result.stderr
    assert result.stdout == ""


@pytest.fixture
def press(settings: Settings, tmp_path: Path) -> Settings:
    return replace(
        settings,
        secret_key="test-secret",
        sender=replace(settings.sender, outbox=tmp_path / "outbox"),
        breaking=BreakingSettings(undo_seconds=120, approval=False),
    )


def test_a_breaking_alert_for_a_past_time_is_refused(engine: Engine, press: Settings) -> None:
    """`digest breaking ITEM --at '2020-01-01 09:00' --yes` (a mistyped year) used to send
    at once, skipping the undo window."""
    news = item("Harbour Wall Breached", 23, "press-releases")
    upsert_items(engine, [news], NOW)
    subscribe(engine, "a@example.org")
    with pytest.raises(DigestError, match="in the past"):
        actions.request_breaking(
            press, engine, news.key, "Alice", send_at=NOW - timedelta(minutes=1), now=NOW
        )
    mailing = actions.request_breaking(press, engine, news.key, "Alice", now=NOW)
    assert mailing.status == "scheduled"
    assert mailing.send_after == NOW + timedelta(seconds=120)


def test_an_embargo_that_ended_in_the_past_is_refused(engine: Engine) -> None:
    """`digest items embargo ITEM --until '2020-01-01 10:00'` used to say 'embargoed until'
    an hour that has gone, for an item that stays public."""
    news = item("Harbour Wall Breached", 23, "press-releases")
    upsert_items(engine, [news], NOW)
    with pytest.raises(DigestError, match="in the past"):
        actions.embargo_item(engine, news.key, NOW - timedelta(hours=1), "Alice", now=NOW)
    assert embargo_of(engine, news.key) is None


def test_lifting_an_embargo_that_is_not_there_says_so(engine: Engine) -> None:
    """`digest items embargo ITEM --lift` on an item with no embargo used to print
    'embargo lifted' with exit status 0."""
    news = item("Harbour Wall Breached", 23, "press-releases")
    upsert_items(engine, [news], NOW)
    with pytest.raises(DigestError, match="has no embargo"):
        actions.embargo_item(engine, news.key, None, "Alice", now=NOW)
    actions.embargo_item(engine, news.key, NOW + timedelta(hours=1), "Alice", now=NOW)
    actions.embargo_item(engine, news.key, None, "Alice", now=NOW)
    assert embargo_of(engine, news.key) == NOW  # lifted: recorded as ending now
    assert is_publishable(engine, news.key, NOW)


def test_store_check_creates_no_database_file(settings: Settings, tmp_path: Path) -> None:
    """`digest check` in an empty folder used to leave an empty var/digest.db behind."""
    url = f"sqlite:///{tmp_path / 'var' / 'digest.db'}"
    result = check_store(replace(settings, database_url=url))
    assert result.status == "warn" and "digest migrate" in result.detail
    assert not (tmp_path / "var").exists()


def test_breaking_an_item_already_alerted_says_nothing_was_sent(tmp_path: Path) -> None:
    """A second `digest breaking ITEM --yes` for an item already sent printed only
    'mailing 1 is done' and exit status 0."""
    env = {
        "DIGEST_SENDER_OUTBOX": str(tmp_path / "outbox"),
        "SECRET_KEY": "cli-test",
        "DIGEST_BREAKING_UNDO_SECONDS": "0",
    }
    assert run("publish", tmp_path=tmp_path, **env).returncode == 0
    run("subscribers", "import", "config/subscribers.example.csv", tmp_path=tmp_path, **env)
    url = "https://harbourlight.example/newsroom/2026/08/osprey-platforms/"
    first = run("breaking", url, "--yes", "--as", "alice", tmp_path=tmp_path, **env)
    assert first.returncode == 0, first.stderr
    again = run("breaking", url, "--yes", "--as", "alice", tmp_path=tmp_path, **env)
    assert again.returncode == 1
    assert "already" in again.stderr and "nothing sent" in again.stderr


class _Endless(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(LISTING.encode())
        try:
            for _ in range(200):
                self.wfile.write(b"<p>" + b"x" * 1000 + b"</p>")
        except OSError:
            pass

    def log_message(self, *args: object) -> None:
        pass


def test_a_fetched_page_larger_than_the_cap_is_refused(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A source URL that answers with an endless body used to be read into memory whole."""
    import digest.sources.configured

    monkeypatch.setattr(digest.sources.configured, "MAX_FETCH_BYTES", 50_000)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Endless)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/news"
        with pytest.raises(SourceError, match="larger than 50,000 bytes"):
            read_source(SourceConfig("web", "html", url), settings)
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("name", ["news.aspx", "index", "news.php"])
def test_a_saved_page_named_without_html_is_read_as_a_page(tmp_path: Path, name: str) -> None:
    """`digest parse news.aspx` read the page's markup as a plain-text listing and reported
    "item '<html lang=...>' has no date"."""
    page = tmp_path / name
    page.write_text("\n<!DOCTYPE html>\n" + LISTING)
    result = run("parse", str(page), "--base-url", "https://example.org/", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "First thing happened" in result.stdout and "<html" not in result.stderr


def test_a_saved_feed_named_without_xml_is_read_as_a_feed(tmp_path: Path) -> None:
    feed = tmp_path / "feed"
    feed.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>x</title><item>'
        "<title>Sea wall report</title><link>https://example.org/a</link>"
        "<pubDate>Tue, 10 Feb 2026 10:00:00 GMT</pubDate></item></channel></rss>"
    )
    result = run("parse", str(feed), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "2026-02-10" in result.stdout and "Sea wall report" in result.stdout


def test_an_item_is_found_by_its_feed_entry_id(engine: Engine, settings: Settings) -> None:
    """Items without a URL (the sample newsroom's) had no handle a press officer could see:
    `digest breaking` wanted a key that only the store knows. The feed's entry id works."""
    from digest.feeds import entry_id

    news = item("Harbour Wall Breached", 23, "press-releases")
    upsert_items(engine, [news, item("Seabird Count", 20, "updates")], NOW)
    assert actions.item_for(engine, entry_id(settings, news.key)).key == news.key
    with pytest.raises(DigestError, match="feed entry id"):
        actions.item_for(engine, entry_id(settings, "no-such-key"))


def test_init_where_nothing_can_be_written_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    """`digest init /proc/x` ended in a FileNotFoundError traceback."""
    result = run("init", "/proc/no-such/news", tmp_path=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "cannot write" in result.stderr


@pytest.mark.parametrize("url", ["nonsense", "mysql://u:secret@127.0.0.1/db"])
def test_a_store_url_of_no_known_kind_is_a_config_error(tmp_path: Path, url: str) -> None:
    """DATABASE_URL=nonsense ended every command in a SQLAlchemy ArgumentError traceback."""
    result = run("check", tmp_path=tmp_path, DATABASE_URL=url)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "store.database_url" in result.stdout + result.stderr
    assert "secret" not in result.stdout + result.stderr


def test_a_daily_digest_with_no_daily_reader_says_nothing_was_sent(tmp_path: Path) -> None:
    """`digest daily` with no subscriber on the daily cadence printed 'sent: 0' and exit
    status 0."""
    env = {"DIGEST_SENDER_OUTBOX": str(tmp_path / "outbox"), "SECRET_KEY": "cli-test"}
    assert run("publish", tmp_path=tmp_path, **env).returncode == 0
    run("subscribers", "import", "config/subscribers.example.csv", tmp_path=tmp_path, **env)
    result = run("daily", "--as-of", "2026-11-20", tmp_path=tmp_path, **env)
    assert result.returncode == 1
    assert "no subscriber has chosen the daily digest; nothing sent" in result.stderr
    assert not (tmp_path / "outbox").exists() or not any((tmp_path / "outbox").iterdir())


def test_a_date_no_calendar_has_skips_its_item_with_a_warning(
    tmp_path: Path, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """'February 31, 2026' under an item made the item vanish without a word: its lines
    became the next item's photo caption."""
    from digest.sources import read_path

    page = tmp_path / "page.txt"
    page.write_text(
        "Press Release\n\nA title here\n\nFebruary 31, 2026\n\nUpdate\n\nB title\n\nMarch 1, 2026\n"
    )
    found = read_path(str(page), settings)
    assert [(i.title, i.image_caption) for i in found] == [("B title", None)]
    assert "page.txt:5: 'February 31, 2026' is not a real date; item 'A title here'" in caplog.text


def test_a_binary_file_named_html_is_called_binary(tmp_path: Path) -> None:
    """A PNG saved as news.html was reported as '0 links, 0 dates … give the source CSS
    selectors', sending the user after selectors for a file that is no page at all."""
    page = tmp_path / "news.html"
    page.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    result = run("parse", str(page), tmp_path=tmp_path)
    assert result.returncode == 2
    assert "binary data, not an HTML page" in result.stderr and "selectors" not in result.stderr


def test_explain_on_a_feed_says_it_has_nothing_to_say(tmp_path: Path) -> None:
    """`digest parse feed.xml --explain` printed nothing extra: the flag was silently
    ignored."""
    feed = tmp_path / "feed.xml"
    feed.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>x</title><item>'
        "<title>Sea wall report</title><link>https://example.org/a</link>"
        "<pubDate>Tue, 10 Feb 2026 10:00:00 GMT</pubDate></item></channel></rss>"
    )
    result = run("parse", str(feed), "--explain", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "feed.xml: not read as an HTML page; --explain has nothing to say" in result.stderr


def test_a_correction_sent_twice_says_it_already_went_out(tmp_path: Path) -> None:
    """A second `digest correction ITEM` printed 'sent: 0' with exit status 0."""
    env = {
        "DIGEST_SENDER_OUTBOX": str(tmp_path / "outbox"),
        "SECRET_KEY": "cli-test",
        "DIGEST_BREAKING_UNDO_SECONDS": "0",
    }
    assert run("publish", tmp_path=tmp_path, **env).returncode == 0
    run("subscribers", "import", "config/subscribers.example.csv", tmp_path=tmp_path, **env)
    url = "https://harbourlight.example/newsroom/2026/08/osprey-platforms/"
    assert run("breaking", url, "--yes", "--as", "a", tmp_path=tmp_path, **env).returncode == 0
    note = ("items", "correct", url, "--note", "The date was wrong.", "--as", "a")
    assert run(*note, tmp_path=tmp_path, **env).returncode == 0
    first = run("correction", url, "--as", "a", tmp_path=tmp_path, **env)
    assert first.returncode == 0 and "sent: 2" in first.stdout, first.stderr
    again = run("correction", url, "--as", "a", tmp_path=tmp_path, **env)
    assert again.returncode == 1
    assert "already went out" in again.stderr and "nothing sent" in again.stderr
