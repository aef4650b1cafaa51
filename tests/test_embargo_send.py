"""Sending under embargo (issue 22): trusted contacts get an item before its lift, each with a
private link of their own, while nothing public carries it; moving or lifting the embargo
tells them; the clock makes it public at its minute; bad input is refused."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import httpx
import pytest
from hypothesis import given
from hypothesis import settings as settings_for_hypothesis
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from digest import actions
from digest.catalog import feed_specs
from digest.config import BreakingSettings, Settings
from digest.errors import DigestError
from digest.feeds import RENDERERS
from digest.links import private_feed_link, private_link, read_feed_token, read_private_token
from digest.model import Item, Subscriber
from digest.render import lift_times
from digest.schedule import ClockProcess
from digest.store import audit_log, embargo_links, items_stamp, upsert_items
from digest.web import create_app

from .helpers import SMTPRecorder, report_item, run, serve, subscribe

Server = tuple[SMTPRecorder, int]
SECRET = "embargo-test-secret"
PRIVATE_LINK = re.compile(r"https?://[^\s\"<>]+/(embargoed/[0-9]+\.[0-9]+\.[A-Za-z0-9_-]+/)")
CSV = (
    "email,name,outlet,embargo,groups\n"
    "ana@paper.example,Ana Reyes,Paper,yes,health reporters\n"
    "ben@wire.example,Ben Okafor,Wire,YES,\n"
    "cleo@radio.example,Cleo Park,Radio,no,\n"
    "dev@blog.example,Dev Shah,Blog,,\n"
)


@pytest.fixture
def press(settings: Settings, smtp_server: Server, tmp_path: Path) -> Settings:
    _, port = smtp_server
    return replace(
        settings,
        smtp_url=f"smtp://127.0.0.1:{port}",
        secret_key=SECRET,
        sender=replace(settings.sender, rate=1000.0, connections=1, outbox=tmp_path / "outbox"),
        breaking=BreakingSettings(undo_seconds=0),
    )


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def cli(engine: Engine, tmp_path: Path, port: int, *args: str):
    """The `digest` command on this store, its relay and secret."""
    return run(
        *args,
        tmp_path=tmp_path,
        DATABASE_URL=url_of(engine),
        SMTP_URL=f"smtp://127.0.0.1:{port}",
        SECRET_KEY=SECRET,
        DIGEST_BREAKING_UNDO_SECONDS="0",
    )


def private_paths(recorder: SMTPRecorder) -> dict[str, str]:
    """Each recipient's private link path, from the mail they received."""
    found = {}
    for message, (_, rcpt, _) in zip(recorder.parsed(), recorder.messages, strict=True):
        text = message.get_body(("plain",)).get_content()
        match = PRIVATE_LINK.search(text)
        if match:
            found[rcpt[0]] = match[1]
    return found


def public_texts(web: httpx.Client, settings: Settings) -> dict[str, str]:
    """The home page, the archive, search and every feed in every format."""
    paths = ["/", "/news/", "/news/reports/", "/search?q=Tidal", "/feeds.opml", "/digests/"]
    paths += ["/" + spec.path(fmt) for spec in feed_specs(settings) for fmt in RENDERERS]
    return {path: web.get(path).text for path in paths}


def two_changed(token_path: str) -> str:
    """The same private path with two characters of its signature changed."""
    head, signature = token_path.rstrip("/").rsplit(".", 1)
    swapped = "".join("B" if c == "A" else "A" for c in signature[:2]) + signature[2:]
    return f"{head}.{swapped}/"


