"""Numbers read from requests one way (ASCII digits, bounded, a default): no query string makes
a GET route that reads a number answer 5xx (issue 17: ?page=%C2%B2 was a 500)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from digest import actions
from digest.config import Settings
from digest.store import connect, create_schema
from digest.web import create_app
from digest.web.forms import whole_number

NUMBER_ROUTES = ["/search"]
NUMBER_PARAMS = ["page", "q"]
SLOW = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
digits = st.text(alphabet="0123456789\u0660\u00b2\u0967\uff11-+ .e_", max_size=40)


@pytest.fixture
def app(settings: Settings) -> Iterator[object]:
    engine: Engine = connect(settings.database_url)
    create_schema(engine)
    actions.publish(engine, settings)
    yield create_app(settings, engine)
    engine.dispose()


async def status_of(app: object, path: str, query: bytes) -> int:
    """The status the app answers a GET of `path` with this raw query string."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"127.0.0.1:8000")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    statuses: list[int] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(int(message["status"]))  # type: ignore[arg-type]

    await app(scope, receive, send)  # type: ignore[operator]
    return statuses[0]


def test_a_unicode_superscript_page_number_is_not_a_500(app: object) -> None:
    assert asyncio.run(status_of(app, "/search", b"q=harbour&page=%C2%B2")) == 200
    assert asyncio.run(status_of(app, "/search", "page=²".encode())) == 200


@hypothesis_settings(max_examples=200, deadline=None, suppress_health_check=SLOW)
@given(
    route=st.sampled_from(NUMBER_ROUTES),
    values=st.dictionaries(
        st.sampled_from(NUMBER_PARAMS), st.one_of(digits, st.text()), max_size=2
    ),
    raw=st.binary(max_size=100),
)
def test_any_query_string_on_a_route_that_reads_numbers_is_answered(
    app: object, route: str, values: dict[str, str], raw: bytes
) -> None:
    query = "&".join(f"{k}={quote(v, errors='surrogatepass')}" for k, v in values.items())
    for sent in (query.encode(), raw):
        assert asyncio.run(status_of(app, route, sent)) < 500, sent


@given(raw=st.one_of(digits, st.text(), st.none()))
def test_whole_number_reads_ascii_digits_only_within_bounds(raw: str | None) -> None:
    number = whole_number(raw, 7, low=1, high=500)
    assert 1 <= number <= 500
    if raw is None or not (raw.isascii() and raw.isdigit()) or len(raw) > 15:
        assert number == 7
    else:
        assert number == min(max(int(raw), 1), 500)
