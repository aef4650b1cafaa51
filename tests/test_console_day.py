"""A press officer's day in the console over HTTP: each page says what it did and does
what it says (embargo set and lift, correction of the text, this week's digest, an alert
sent once, the approval told to the people concerned, the dashboard's mailings, the item
picker's search)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import Engine

from digest import actions, staff
from digest.config import Settings
from digest.model import Item, Subscriber
from digest.store import upsert_items
from digest.subscribers import add_subscriber
from digest.web import create_app

from .helpers import SMTPRecorder, csrf_of, serve, wait_for

PASSWORD = "correct horse battery"
NOW = datetime.now(UTC).replace(microsecond=0)
KEY = "https://harbourlight.example/newsroom/grant"
TITLE = "Council Grants $50 Million"
Server = tuple[SMTPRecorder, int]


@pytest.fixture
def live(settings: Settings, smtp_server: Server) -> Settings:
    _, port = smtp_server
    return replace(
        settings,
        secret_key="console-day-test",
        smtp_url=f"smtp://127.0.0.1:{port}",
        sender=replace(settings.sender, rate=1000.0),
        breaking=replace(settings.breaking, undo_seconds=0, approval=False),
    )


def make_account(engine: Engine, email: str, name: str, role: str) -> None:
    _, token = staff.add_staff(engine, email, name, role, datetime.now(UTC))
    staff.set_password_with_token(engine, token, PASSWORD, datetime.now(UTC))


@contextmanager
def console(engine: Engine, settings: Settings, age: timedelta = timedelta(0)) -> Iterator[str]:
    grant = Item(
        key=KEY,
        title=TITLE,
        summary="A $50 million grant for the harbour wall.",
        published=NOW - timedelta(hours=2) - age,
        type="press-releases",
        source="t",
        url=KEY,
    )
    other = Item(
        key=KEY + "-2",
        title="Seabird Count Rises",
        summary="Terns and gulls on the north spit.",
        published=NOW - timedelta(hours=3) - age,
        type="updates",
        source="t",
        url=KEY + "-2",
    )
    upsert_items(engine, [grant, other], NOW - timedelta(hours=1))
    for n in range(3):
        add_subscriber(engine, Subscriber(email=f"desk{n}@example.org"), NOW)
    make_account(engine, "ed@example.org", "Ed Itor", "editor")
    make_account(engine, "sam@example.org", "Sam Sender", "sender")
    make_account(engine, "sue@example.org", "Sue Sender", "sender")
    with serve(create_app(settings, engine)) as base_url:
        # the web process writes its folder in the background on the first request
        home = base_url.rstrip("/") + "/"
        wait_for(lambda: httpx.get(home, timeout=60).status_code == 200)
        yield base_url


@contextmanager
def signed_in(base_url: str, email: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=60) as client:
        form = client.get("/admin/signin")
        data = {"csrf": csrf_of(form.text), "email": email, "password": PASSWORD}
        assert client.post("/admin/signin", data=data).status_code == 303
        yield client


def post(client: httpx.Client, path: str, page: str, **fields: str) -> httpx.Response:
    return client.post(path, data={"csrf": csrf_of(client.get(page).text), **fields})


BREAKING = "/admin/breaking?item=" + quote(KEY, safe="")


def test_embargo_says_what_happens_and_takes_the_item_off_every_page_at_once(
    engine: Engine, live: Settings
) -> None:
    with console(engine, live) as base_url, signed_in(base_url, "ed@example.org") as client:
        assert TITLE in client.get("/feeds/all.atom").text, "published by the web process"
        assert TITLE in client.get("/").text
        month = NOW.astimezone(live.timezone).strftime("%Y-%m")
        archives = (f"/news/{month}/", f"/news/press-releases/{month}/")
        for path in archives:
            assert TITLE in client.get(path).text, f"{path} lists it before the embargo"
        until = (NOW + timedelta(days=2)).astimezone(live.timezone)
        done = post(
            client,
            "/admin/items/embargo",
            BREAKING,
            item=KEY,
            until=until.strftime("%Y-%m-%dT%H:%M"),
        )
        assert done.status_code == 200
        notice = done.text.split('id="notice">')[1].split("</p>")[0]
        assert "Embargo set" in notice and "off the home page" in notice
        assert f"{until.day} {until:%b}, {until:%H:%M}" in notice, "says when it comes back"
        for path in ("/feeds/all.atom", "/feeds/press-releases.atom", "/", "/news/", *archives):
            assert TITLE not in client.get(path).text, f"{path} still shows it"

        asked = post(client, "/admin/items/embargo", BREAKING, item=KEY, action="lift")
        assert "This cannot be undone" in asked.text and "Yes, lift it now" in asked.text
        assert TITLE not in client.get("/").text, "nothing is lifted before yes"
        lifted = post(
            client, "/admin/items/embargo", BREAKING, item=KEY, action="lift", confirm="yes"
        )
        assert "Embargo lifted" in lifted.text and "back on the home page" in lifted.text
        assert TITLE in client.get("/feeds/all.atom").text
        assert TITLE in client.get("/").text


def test_the_correction_form_amends_the_text_and_shows_the_history(
    engine: Engine, live: Settings
) -> None:
    with console(engine, live) as base_url, signed_in(base_url, "ed@example.org") as client:
        client.get("/feeds/all.atom")
        page = client.get(BREAKING).text
        assert 'id="title"' in page and TITLE in page and 'id="summary"' in page
        done = post(
            client,
            "/admin/items/correction",
            BREAKING,
            item=KEY,
            note="$15 million, not $50 million.",
            title="Council Grants $15 Million",
            summary="A $15 million grant for the harbour wall.",
        )
        assert done.status_code == 200 and "Correction saved" in done.text
        history = done.text.split('id="amendments"')[1].split("</table>")[0]
        assert "Ed Itor (ed@example.org)" in history
        assert TITLE in history and "Council Grants $15 Million" in history
        atom = client.get("/feeds/all.atom").text
        assert "Council Grants $15 Million" in atom and TITLE not in atom
        assert "Corrected" in client.get("/").text
        empty = post(client, "/admin/items/correction", BREAKING, item=KEY, note=" ")
        assert empty.status_code == 400 and "needs a note" in empty.text


def test_this_weeks_digest_never_says_both(engine: Engine, live: Settings) -> None:
    with console(engine, live) as base_url, signed_in(base_url, "ed@example.org") as client:
        actions.add_correction(engine, KEY, "The grant is $15 million.", "Alice")
        page = client.get("/admin/digest").text
        assert "no digest will go out" not in page
        assert "1 correction will be listed in it" in page
        assert "The grant is $15 million." in client.get("/admin/digest/preview").text


def test_a_quiet_week_says_the_correction_waits(engine: Engine, live: Settings) -> None:
    with (
        console(engine, live, age=timedelta(days=90)) as base_url,
        signed_in(base_url, "ed@example.org") as client,
    ):
        actions.add_correction(engine, KEY, "The grant is $15 million.", "Alice")
        quiet = client.get("/admin/digest").text
    assert "no digest will go out" in quiet and "will be listed" not in quiet
    assert "1 correction waits for the next digest that does" in quiet


def test_an_alert_goes_once_and_its_page_says_when_and_to_how_many(
    engine: Engine, live: Settings, smtp_server: Server
) -> None:
    recorder, _ = smtp_server
    with console(engine, live) as base_url, signed_in(base_url, "sam@example.org") as client:
        page = client.get(BREAKING).text
        sent = post(client, "/admin/breaking/send", BREAKING, item=KEY, confirm_count="3")
        assert sent.status_code == 303
        mailing = sent.headers["location"]
        wait_for(lambda: "done" in client.get(mailing).text)
        heading = client.get(mailing).text.split("<h1>")[1].split("</h1>")[0]
        assert heading.count("Breaking") == 1, heading
        page = client.get(BREAKING).text
        assert "already sent at" in page and "to 3 recipients" in page
        assert 'id="send-button"' not in page
        again = post(client, "/admin/breaking/send", BREAKING, item=KEY, confirm_count="3")
        assert again.status_code == 400 and "already sent at" in again.text
    assert len(recorder.messages) == 3


def test_the_undo_window_is_named(engine: Engine, live: Settings) -> None:
    held = replace(live, breaking=replace(live.breaking, undo_seconds=300))
    with console(engine, held) as base_url, signed_in(base_url, "sam@example.org") as client:
        sent = post(client, "/admin/breaking/send", BREAKING, item=KEY, confirm_count="3")
        state = client.get(sent.headers["location"]).text.split('id="state">')[1].split("<")[0]
        assert state.startswith("in undo window (goes at "), state


def test_approval_tells_the_senders_and_then_the_requester(
    engine: Engine, live: Settings, smtp_server: Server
) -> None:
    recorder, _ = smtp_server
    guarded = replace(live, breaking=replace(live.breaking, approval=True))
    with console(engine, guarded) as base_url:
        with signed_in(base_url, "ed@example.org") as editor:
            asked = post(editor, "/admin/breaking/send", BREAKING, item=KEY, confirm_count="3")
            mailing = asked.headers["location"]
        wait_for(lambda: len(recorder.messages) == 2)
        told = {m["To"]: m for m in recorder.parsed()}
        assert set(told) == {"sam@example.org", "sue@example.org"}
        notice = told["sam@example.org"]
        assert notice["Subject"].startswith("Approval needed: ")
        assert mailing.lstrip("/") in notice.get_content() and "Ed Itor" in notice.get_content()
        with signed_in(base_url, "sam@example.org") as sender:
            dashboard = sender.get("/admin").text
            waiting = dashboard.split('id="awaiting"')[1].split("</section>")[0]
            assert "your approval is needed" in waiting and "Ed Itor" in waiting
            assert sender.post(
                mailing + "/approve", data={"csrf": csrf_of(sender.get(mailing).text)}
            ).status_code in (200, 303)
        wait_for(lambda: any(m["To"] == "ed@example.org" for m in recorder.parsed()))
        decided = next(m for m in recorder.parsed() if m["To"] == "ed@example.org")
        assert decided["Subject"].startswith("Alert approved: ")
        assert "Sam Sender" in decided.get_content()


def test_the_dashboard_lists_one_person_mails_apart(engine: Engine, live: Settings) -> None:
    with console(engine, live) as base_url:
        for n in range(4):
            actions.subscribe(engine, live, Subscriber(email=f"new{n}@example.org"))
        with signed_in(base_url, "sam@example.org") as client:
            page = client.get("/admin").text
    listed = page.split('id="mailings"')[1].split("</table>")[0]
    assert "confirm:" not in listed and "welcome:" not in listed
    assert "4 confirmation and welcome emails today" in page


def test_the_item_picker_searches_by_words(engine: Engine, live: Settings) -> None:
    with console(engine, live) as base_url, signed_in(base_url, "ed@example.org") as client:
        page = client.get("/admin/breaking", params={"q": "north TERNS"}).text
        options = page.split('<select id="item"')[1].split("</select>")[0]
        assert "Seabird Count Rises" in options and TITLE not in options
        assert "1 found" in page
        nothing = client.get("/admin/breaking", params={"q": "volcano"}).text
        assert "No item matches" in nothing