def test_done_when_two_trusted_contacts_get_it_and_nothing_public_has_it(
    engine: Engine, press: Settings, smtp_server: Server, tmp_path: Path
) -> None:
    recorder, port = smtp_server
    (tmp_path / "press.csv").write_text(CSV, encoding="utf-8")
    imported = cli(engine, tmp_path, port, "subscribers", "import", str(tmp_path / "press.csv"))
    assert imported.returncode == 0, imported.stderr
    assert "4 added" in imported.stdout and "2 trusted" in imported.stdout
    now = datetime.now(UTC)
    item = report_item("Tidal Energy Report", now - timedelta(hours=1))
    upsert_items(engine, [item], now)
    lift = (now + timedelta(days=3)).astimezone(press.timezone).replace(second=0, microsecond=0)
    embargoed = cli(
        engine, tmp_path, port, "items", "embargo", item.key, "--until", f"{lift:%Y-%m-%d %H:%M}"
    )
    assert embargoed.returncode == 0, embargoed.stderr

    sent = cli(engine, tmp_path, port, "breaking", item.key, "--under-embargo", "--yes")
    assert sent.returncode == 0, sent.stderr
    assert "recipients: 2 trusted contacts" in sent.stdout
    assert sorted(rcpt[0] for _, rcpt, _ in recorder.messages) == [
        "ana@paper.example",
        "ben@wire.example",
    ]
    local, utc = lift_times(press, lift)
    for message in recorder.parsed():
        assert "embargoed" in message["Subject"].lower()
        assert local in message["Subject"]
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert local in text and utc in text and press.breaking.embargo_terms[:40] in text
        assert "embargoed" in text.lower() and item.title in html
    paths = private_paths(recorder)
    assert set(paths) == {"ana@paper.example", "ben@wire.example"}
    assert len(set(paths.values())) == 2, "each recipient has a link of their own"

    actions.publish_feeds(engine, press)
    with serve(create_app(press, engine)) as base, httpx.Client(base_url=base) as web:
        own = web.get("/" + paths["ana@paper.example"])
        assert own.status_code == 200 and item.title in own.text
        assert own.headers["cache-control"] == "private, no-store"
        assert "noindex" in own.headers["x-robots-tag"]
        assert '<meta name="robots" content="noindex' in own.text
        assert local in own.text and utc in own.text
        assert web.get("/" + two_changed(paths["ana@paper.example"])).status_code == 404
        ana_id, ben_id = (p.split("/")[1].split(".")[1] for p in paths.values())
        forged = paths["ana@paper.example"].replace(f".{ana_id}.", f".{ben_id}.")
        assert web.get("/" + forged).status_code == 404, "a token is bound to its recipient"
        for path, text in public_texts(web, press).items():
            assert item.title not in text, f"{path} shows the embargoed item"
        for written in press.output_dir.rglob("*"):
            if written.is_file():
                assert item.title not in written.read_text(errors="replace"), written
        assert web.get(f"/items/{item.page or ''}").status_code in (301, 404)

    listed = cli(engine, tmp_path, port, "embargo", "list")
    mailing_id = listed.stdout.split("\t", 1)[0]
    assert listed.returncode == 0 and "EMBARGOED" in listed.stdout
    shown = cli(engine, tmp_path, port, "embargo", "show", mailing_id).stdout
    assert "ana@paper.example\tsent\topened 1×" in shown
    assert "ben@wire.example\tsent\tnot opened" in shown and "cleo" not in shown
    revoked = cli(engine, tmp_path, port, "embargo", "revoke", mailing_id, "ben@wire.example")
    assert revoked.returncode == 0, revoked.stderr
    again = cli(engine, tmp_path, port, "embargo", "revoke", mailing_id, "ben@wire.example")
    assert again.returncode == 1 and "no private link" in again.stderr


def trusted_pair(engine: Engine) -> tuple[int, int, int]:
    """Two trusted contacts (one in a group) and one who is not."""
    ana = subscribe(engine, "ana@paper.example", "Ana", embargo=True, groups=("Health",))
    ben = subscribe(engine, "ben@wire.example", "Ben", embargo=True)
    cleo = subscribe(engine, "cleo@radio.example", "Cleo", embargo=False)
    return ana, ben, cleo


