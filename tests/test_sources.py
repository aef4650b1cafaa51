"""HTML pages (from a file and over HTTP with conditional GET), upstream feeds, and the
configuration that names the sources."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from sqlalchemy import Engine

from digest import actions
from digest.config import Settings, SourceConfig, load_settings
from digest.errors import ConfigError, SourceError
from digest.sources import parse_document, read_path
from digest.sources.configured import read_source
from digest.sources.fetch import Validators
from digest.store import count_items, source_state

from .helpers import ROOT

ARCHIVE = ROOT / "config/newsroom/archive.html"


def test_html_page_gives_items_with_links(settings: Settings) -> None:
    items = read_path(str(ARCHIVE), settings, base_url="https://harbourlight.example/newsroom/")
    assert [(i.type, i.title, i.published.date().isoformat(), i.url) for i in items] == [
        (
            "press-releases",
            "Twelve New Osprey Platforms Go Up Along the Kennebec",
            "2026-08-24",
            "https://harbourlight.example/newsroom/2026/08/osprey-platforms/",
        ),
        (
            "reports",
            "Heat and the Bay: Ten Summers of Water Temperature",
            "2026-08-17",
            "https://harbourlight.example/newsroom/2026/08/heat-and-the-bay/",
        ),
        (
            None,
            "Meet Our 2026 Summer Interns",
            "2026-08-10",
            "https://harbourlight.example/newsroom/2026/08/summer-interns/",
        ),
    ]
    assert items[0].image_caption == (
        "An osprey lands on a nesting platform\nPhoto by Jonah Pike/Harbourlight"
    )
    assert (
        items[1].summary
        == "Loggers at 30 stations show the bay’s August average rising 0.4 °C a decade…"
    )
    assert items[0].key == items[0].url


class _Newsroom(BaseHTTPRequestHandler):
    page = ARCHIVE.read_bytes()
    etag = '"v1"'
    requests: ClassVar[list[dict[str, str | None]]] = []

    def do_GET(self) -> None:
        type(self).requests.append(
            {
                "if-none-match": self.headers.get("If-None-Match"),
                "if-modified-since": self.headers.get("If-Modified-Since"),
            }
        )
        if self.path == "/broken":
            self.send_error(500)
            return
        if self.headers.get("If-None-Match") == self.etag:
            self.send_response(304)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("ETag", self.etag)
        self.send_header("Last-Modified", formatdate(0, usegmt=True))
        self.send_header("Content-Length", str(len(self.page)))
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def newsroom_server() -> Iterator[str]:
    _Newsroom.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Newsroom)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_conditional_get_costs_a_304(
    newsroom_server: str, settings: Settings, engine: Engine
) -> None:
    """The listing's own conditional GET (its item pages are not read here)."""
    source = SourceConfig("web", "html", newsroom_server + "/newsroom/", follow=False)
    settings = replace(settings, sources=(source,))
    first = actions.ingest_sources(engine, settings, now=datetime(2026, 11, 1, tzinfo=UTC))
    assert first.total.new == 3
    state = source_state(engine, "web")
    assert state["etag"] == '"v1"' and state["last_modified"]
    items = read_source(source, settings).items
    assert items[0].url == newsroom_server + "/newsroom/2026/08/osprey-platforms/"
    second = actions.ingest_sources(engine, settings, now=datetime(2026, 11, 2, tzinfo=UTC))
    assert second.total.new == second.total.unchanged == 0
    assert _Newsroom.requests[-1]["if-none-match"] == '"v1"'
    assert _Newsroom.requests[-1]["if-modified-since"] == state["last_modified"]
    assert source_state(engine, "web")["result"] == "not modified"


def test_http_error_is_recorded_and_loses_nothing(
    newsroom_server: str, settings: Settings, engine: Engine
) -> None:
    good = SourceConfig("web", "html", newsroom_server + "/newsroom/")
    actions.ingest_sources(engine, replace(settings, sources=(good,)))
    broken = SourceConfig("web", "html", newsroom_server + "/broken")
    report = actions.ingest_sources(engine, replace(settings, sources=(broken,)))
    assert "HTTP 500" in report.errors["web"]
    assert sum(count_items(engine).values()) == 3
    assert source_state(engine, "web")["result"].startswith("error:")
    with pytest.raises(SourceError, match="cannot fetch"):
        read_source(SourceConfig("down", "html", "http://127.0.0.1:9/"), settings, Validators())


