"""The console's side of sending under embargo: an admin (only) marks trusted contacts and
their groups, the press list filters them, a sender sends an embargoed item from the button
beside its embargo (after a test), and the send is accounted for: who received it, which
private links were opened and when (no IP address), a link revoked from its row."""

from __future__ import annotations

import re
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
from digest.store import audit_log, upsert_items
from digest.subscribers import add_subscriber
from digest.web import create_app

from .helpers import SMTPRecorder, csrf_of, serve, wait_for

PASSWORD = "correct horse battery"
KEY = "https://harbourlight.example/newsroom/court-filing/"
PRIVATE = re.compile(r"https?://[^\s\"<>]+/(embargoed/[0-9]+\.[0-9]+\.[A-Za-z0-9_-]+/)")


@pytest.fixture
def console_settings(settings: Settings, smtp_server: tuple[SMTPRecorder, int]) -> Settings:
    _, port = smtp_server
    return replace(
        settings,
        secret_key="embargo-console",
        smtp_url=f"smtp://127.0.0.1:{port}",
        sender=replace(settings.sender, rate=1000.0),
        breaking=replace(settings.breaking, undo_seconds=0),
    )


@pytest.fixture
def site(engine: Engine, console_settings: Settings) -> Iterator[str]:
    now = datetime.now(UTC)
    item = Item(key=KEY, title="Court Filing <b>", published=now, type="reports", source="t")
    upsert_items(engine, [item], now)
    actions.embargo_item(engine, KEY, now + timedelta(days=2), "Alice")
    for email in ("ana@paper.example", "ben@wire.example", "cleo@radio.example"):
        add_subscriber(engine, Subscriber(email=email, name=email.split("@")[0].title()), now)
    for email, name, role in (
        ("ed@example.org", "Ed Itor", "editor"),
        ("sam@example.org", "Sam Sender", "sender"),
        ("ada@example.org", "Ada Admin", "admin"),
    ):
        _, token = staff.add_staff(engine, email, name, role, now)
        staff.set_password_with_token(engine, token, PASSWORD, now)
    with serve(create_app(console_settings, engine)) as base_url:
        yield base_url


@contextmanager
def signed_in(base_url: str, email: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url) as client:
        form = client.get("/admin/signin")
        data = {"csrf": csrf_of(form.text), "email": email, "password": PASSWORD}
        assert client.post("/admin/signin", data=data).status_code == 303
        yield client


def post(client: httpx.Client, path: str, page: str, **fields: str) -> httpx.Response:
    return client.post(path, data={"csrf": csrf_of(client.get(page).text), **fields})


def trust(client: httpx.Client, email: str, groups: str = "") -> httpx.Response:
    page = f"/admin/press?edit={quote(email)}"
    fields = {"email": email, "name": email[:3], "weekly": "on", "breaking": "on"}
    fields |= {"embargo-shown": "1", "embargo": "on", "groups": groups}
    for slug in ("reports", "updates", "statements", "releases"):
        fields[f"type-{slug}"] = "on"
    return post(client, "/admin/press/save", page, **fields)


def test_only_an_admin_sets_trust_and_the_list_filters_it(site: str, engine: Engine) -> None:
    with signed_in(site, "sam@example.org") as sender:
        assert sender.get("/admin/press").status_code == 403
        refused = sender.post("/admin/press/save", data={"email": "ana@paper.example"})
        assert refused.status_code in (403, 400)
    assert actions.find_contact(engine, "ana@paper.example").embargo is False
    with signed_in(site, "ada@example.org") as admin:
        assert trust(admin, "ana@paper.example", "Courts; health").status_code == 303
        listed = admin.get("/admin/press?status=trusted").text
        assert "ana@paper.example" in listed and "ben@wire.example" not in listed
        assert "embargo: Courts; health" in listed
    found = actions.find_contact(engine, "ana@paper.example")
    assert found.embargo is True and found.groups == ("Courts", "health")
    details = [e["detail"] for e in audit_log(engine) if e["action"] == "press list edit"]
    assert any("ana@paper.example (trusted with embargoed material)" in d for d in details)


def test_a_sender_sends_under_embargo_and_sees_who_opened_it(
    site: str, engine: Engine, smtp_server: tuple[SMTPRecorder, int]
) -> None:
    recorder, _ = smtp_server
    page = f"/admin/breaking?item={quote(KEY, safe='')}"
    with signed_in(site, "ada@example.org") as admin:
        trust(admin, "ana@paper.example", "Courts")
        trust(admin, "ben@wire.example")
    with signed_in(site, "ed@example.org") as editor:
        shown = editor.get(page).text
        assert 'id="trusted-count">2<' in shown and 'id="embargo-send"' not in shown
        assert post(editor, "/admin/embargo/send", page, item=KEY).status_code == 403
    with signed_in(site, "sam@example.org") as sender:
        assert 'id="embargo-send"' in sender.get(page).text
        tested = post(sender, "/admin/embargo/test", page, item=KEY, address="sam@example.org")
        assert "Embargoed test sent" in tested.text
        assert [r for _, r, _ in recorder.messages] == [["sam@example.org"]]
        sent = post(sender, "/admin/embargo/send", page, item=KEY, confirm_count="2")
        assert sent.status_code == 303 and sent.headers["location"].startswith("/admin/mailings/")
        mailing_id = int(sent.headers["location"].rsplit("/", 1)[1])
        watched = sender.get(sent.headers["location"])
        assert watched.status_code == 200 and f"/admin/embargo/{mailing_id}" in watched.text
        wait_for(lambda: len(recorder.messages) == 3)
        assert sorted(r[0] for _, r, _ in recorder.messages[1:]) == [
            "ana@paper.example",
            "ben@wire.example",
        ]
        links = {}
        for message, (_, rcpt, _) in zip(recorder.parsed()[1:], recorder.messages[1:], strict=True):
            links[rcpt[0]] = PRIVATE.search(message.get_body(("plain",)).get_content())[1]
        assert sender.get("/" + links["ana@paper.example"]).status_code == 200
        assert "Court Filing &lt;b&gt;" in sender.get("/" + links["ana@paper.example"]).text

        account = sender.get(f"/admin/embargo/{mailing_id}").text
        assert "opened 2×" in account and "not opened" in account
        assert "127.0.0.1" not in account, "no IP address is kept or shown"
        assert f'href="/admin/embargo/{mailing_id}"' in sender.get("/admin/embargo").text
        assert f"/admin/embargo/{mailing_id}" in sender.get(page).text
        where = f"/admin/embargo/{mailing_id}"
        asked = post(sender, f"{where}/revoke", where, email="ana@paper.example")
        assert (
            asked.status_code == 303 and "revoke=ana%40paper.example" in asked.headers["location"]
        )
        assert "cannot be undone" in sender.get(asked.headers["location"]).text
        assert sender.get("/" + links["ana@paper.example"]).status_code == 200, "not before yes"
        revoked = post(sender, f"{where}/revoke", where, email="ana@paper.example", confirm="yes")
        assert revoked.status_code == 303
        assert sender.get("/" + links["ana@paper.example"]).status_code == 404
        assert "revoked" in sender.get(f"/admin/embargo/{mailing_id}").text
        assert sender.get("/admin/embargo/99999").status_code == 404
        again = post(sender, "/admin/embargo/send", page, item=KEY, confirm_count="2")
        assert again.headers["location"] == f"/admin/mailings/{mailing_id}", "asked once"
    actions_seen = {e["action"] for e in audit_log(engine)}
    assert {"embargo send request", "breaking test", "embargo link revoked"} <= actions_seen