def embargoed_item(engine: Engine, title: str, days: float = 3) -> tuple[Item, datetime]:
    now = datetime.now(UTC)
    item = report_item(title, now - timedelta(hours=1))
    upsert_items(engine, [item], now)
    lift = (now + timedelta(days=days)).replace(microsecond=0)
    actions.embargo_item(engine, item.key, lift, "Alice")
    return item, lift


def test_moving_lifting_revoking_the_feed_and_the_account(
    engine: Engine, press: Settings, smtp_server: Server
) -> None:
    recorder, _ = smtp_server
    trusted_pair(engine)
    item, lift = embargoed_item(engine, "Court Filing")
    mailing = actions.send_under_embargo(press, engine, item.key, "Alice")
    actions.send(engine, press)
    assert sorted(r[0] for _, r, _ in recorder.messages) == [
        "ana@paper.example",
        "ben@wire.example",
    ]
    paths = private_paths(recorder)
    assert actions.send_under_embargo(press, engine, item.key, "Alice").id == mailing.id

    with serve(create_app(press, engine)) as base, httpx.Client(base_url=base) as web:
        assert web.get("/" + paths["ana@paper.example"]).status_code == 200
        web.get("/" + paths["ana@paper.example"])
        page_text = web.get("/" + paths["ana@paper.example"]).text
        feed_path = re.search(r'href="[^"]*/(embargoed/feed/[^"]+)"', page_text)[1]
        private = feedparser.parse(web.get("/" + feed_path).text)
        assert [e.title for e in private.entries] == [
            f"EMBARGOED until {lift_times(press, lift)[0]}: {item.title}"
        ]
        assert private.entries[0].link.endswith(paths["ana@paper.example"])
        assert web.get("/" + feed_path[:-8] + "AAAA.atom").status_code == 404

        account = actions.embargo_account(engine, mailing.id)
        opened = {r.email: r for r in account.recipients}
        assert opened["ana@paper.example"].opens == 3
        assert opened["ana@paper.example"].first_opened is not None
        assert opened["ben@wire.example"].first_opened is None
        assert {c.name for c in embargo_links.columns}.isdisjoint({"ip", "address", "agent"})

        actions.revoke_private_link(engine, mailing.id, "ben@wire.example", "Alice")
        assert web.get("/" + paths["ben@wire.example"]).status_code == 404
        with pytest.raises(DigestError, match="no private link"):
            actions.revoke_private_link(engine, mailing.id, "ben@wire.example", "Alice")

        before = len(recorder.messages)
        moved = lift + timedelta(days=1)
        actions.embargo_item(engine, item.key, moved, "Alice", settings=press)
        notices = recorder.parsed()[before:]
        assert sorted(m["To"] for m in notices) == [
            "Ana <ana@paper.example>",
            "Ben <ben@wire.example>",
        ]
        local, utc = lift_times(press, moved)
        for notice in notices:
            assert notice["Subject"].startswith(f"Embargo moved to {local} ({utc})")

        before = len(recorder.messages)
        actions.embargo_item(engine, item.key, None, "Alice", settings=press)
        lifted = recorder.parsed()[before:]
        assert len(lifted) == 2 and all("lifted early" in m["Subject"] for m in lifted)
        gone = web.get("/" + paths["ana@paper.example"], follow_redirects=False)
        assert gone.status_code == 303
        page = f"/items/{actions.item_for(engine, item.key).page}/"
        assert gone.headers["location"].endswith(page)
        assert web.get(page).status_code == 200, "public now"
        assert web.get("/" + paths["ben@wire.example"]).status_code == 404, "revoked stays so"
        assert feedparser.parse(web.get("/" + feed_path).text).entries == []

    log = [entry["action"] for entry in audit_log(engine)]
    for step in ("embargo send request", "embargo link opened", "embargo link revoked"):
        assert step in log
    assert log.count("embargo notice") == 2