def test_upstream_feed_maps_categories_to_types(settings: Settings) -> None:
    source = settings.source("field-notes")
    items = read_source(source, settings).items
    assert [(i.type, i.title) for i in items] == [
        ("updates", "Field note: Eider Ducklings Return to Harbourlight Point"),
        ("reports", "Sediment Cores from the Upper Marsh"),
    ]
    assert items[0].summary == "A late brood of eiders was seen off the point this week."
    assert items[0].key == "tag:harbourlight.example,2026:field-notes/eiders"
    assert items[0].published == datetime(2026, 11, 18, 15, 30, tzinfo=UTC)


def test_type_label_as_category_needs_no_mapping(settings: Settings) -> None:
    rss = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
    <link>https://example.org/</link><description>d</description>
    <item><title>A &lt;b&gt;bold&lt;/b&gt; move</title><link>https://example.org/a</link>
    <category>Press Release</category><pubDate>Mon, 16 Nov 2026 14:00:00 GMT</pubDate></item>
    </channel></rss>"""
    (item,) = parse_document(rss, "feed", settings, "up.rss")
    assert item.type == "press-releases"
    assert item.title == "A bold move"


@pytest.mark.parametrize(
    "document",
    [b"<rss><channel><item><title>broken", b"this is not xml at all {", b"\x00\x01binary"],
)
def test_malformed_upstream_feed_is_a_clear_error(settings: Settings, document: bytes) -> None:
    with pytest.raises(SourceError, match=r"up\.xml"):
        parse_document(document, "feed", settings, "up.xml")


def test_feed_entries_without_dates_are_kept_and_marked(settings: Settings) -> None:
    atom = b"""<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>x</id>
    <entry><title>No date</title><id>a</id></entry>
    <entry><title>Dated</title><id>b</id><updated>2026-11-01T00:00:00Z</updated></entry></feed>"""
    items = parse_document(atom, "feed", settings, "up.atom")
    assert [(i.title, i.undated) for i in items] == [("No date", True), ("Dated", False)]
    today = datetime.now(settings.timezone).date()
    assert items[0].published == datetime(
        today.year, today.month, today.day, tzinfo=settings.timezone
    )
    assert items[1].published == datetime(2026, 11, 1, tzinfo=UTC)
    assert items[0].url is None


def write_config(tmp_path: Path, change: tuple[str, str] | None = None) -> Path:
    text = (ROOT / "config/digest.toml").read_text()
    if change:
        assert change[0] in text
        text = text.replace(*change)
    path = tmp_path / "digest.toml"
    path.write_text(text)
    return path


def test_environment_overrides_settings(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "DIGEST_CONFIG": str(write_config(tmp_path)),
            "BASE_URL": "https://feeds.example.org",
            "DATABASE_URL": "postgres://u@db/x",
            "DIGEST_FEEDS_SIZE": "20",
            "DIGEST_NEWSROOM_NAME": "Other Trust",
        }
    )
    assert settings.base_url == "https://feeds.example.org/"
    assert settings.database_url == "postgresql+psycopg://u@db/x"
    assert settings.feed_size == 20
    assert settings.newsroom_name == "Other Trust"
    assert [t.label for t in settings.types] == ["Press Release", "Update", "Report"]


@pytest.mark.parametrize(
    ("change", "env", "named"),
    [
        (None, {"DIGEST_FEEDS_SIZE": "many"}, "feeds.size (DIGEST_FEEDS_SIZE)"),
        (None, {"BASE_URL": "feeds.example.org"}, "site.base_url"),
        (None, {"SMTP_URL": "mail.example.org:25"}, "sender.smtp_url"),
        (None, {"DIGEST_EMAIL_DKIM_KEY_FILE": "/no/such/key.pem"}, "email.dkim_key_file"),
        (None, {"DIGEST_EMAIL_WEEKLY_SUBJECT": "Digest {week}"}, "email.weekly_subject"),
        (None, {"DIGEST_SENDER_CONNECTIONS": "0"}, "sender.connections"),
        (('timezone = "America/New_York"', 'timezone = "Mars/Olympus"'), {}, "newsroom.timezone"),
        (('kind = "html"', 'kind = "gopher"'), {}, "sources[1].kind"),
        (('slug = "updates"', 'slug = "Up Dates"'), {}, "types[1].slug"),
        (('tag_date = "2026-01-01"', 'tag_date = "soon"'), {}, "newsroom.tag_date"),
        (("[feeds]", "[feeds"), {}, "invalid TOML"),
        (('"Study" = "reports"', '"Study" = "studies"'), {}, "sources[2].categories"),
    ],
)
def test_bad_setting_is_named(
    tmp_path: Path, change: tuple[str, str] | None, env: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings({"DIGEST_CONFIG": str(write_config(tmp_path, change)), **env})
    assert named in str(error.value)


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_settings({"DIGEST_CONFIG": str(tmp_path / "none.toml")})


@pytest.mark.parametrize(
    ("entry", "setting"),
    [
        ('selectors = { title = "h2" }', "sources[1].selectors"),
        ('selectors = { item = "li", colour = "b" }', "sources[1].selectors"),
        ('selectors = { item = "li[" }', "sources[1].selectors.item"),
        ('date_format = "dd.mm.yyyy"', "sources[1].date_format"),
        ('base_url = "ftp://example.org/"', "sources[1].base_url"),
        ("day_first = 1", "sources[1].day_first"),
        ('embargo_element = "x:y:z"', "sources[1].embargo_element"),
        ('embargo_element = "<embargo>"', "sources[1].embargo_element"),
    ],
)
def test_bad_page_reading_setting_is_named(tmp_path: Path, entry: str, setting: str) -> None:
    anchor = 'location = "config/newsroom/archive.html"'
    change = (anchor, f"{anchor}\n{entry}")
    if entry.startswith("base_url"):
        change = ('base_url = "https://harbourlight.example/newsroom/"', entry)
    path = write_config(tmp_path, change)
    with pytest.raises(ConfigError, match=re.escape(setting)):
        load_settings({"DIGEST_CONFIG": str(path)})


def test_page_reading_settings_are_read(tmp_path: Path) -> None:
    anchor = 'location = "config/newsroom/archive.html"'
    extra = 'selectors = { item = "article", date = "time" }\ndate_format = "%d.%m.%Y"\n'
    extra += 'language = "de"\nday_first = true\nembargo_element = "dcterms:available"'
    path = write_config(tmp_path, (anchor, f"{anchor}\n{extra}"))
    source = load_settings({"DIGEST_CONFIG": str(path)}).source("archive")
    assert dict(source.selectors) == {"item": "article", "date": "time"}
    assert (source.date_format, source.language, source.day_first) == ("%d.%m.%Y", "de", True)
    assert source.base_url == "https://harbourlight.example/newsroom/"
    assert source.embargo_element == "dcterms:available"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_feed_with_a_byte_order_mark(encoding: str, settings: Settings) -> None:
    rss = f"""<?xml version="1.0" encoding="{encoding}"?><rss version="2.0"><channel>
    <title>t</title><link>https://example.org/news/</link><description>d</description>
    <item><title>Caf\u00e9 &amp; co &eacute; &nosuch;</title><link>a/1</link>
    <pubDate>Mon, 16 Nov 2026 14:00:00 GMT</pubDate></item></channel></rss>"""
    (item,) = parse_document(rss.encode(encoding), "feed", settings, "up.rss")
    assert item.title == "Café & co é"
    assert item.url == "https://example.org/news/a/1"


JSON_FEED_11 = """{
  "version": "https://jsonfeed.org/version/1.1",
  "title": "Harbour news",
  "home_page_url": "https://harbour.example.org/news/",
  "language": "en",
  "items": [
    {"id": "https://harbour.example.org/news/dredging", "url": "dredging",
     "title": "Dredging &amp; survey work", "summary": "The channel is deepened.",
     "date_published": "2026-03-03T10:00:00+01:00", "tags": ["Press Release", "Port"]},
    {"id": "2", "external_url": "https://other.example.com/story",
     "title": "Coverage elsewhere", "content_html": "<p>A <b>long</b> read.</p>",
     "date_modified": "2026-03-02T09:00:00Z"},
    {"id": "3", "url": "https://harbour.example.org/news/undated", "title": "No date",
     "content_text": "Plain text."},
    {"id": "4", "url": "https://harbour.example.org/news/ahead", "title": "Year typo",
     "date_published": "2106-02-07T06:28:15Z"},
    {"id": "5", "url": "https://harbour.example.org/news/untitled",
     "content_text": "A microblog post with no title."},
    "not an object"
  ]
}"""


def test_json_feed_is_read_like_rss_and_atom(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    source = SourceConfig(name="up", kind="feed", location="feed.json")
    now = datetime(2026, 3, 4, tzinfo=UTC)
    from digest.sources.feed import parse_feed

    items = parse_feed(JSON_FEED_11.encode(), source, settings, "feed.json", None, now)
    assert [(i.title, i.url, i.undated) for i in items] == [
        ("Dredging & survey work", "https://harbour.example.org/news/dredging", False),
        ("Coverage elsewhere", "https://other.example.com/story", False),
        ("No date", "https://harbour.example.org/news/undated", True),
        ("Year typo", "https://harbour.example.org/news/ahead", True),
    ]
    first, second, third, ahead = items
    assert first.published == datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    assert first.type == "press-releases" and first.categories == ("Press Release", "Port")
    assert first.summary == "The channel is deepened." and second.summary == "A long read."
    assert third.summary == "Plain text." and third.key == "3"
    assert ahead.published.year == 2026
    assert "entry 4 'Year typo': date 2106-02-07 is more than a day in the future" in caplog.text
    assert "item 5 has no title" in caplog.text and "item 6 is not a JSON object" in caplog.text


def test_json_feed_10_by_file_name(tmp_path: Path, settings: Settings) -> None:
    feed = tmp_path / "feed.json"
    feed.write_text(
        '{"version": "https://jsonfeed.org/version/1", "title": "T", "items": [{"id": 1,'
        ' "url": "https://e.org/1", "title": "One", "date_published": "2026-03-01T00:00:00Z"}]}'
    )
    items = read_path(str(feed), settings)
    assert [(i.title, i.key, i.published.date().isoformat()) for i in items] == [
        ("One", "1", "2026-03-01")
    ]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b'{"title": "no version", "items": []}', "not a JSON Feed"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": 3}', '"items" array'),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', "line 1, column"),
    ],
)
def test_bad_json_feed_says_why(settings: Settings, document: bytes, message: str) -> None:
    with pytest.raises(SourceError, match=re.escape(message)):
        parse_document(document, "feed", settings, "up.json")


def test_rss_date_far_ahead_is_refused(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    rss = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        b"<item><title>Pinned</title><link>https://e.org/1</link>"
        b"<pubDate>Sun, 07 Feb 2106 06:28:15 GMT</pubDate></item>"
        b"<item><title>Tomorrow morning</title><link>https://e.org/2</link>"
        b"<pubDate>Wed, 04 Mar 2026 06:00:00 GMT</pubDate></item></channel></rss>"
    )
    from digest.sources.feed import parse_feed

    source = SourceConfig(name="up", kind="feed", location="f.xml")
    now = datetime(2026, 3, 3, 12, tzinfo=UTC)
    items = parse_feed(rss, source, settings, "f.xml", None, now)
    assert [(i.title, i.undated) for i in items] == [("Pinned", True), ("Tomorrow morning", False)]
    assert "entry 1 'Pinned': date 2106-02-07 is more than a day in the future" in caplog.text


def _listing_page(number: int, pager: str) -> bytes:
    """Page `number` of a paginated listing: three dated items and the given pager."""
    rows = "".join(
        f'<div class="views-row"><h3><a href="/news/p{number}-{n}">Story {n} of page {number}'
        f'</a></h3><div class="date">March {28 - number * 3 - n}, 2015</div></div>'
        for n in range(3)
    )
    return (
        f"<html><head><title>News</title>{pager if '<link' in pager else ''}</head><body><main>"
        f'<h1>News</h1><div class="view-content">{rows}</div>'
        f"{'' if '<link' in pager else pager}</main></body></html>"
    ).encode()


PAGERS = {
    "/news/": '<link rel="next" href="/news/?page=1">',
    "/news/?page=1": '<div class="nav-previous"><a href="/news/?page=2">← Older posts</a></div>',
    "/news/?page=2": '<ul class="pagination"><li><a href="/news/?page=1">2</a></li>'
    '<li class="active"><span>3</span></li><li><a href="/news/?page=3">4</a></li></ul>',
    "/news/?page=3": '<nav class="pager"><a href="/news/?page=4" aria-label="Next page">›</a>'
    "</nav>",
    "/news/?page=4": '<a href="/news/?page=5" class="next">Next page</a>',
    "/news/?page=5": '<a href="/news/?page=6">Weiter</a>',
}


class _Paged(BaseHTTPRequestHandler):
    requests: ClassVar[list[tuple[str, str]]] = []

    def do_GET(self) -> None:
        type(self).requests.append((self.path, self.headers.get("User-Agent") or ""))
        if self.path not in PAGERS:
            self.send_error(404)
            return
        number = 1 if self.path == "/news/" else int(self.path.rsplit("=", 1)[1]) + 1
        body = _listing_page(number, PAGERS[self.path])
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("ETag", '"p1"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def paged_server() -> Iterator[str]:
    _Paged.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Paged)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_first_read_backfills_pagination_later_polls_read_page_one(
    paged_server: str, settings: Settings, engine: Engine
) -> None:
    """The first read follows rel=next, "Older posts", a numbered pager and an arrow named
    "Next page" up to backfill_pages (5) pages, one request at a time, asking robots.txt
    once, naming the program and the site in its User-Agent; the next poll asks for the
    first page only."""
    source = SourceConfig("web", "html", paged_server + "/news/", follow=False)
    assert source.backfill_pages == 5
    settings = replace(settings, sources=(source,))
    first = actions.ingest_sources(engine, settings, now=datetime(2026, 11, 1, tzinfo=UTC))
    assert [path for path, _ in _Paged.requests] == [
        "/news/",
        "/robots.txt",
        "/news/?page=1",
        "/news/?page=2",
        "/news/?page=3",
        "/news/?page=4",
    ]
    assert first.total.new == 15
    agent = _Paged.requests[0][1]
    assert agent.startswith("newsroom-digest/") and settings.base_url in agent
    _Paged.requests = []
    actions.ingest_sources(engine, settings, now=datetime(2026, 11, 2, tzinfo=UTC))
    assert [path for path, _ in _Paged.requests] == ["/news/"]


def test_backfill_pages_setting_and_a_failing_page(
    paged_server: str, settings: Settings, engine: Engine
) -> None:
    """backfill_pages = 1 reads one page; a page that fails stops the backfill and keeps
    what was read."""
    one = SourceConfig("one", "html", paged_server + "/news/", backfill_pages=1)
    read = read_source(one, settings, first_read=True)
    assert len(read.items) == 3 and len(_Paged.requests) == 1
    PAGERS_BROKEN = dict(PAGERS)
    PAGERS_BROKEN["/news/?page=1"] = '<a href="/news/missing">Older posts</a>'
    _Paged.requests = []
    original = dict(PAGERS)
    PAGERS.update(PAGERS_BROKEN)
    try:
        read = read_source(
            SourceConfig("w", "html", paged_server + "/news/"), settings, first_read=True
        )
    finally:
        PAGERS.update(original)
    assert len(read.items) == 6
    assert read.errors and "HTTP 404" in read.errors[0]


def test_backfill_pages_is_checked(tmp_path: Path) -> None:
    text = (ROOT / "config/digest.toml").read_text()
    text = text.replace(
        'location = "config/newsroom/archive.html"',
        'location = "config/newsroom/archive.html"\nbackfill_pages = 0',
        1,
    )
    path = tmp_path / "digest.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="backfill_pages"):
        load_settings({"DIGEST_CONFIG": str(path)})
