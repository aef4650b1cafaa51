"""The press list: CSV import with bad rows, re-import rules, export, and signed links."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from digest.config import Settings
from digest.links import sign, token_subscriber, verify
from digest.subscribers import (
    SubscriberError,
    export_csv,
    import_csv,
    iter_subscribers,
    normalise_email,
    remove_subscriber,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def write(tmp_path: Path, text: str, bom: bool = False) -> Path:
    path = tmp_path / "press.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


def test_import_reports_bad_rows_and_keeps_good_ones(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    csv_text = (
        "Email,Name,Outlet,Types,Weekly,Breaking\n"
        "ana@Example.ORG,Ana Reyes,Courier,,yes,no\n"
        "not-an-address,Broken,,,,\n"
        "ben@example.org,Ben,Radio,Report; Update,no,yes\n"
        "cy@example.org,Cy,,Podcasts,,\n"
        "dee@example.org,Dee,,,maybe,\n"
        "ana@example.org,Ana again,,,,\n"
        "eve@example.org,Eve,Wire,all,1,0,extra\n"
    )
    report = import_csv(engine, settings, write(tmp_path, csv_text, bom=True), NOW)
    assert (report.added, report.updated) == (2, 0)
    lines = dict(report.errors)
    assert sorted(lines) == [3, 5, 6, 7, 8]
    assert "not-an-address" in lines[3]
    assert "unknown item type 'Podcasts'" in lines[5]
    assert "weekly must be yes or no" in lines[6]
    assert "appears twice" in lines[7]
    assert "more fields" in lines[8]
    people = {s.email: s for s in iter_subscribers(engine)}
    assert set(people) == {"ana@example.org", "ben@example.org"}
    assert people["ana@example.org"].breaking is False and people["ana@example.org"].types == ()
    assert people["ben@example.org"].types == ("reports", "updates")
    assert people["ben@example.org"].weekly is False


def test_reimport_updates_but_never_reactivates(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    path = write(tmp_path, "email,name\nana@example.org,Ana\nben@example.org,Ben\n")
    import_csv(engine, settings, path, NOW)
    remove_subscriber(engine, "ben@example.org", NOW)
    path.write_text(
        "email,name,types\nana@example.org,Ana Reyes,Report\nben@example.org,Benjamin,\n"
    )
    report = import_csv(engine, settings, path, NOW)
    assert report.updated == 2
    people = {s.email: s for s in iter_subscribers(engine)}
    assert people["ana@example.org"].name == "Ana Reyes" and people["ana@example.org"].types == (
        "reports",
    )
    assert people["ben@example.org"].name == "Benjamin"
    assert people["ben@example.org"].status == "unsubscribed"
    again = import_csv(engine, settings, path, NOW)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)


def test_import_refuses_a_file_without_email_column(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    with pytest.raises(SubscriberError, match="line 1"):
        import_csv(engine, settings, write(tmp_path, "name,outlet\nAna,Courier\n"), NOW)


def test_export_round_trips(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    import_csv(
        engine,
        settings,
        write(tmp_path, "email,name,types,weekly\na@example.org,Ä,Report,no\n"),
        NOW,
    )
    out = io.StringIO()
    assert export_csv(iter_subscribers(engine), settings, out) == 1
    assert out.getvalue().splitlines() == [
        "email,name,outlet,types,weekly,breaking,cadence,status",
        "a@example.org,Ä,,Report,no,yes,weekly,active",
    ]


def test_addresses_are_normalised() -> None:
    assert normalise_email("  Ana.Reyes@Example.ORG ") == "Ana.Reyes@example.org"
    for bad in ("", "ana", "ana@", "a b@example.org", "ana@example..org"):
        with pytest.raises(SubscriberError):
            normalise_email(bad)


def test_signed_links_cannot_be_forged_or_reused() -> None:
    token = sign("secret", "unsubscribe", 7, "ana@example.org")
    assert token_subscriber(token) == 7
    assert verify("secret", "unsubscribe", token, 7, "ana@example.org", NOW)
    assert verify("secret", "unsubscribe", token, 7, "ANA@example.org", NOW)
    assert not verify("other", "unsubscribe", token, 7, "ana@example.org", NOW)
    assert not verify("secret", "preferences", token, 7, "ana@example.org", NOW)
    assert not verify("secret", "unsubscribe", token, 8, "ana@example.org", NOW)
    assert not verify("secret", "unsubscribe", token, 7, "ben@example.org", NOW)
    forged = token.replace("7.", "8.", 1)
    assert not verify("secret", "unsubscribe", forged, 8, "ana@example.org", NOW)
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert not verify("secret", "unsubscribe", tampered, 7, "ana@example.org", NOW)
    for junk in ("", "7", "7.0", "x.0.abc", "7.0.abc.def"):
        assert not verify("secret", "unsubscribe", junk, 7, "ana@example.org", NOW)
    expiring = sign("secret", "confirm", 7, "ana@example.org", NOW + timedelta(hours=1))
    assert verify("secret", "confirm", expiring, 7, "ana@example.org", NOW)
    assert not verify("secret", "confirm", expiring, 7, "ana@example.org", NOW + timedelta(hours=2))