def test_the_alert_skips_those_who_had_it_and_the_digest_lists_it(
    engine: Engine, press: Settings, smtp_server: Server
) -> None:
    recorder, _ = smtp_server
    trusted_pair(engine)
    subscribe(engine, "dora@daily.example", "Dora")
    item, lift = embargoed_item(engine, "Health Study", days=0.00005)
    actions.send_under_embargo(press, engine, item.key, "Alice", group="health")
    actions.send(engine, press)
    assert [r[0] for _, r, _ in recorder.messages] == ["ana@paper.example"], "the group only"
    alert = actions.request_breaking(press, engine, item.key, "Alice")
    assert alert.status == "scheduled"
    time.sleep(max(0.0, (lift - datetime.now(UTC)).total_seconds()) + 0.5)
    actions.release_held(engine)
    actions.send(engine, press)
    alerts = [m for m in recorder.parsed() if m["Subject"].startswith("Breaking")]
    assert sorted(m["To"].addresses[0].addr_spec for m in alerts) == [
        "ben@wire.example",
        "cleo@radio.example",
        "dora@daily.example",
    ]
    today = datetime.now(press.timezone).date()
    actions.weekly_digest(engine, press, today)
    actions.send(engine, press)
    weekly = [m for m in recorder.parsed() if m["Subject"].startswith("Weekly")]
    assert weekly and all(item.title in m.get_body(("plain",)).get_content() for m in weekly)


def test_the_clock_lifts_at_its_minute_and_pings_websub(
    engine: Engine, press: Settings, smtp_server: Server
) -> None:
    hub_calls: list[bytes] = []

    async def hub(scope, receive, send):
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        hub_calls.append(body)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with serve(hub) as hub_url:
        settings = replace(press, websub_hub_url=hub_url + "/")
        trusted_pair(engine)
        now = datetime.now(UTC)
        item = report_item("Minute Lift", now - timedelta(hours=1))
        upsert_items(engine, [item], now)
        lift = now + timedelta(seconds=3)
        actions.embargo_item(engine, item.key, lift, "Alice")
        actions.send_under_embargo(settings, engine, item.key, "Alice")
        actions.publish_feeds(engine, settings)
        clock = ClockProcess(settings, engine, holder="test-clock")
        clock.run_due()
        all_atom = settings.output_dir / "feeds" / "all.atom"
        assert item.title not in all_atom.read_text()
        hub_calls.clear()
        time.sleep(max(0.0, (lift - datetime.now(UTC)).total_seconds()) + 0.2)
        clock.run_due()
        assert item.title in all_atom.read_text()
        deadline = time.monotonic() + 10
        while not hub_calls and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any(b"hub.mode=publish" in call for call in hub_calls)

    minute = datetime(2026, 12, 8, 0, 1, tzinfo=UTC)
    clock.start()
    try:
        trigger = clock.scheduler.get_job("sweep").trigger
        fires = trigger.get_next_fire_time(None, minute - timedelta(seconds=40))
        assert fires == minute, "the sweep runs at the start of each minute"
    finally:
        clock.stop()
    assert items_stamp(engine) is not None


