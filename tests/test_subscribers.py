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
        "email,name,outlet,types,weekly,breaking,cadence,status,embargo,groups",
        "a@example.org,Ä,,Report,no,yes,weekly,active,no,",
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


def test_one_address_is_one_subscriber_whatever_its_case(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    from digest.model import Subscriber
    from digest.subscribers import add_subscriber, request_subscription

    assert add_subscriber(engine, Subscriber(email="Ana@Example.com", name="Ana"), NOW) == "added"
    assert add_subscriber(engine, Subscriber(email="ana@example.com", name="Ana R"), NOW) == (
        "updated"
    )
    stored = request_subscription(engine, Subscriber(email="ANA@EXAMPLE.COM"), NOW)
    assert stored.email == "Ana@example.com", "kept as first typed (domain normalised)"
    path = write(tmp_path, "email,name\nana@example.com,Ana\nANA@example.com,Twice\n")
    report = import_csv(engine, settings, path, NOW)
    assert report.added == 0 and "appears twice" in dict(report.errors)[3]
    assert remove_subscriber(engine, "aNa@example.com", NOW)
    people = list(iter_subscribers(engine))
    assert [(p.email, p.status) for p in people] == [("Ana@example.com", "unsubscribed")]


def test_migration_merges_case_duplicates_and_keeps_the_strictest_status(
    engine: Engine,
) -> None:
    from alembic import command
    from sqlalchemy import func, insert, select

    from digest.store import _alembic_config, create_schema, deliveries, mailings, subscribers

    with engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0002_press")
    people = [
        ("Ana@Example.com", "active"),
        ("ana@example.com", "unsubscribed"),
        ("ANA@example.com", "pending"),
        ("ben@example.com", "active"),
        ("Ben@example.com", "bounced"),
        ("cy@example.com", "pending"),
    ]
    with engine.begin() as conn:
        conn.execute(
            insert(subscribers),
            [
                {"email": email, "status": status, "created": NOW, "updated": NOW}
                for email, status in people
            ],
        )
        mailing = conn.execute(
            insert(mailings).values(kind="weekly", ident="w", status="done", created=NOW)
        ).inserted_primary_key[0]
        ids = dict(conn.execute(select(subscribers.c.email, subscribers.c.id)).all())
        conn.execute(
            insert(deliveries),
            [
                {
                    "mailing_id": mailing,
                    "subscriber_id": ids[email],
                    "email": email,
                    "types_key": "*",
                    "next_attempt": NOW,
                }
                for email in ("Ana@Example.com", "ana@example.com", "Ben@example.com")
            ],
        )
    create_schema(engine)
    with engine.connect() as conn:
        rows = conn.execute(select(subscribers.c.email, subscribers.c.status)).all()
        kept = sorted(rows)
        moved = conn.execute(
            select(deliveries.c.subscriber_id, func.count()).group_by(deliveries.c.subscriber_id)
        ).all()
    assert kept == [
        ("Ana@Example.com", "unsubscribed"),
        ("ben@example.com", "bounced"),
        ("cy@example.com", "pending"),
    ]
    # both Ana rows of the mailing are kept (history); the twin's unsent one is cancelled
    assert sorted(moved) == sorted([(ids["Ana@Example.com"], 2), (ids["ben@example.com"], 1)])
    with engine.connect() as conn:
        twin = select(deliveries.c.status).where(deliveries.c.email == "ana@example.com")
        assert conn.execute(twin).scalar() == "cancelled"
    with pytest.raises(Exception, match=r"(?i)unique"), engine.begin() as conn:
        conn.execute(insert(subscribers).values(email="CY@example.com", created=NOW, updated=NOW))


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_export_defuses_spreadsheet_formulas(
    engine: Engine, settings: Settings, tmp_path: Path, start: str
) -> None:
    import csv

    from digest.model import Subscriber
    from digest.subscribers import add_subscriber

    formula = f'{start}HYPERLINK("http://evil.example","x")'
    add_subscriber(engine, Subscriber(email="a@example.org", name=formula, outlet="+1"), NOW)
    out = io.StringIO()
    export_csv(iter_subscribers(engine), settings, out)
    (_, row) = list(csv.reader(io.StringIO(out.getvalue())))
    name, outlet = row[1], row[2]
    if start in "\t\r":
        assert not name.startswith(start), "clean_line already strips control characters"
    else:
        assert name == "'" + formula
    assert outlet == "'+1"
    for cell in row:
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    path = tmp_path / "round.csv"
    path.write_text(out.getvalue())
    import_csv(engine, settings, path, NOW)
    (back,) = list(iter_subscribers(engine))
    assert back.outlet == "+1"


def test_a_huge_csv_field_is_one_bad_line_and_keeps_the_good_rows(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    huge = "x" * 131_073
    path = write(
        tmp_path,
        f"email,name\na@example.org,Ana\nb@example.org,{huge}\nc@example.org,Cy\n",
    )
    report = import_csv(engine, settings, path, NOW)
    assert report.added == 2
    ((line, reason),) = report.errors
    assert line == 3 and "field larger than field limit" in reason
    assert {s.email for s in iter_subscribers(engine)} == {"a@example.org", "c@example.org"}


def test_a_full_disk_gives_an_error_line_not_a_traceback(
    settings: Settings, tmp_path: Path
) -> None:
    from click.testing import CliRunner
    from sqlalchemy import event
    from sqlalchemy.engine import Engine as EngineClass

    from digest.cli import main
    from digest.store import connect, create_schema

    database = tmp_path / "full.db"
    store = connect(f"sqlite:///{database}")
    create_schema(store)
    store.dispose()
    lines = "".join(f"reader{n}@example.org,{'Reader ' * 40}{n}\n" for n in range(3000))
    path = write(tmp_path, "email,name\n" + lines)

    def tiny_disk(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        pages = cursor.execute("PRAGMA page_count").fetchone()[0]
        cursor.execute(f"PRAGMA max_page_count = {pages + 5}")
        cursor.close()

    event.listen(EngineClass, "connect", tiny_disk)
    try:
        result = CliRunner().invoke(
            main,
            ["subscribers", "import", str(path)],
            env={"DATABASE_URL": f"sqlite:///{database}"},
        )
    finally:
        event.remove(EngineClass, "connect", tiny_disk)
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert f"error: the store sqlite:///{database} could not be written" in result.output
    assert "full" in result.output and "Nothing stored before was lost" in result.output