def test_bad_input_is_refused(
    engine: Engine, press: Settings, smtp_server: Server, tmp_path: Path
) -> None:
    recorder, port = smtp_server
    now = datetime.now(UTC)
    open_item = report_item("Open Item", now - timedelta(hours=1))
    upsert_items(engine, [open_item], now)
    no_embargo = cli(engine, tmp_path, port, "breaking", open_item.key, "--under-embargo", "--yes")
    assert no_embargo.returncode == 1 and "not under embargo" in no_embargo.stderr
    item, _ = embargoed_item(engine, "Nobody Trusted")
    subscribe(engine, "cleo@radio.example", "Cleo")
    nobody = cli(engine, tmp_path, port, "breaking", item.key, "--under-embargo", "--yes")
    assert nobody.returncode == 1 and "no contact is trusted" in nobody.stderr
    assert recorder.messages == []
    past = cli(engine, tmp_path, port, "items", "embargo", item.key, "--until", "2020-01-01 00:01")
    assert past.returncode == 1 and "in the past" in past.stderr
    trusted_pair(engine)
    unknown = cli(
        engine, tmp_path, port, "breaking", item.key, "--under-embargo", "--group", "Sport"
    )
    assert unknown.returncode == 1 and "Health" in unknown.stderr
    with pytest.raises(DigestError, match="not on the press list"):
        actions.trust_contact(engine, "nobody@example.org", True, "Alice")
    with pytest.raises(actions.Forbidden):
        editor = actions.Actor("Ed", frozenset({"prepare", "send"}), "sender", "ed@example.org")
        actions.trust_contact(engine, "cleo@radio.example", True, editor)
    with serve(create_app(press, engine)) as base, httpx.Client(base_url=base) as web:
        for token in ("1.1.x", "../../etc", "9" * 13 + ".1." + "A" * 43, "1.1." + "A" * 43):
            assert web.get(f"/embargoed/{token}/").status_code == 404
        assert web.get("/embargoed/feed/1." + "A" * 43 + ".atom").status_code == 404
    with engine.connect() as conn:
        assert conn.execute(select(embargo_links)).all() == []


def test_trust_is_set_only_by_an_admin_and_audited(engine: Engine, press: Settings) -> None:
    subscribe(engine, "cleo@radio.example", "Cleo")
    actions.save_contact(engine, "Alice", Subscriber("cleo@radio.example", "Cleo"))
    assert actions.find_contact(engine, "cleo@radio.example").embargo is False
    actions.trust_contact(engine, "cleo@radio.example", True, "Alice", ("Courts",))
    found = actions.find_contact(engine, "cleo@radio.example")
    assert found.embargo is True and found.groups == ("Courts",)
    assert [s.email for s in actions.contacts(engine, "trusted")] == ["cleo@radio.example"]
    actions.save_contact(engine, "Alice", Subscriber("cleo@radio.example", "Cleo P."))
    assert actions.find_contact(engine, "cleo@radio.example").embargo is True, "kept"
    assert actions.trusted_groups(engine) == ["Courts"]
    details = [e["detail"] for e in audit_log(engine)]
    assert "cleo@radio.example: trusted, groups: Courts" in details


def test_the_undo_window_and_approval_hold_it_as_any_alert(
    engine: Engine, press: Settings, smtp_server: Server
) -> None:
    recorder, _ = smtp_server
    trusted_pair(engine)
    item, _ = embargoed_item(engine, "Guarded Report")
    guarded = replace(press, breaking=BreakingSettings(undo_seconds=120))
    held = actions.send_under_embargo(guarded, engine, item.key, "Alice")
    assert held.status == "scheduled"
    actions.send(engine, press)
    assert recorder.messages == [], "nothing leaves in the undo window"
    actions.cancel_mailing(engine, held.id, "Alice")
    actions.release_held(engine, datetime.now(UTC) + timedelta(seconds=121))
    actions.send(engine, press)
    assert recorder.messages == [], "a cancelled send never goes"

    approval = replace(press, breaking=BreakingSettings(undo_seconds=0, approval=True))
    asked = actions.send_under_embargo(approval, engine, item.key, "Alice")
    assert asked.status == "awaiting approval" and asked.id != held.id
    with pytest.raises(DigestError, match="someone else must approve"):
        actions.approve_mailing(approval, engine, asked.id, "Alice")
    actions.approve_mailing(approval, engine, asked.id, "Bob")
    actions.send(engine, press)
    assert sorted(r[0] for _, r, _ in recorder.messages) == [
        "ana@paper.example",
        "ben@wire.example",
    ]
    test = actions.test_embargo_send(press, engine, item, "proofs@example.org", "Alice")
    assert test.startswith("2")
    copy = recorder.parsed()[-1]
    assert copy["To"] == "proofs@example.org" and "EMBARGOED" in copy["Subject"]


def test_a_send_still_in_its_undo_window_is_dropped_when_the_embargo_lifts(
    engine: Engine, press: Settings, smtp_server: Server
) -> None:
    recorder, _ = smtp_server
    trusted_pair(engine)
    item, _ = embargoed_item(engine, "Lifted Before It Went")
    guarded = replace(press, breaking=BreakingSettings(undo_seconds=120))
    held = actions.send_under_embargo(guarded, engine, item.key, "Alice")
    actions.embargo_item(engine, item.key, None, "Alice", settings=press)
    assert actions.mailing_progress(engine, held.id).status == "cancelled"
    actions.release_held(engine, datetime.now(UTC) + timedelta(seconds=121))
    actions.send(engine, press)
    assert recorder.messages == []
    with pytest.raises(DigestError, match="not under embargo"):
        actions.send_under_embargo(press, engine, item.key, "Alice")


@given(token=st.text(max_size=90))
@settings_for_hypothesis(max_examples=300, deadline=None)
def test_no_made_up_token_is_read(token: str) -> None:
    assert read_private_token(SECRET, token) is None
    assert read_feed_token(SECRET, token) is None


def test_every_changed_character_and_every_other_purpose_is_refused(settings: Settings) -> None:
    signed = replace(settings, secret_key=SECRET, base_url="https://press.example/")
    token = private_link(signed, 12, 34).rstrip("/").rsplit("/", 1)[1]
    assert read_private_token(SECRET, token) == (12, 34)
    alphabet = "ABCabc019_-"
    for position, char in enumerate(token):
        for other in alphabet:
            if other != char:
                changed = token[:position] + other + token[position + 1 :]
                assert read_private_token(SECRET, changed) is None, changed
    assert read_private_token("another key", token) is None
    feed = private_feed_link(signed, 34).rsplit("/", 1)[1]
    assert read_feed_token(SECRET, feed) == 34
    assert read_private_token(SECRET, feed) is None
    assert read_feed_token(SECRET, token) is None


def test_the_subject_is_in_the_newsroom_language_and_the_wording_a_setting(
    settings: Settings,
) -> None:
    from zoneinfo import ZoneInfo

    from digest.render import embargo_subject

    lift = datetime(2026, 12, 8, 0, 1, tzinfo=UTC)
    item = report_item("Rapport annuel", lift - timedelta(days=3))
    paris = replace(settings, language="fr", timezone=ZoneInfo("Europe/Paris"))
    assert embargo_subject(paris, item, lift) == (
        "SOUS EMBARGO jusqu'au mardi 8 décembre 2026, 01:01 +0100 : Rapport annuel"
    )
    assert lift_times(paris, lift)[1] == "mardi 8 décembre 2026, 00:01 UTC"
    own = replace(paris, breaking=BreakingSettings(embargo_subject="Sperrfrist {time}"))
    assert embargo_subject(own, item, lift).startswith("Sperrfrist mardi 8 décembre")


def test_a_send_approved_only_after_the_lift_never_goes(
    engine: Engine, press: Settings, smtp_server: Server
) -> None:
    recorder, _ = smtp_server
    trusted_pair(engine)
    item, lift = embargoed_item(engine, "Approved Too Late", days=0.00003)
    approval = replace(press, breaking=BreakingSettings(undo_seconds=0, approval=True))
    asked = actions.send_under_embargo(approval, engine, item.key, "Alice")
    time.sleep(max(0.0, (lift - datetime.now(UTC)).total_seconds()) + 0.2)
    with pytest.raises(DigestError, match=r"embargo on this item has lifted.*cancel it"):
        actions.approve_mailing(approval, engine, asked.id, "Bob")
    assert actions.mailing_or_error(engine, asked.id).status == "awaiting approval"
    actions.release_held(engine)
    actions.send(engine, press)
    assert recorder.messages == [], "the item is public: the embargo mail is moot"
    assert actions.cancel_mailing(engine, asked.id, "Bob").status == "cancelled"
