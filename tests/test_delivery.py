"""The sender under a hostile list and a failing relay: addresses it cannot build or send
fail alone, a relay outage spends no recipient's attempts, and what a dead process holds is
reported. Real aiosmtpd servers on 127.0.0.1; relay pauses use an injected sleep."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, select

from digest import actions
from digest.config import Settings
from digest.mailings import delivery_counts, find_mailing
from digest.model import Item, Subscriber
from digest.sender import claim, held_elsewhere, requeue_failed
from digest.store import deliveries, mailings, subscribers, upsert_items
from digest.subscribers import add_subscriber
from digest.transports import RelayError

from .helpers import ROOT, SMTP_PASSWORD, SMTP_USER, SMTPRecorder, free_port, storm_item

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
PLAIN = [f"reader{n}@example.org" for n in range(8)]
INTERNATIONAL = ["ü@example.com", "ana@bücher.example", "zoë@straße.example"]


def alert_item() -> Item:
    return storm_item(NOW)


def settings_for(settings: Settings, port: int, tmp_path: Path, **sender: object) -> Settings:
    return replace(
        settings,
        smtp_url=f"smtp://127.0.0.1:{port}",
        secret_key="test-secret",
        sender=replace(
            settings.sender,
            **{
                "rate": 1000.0,
                "connections": 2,
                "timeout_seconds": 5.0,
                "outbox": tmp_path / "outbox",
                **sender,
            },  # type: ignore[arg-type]
        ),
    )


def breaking_to(engine: Engine, settings: Settings, addresses: list[str]) -> int:
    upsert_items(engine, [alert_item()], NOW)
    for address in addresses:
        add_subscriber(engine, Subscriber(email=address, name="Reader"), NOW)
    return actions.breaking_alert(engine, settings, alert_item(), NOW).id


def start(recorder: SMTPRecorder, port: int, smtputf8: bool = False) -> Controller:
    controller = Controller(recorder, hostname="127.0.0.1", port=port, enable_SMTPUTF8=smtputf8)
    controller.start()
    return controller


def statuses(engine: Engine) -> dict[str, tuple[str, int, str | None]]:
    with engine.connect() as conn:
        query = select(deliveries.c.email, deliveries.c.status, deliveries.c.attempts)
        rows = conn.execute(query.add_columns(deliveries.c.reply)).all()
    return {email: (status, attempts, reply) for email, status, attempts, reply in rows}


async def no_wait(seconds: float) -> None:
    """A relay pause that takes no time."""


@pytest.mark.parametrize("smtputf8", [True, False], ids=["smtputf8", "ascii-only"])
def test_international_addresses_never_hold_up_the_alert(
    engine: Engine, settings: Settings, tmp_path: Path, smtputf8: bool
) -> None:
    recorder, port = SMTPRecorder(), free_port()
    server = start(recorder, port, smtputf8)
    try:
        config = settings_for(settings, port, tmp_path)
        mailing_id = breaking_to(engine, config, PLAIN + INTERNATIONAL)
        summary = actions.send(engine, config, clock=lambda: NOW)
    finally:
        server.stop()
    received = Counter(rcpt for _, rcpts, _ in recorder.messages for rcpt in rcpts)
    for address in PLAIN:
        assert received[address] == 1
    assert received["ana@xn--bcher-kva.example"] == 1, "an IDN domain goes out as IDNA"
    rows = statuses(engine)
    assert not any(status == "sending" for status, _, _ in rows.values())
    if smtputf8:
        assert received["ü@example.com"] == 1 and received["zoë@xn--strae-oqa.example"] == 1
        assert summary.failed == 0
        assert delivery_counts(engine, mailing_id) == {"sent": 11}
    else:
        assert summary.failed == 2
        for address in ("ü@example.com", "zoë@straße.example"):
            status, _, reply = rows[address]
            assert status == "failed" and "SMTPUTF8" in (reply or "")
        assert delivery_counts(engine, mailing_id) == {"sent": 9, "failed": 2}
    to_headers = {str(m["To"].addresses[0].addr_spec) for m in recorder.parsed()}
    assert "ana@xn--bcher-kva.example" in to_headers


def test_relay_down_longer_than_the_retry_window_loses_no_one(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    config = settings_for(settings, port, tmp_path, max_attempts=2, relay_wait_seconds=60.0)
    mailing_id = breaking_to(engine, config, PLAIN)
    moments = [NOW + timedelta(minutes=m) for m in (0, 5, 30, 120, 600)]
    for moment in moments:
        summary = actions.send(engine, config, clock=lambda m=moment: m, sleep=no_wait)
        assert summary.sent == summary.failed == summary.retrying == 0
        assert summary.paused and "cannot connect" in summary.paused
        mailing = find_mailing(engine, f"breaking:{alert_item().key}")
        assert mailing is not None and mailing.status == "waiting for relay"
    assert {s for s, attempts, _ in statuses(engine).values() if attempts == 0} == {"pending"}
    assert all(attempts == 0 for _, attempts, _ in statuses(engine).values())

    recorder = SMTPRecorder()
    server = start(recorder, port)
    try:
        later = NOW + timedelta(hours=11)
        summary = actions.send(engine, config, clock=lambda: later, sleep=no_wait)
    finally:
        server.stop()
    assert summary.sent == len(PLAIN) and summary.paused is None
    assert Counter(rcpt for _, rcpts, _ in recorder.messages for rcpt in rcpts) == {
        address: 1 for address in PLAIN
    }
    assert delivery_counts(engine, mailing_id) == {"sent": len(PLAIN)}
    with engine.connect() as conn:
        status = conn.execute(select(mailings.c.status).where(mailings.c.id == mailing_id))
        assert status.scalar_one() == "done"


def test_a_relay_that_comes_back_mid_run_resumes_by_itself(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """421 at greeting, then the relay recovers while the run is paused."""
    port = free_port()
    config = settings_for(settings, port, tmp_path, relay_wait_seconds=3600.0)
    breaking_to(engine, config, PLAIN)
    refusing = threading.Event()
    loop = asyncio.new_event_loop()

    async def busy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"421 4.3.2 busy, come back later\r\n")
        await writer.drain()
        writer.close()

    server = loop.run_until_complete(asyncio.start_server(busy, "127.0.0.1", port))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    refusing.set()
    recorder = SMTPRecorder()
    sleeps: list[float] = []
    real: list[Controller] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 25 and not real:
            loop.call_soon_threadsafe(server.close)
            await asyncio.sleep(0.2)
            real.append(start(recorder, port))

    try:
        summary = actions.send(engine, config, clock=lambda: NOW, sleep=sleep)
    finally:
        for controller in real:
            controller.stop()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=60)
    assert summary.relay_pauses >= 1 and summary.paused is None
    assert summary.sent == len(PLAIN)
    assert sorted(rcpt for _, rcpts, _ in recorder.messages for rcpt in rcpts) == sorted(PLAIN)
    assert all(attempts == 1 for _, attempts, _ in statuses(engine).values())


def test_a_message_accepted_as_the_relay_pause_begins_does_not_stall_the_run(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """One connection meets a refusing relay while the other's message is accepted: the
    pause still probes the relay and the run resumes instead of waiting forever."""
    config = settings_for(settings, free_port(), tmp_path, relay_wait_seconds=3600.0)
    breaking_to(engine, config, PLAIN)
    made: list[object] = []
    in_flight, refused = asyncio.Event(), asyncio.Event()

    class Flaky:
        def __init__(self) -> None:
            made.append(self)
            self.number = len(made)

        async def open(self) -> None:
            pass

        async def send(self, sender: str, recipient: str, message: bytes, ident: str) -> str:
            if self.number == 1 and not refused.is_set():
                await in_flight.wait()
                refused.set()
                raise RelayError("421 4.3.2 busy, come back later")
            if self.number == 2 and not refused.is_set():
                in_flight.set()
                await refused.wait()
            return "250 ok"

        async def close(self) -> None:
            pass

    result: list[object] = []
    run = threading.Thread(
        target=lambda: result.append(
            actions.send(engine, config, clock=lambda: NOW, factory=Flaky, sleep=no_wait)
        ),
        daemon=True,
    )
    run.start()
    run.join(timeout=60)
    assert result, "the run never ended"
    summary = result[0]
    assert summary.relay_pauses == 1 and summary.paused is None  # type: ignore[attr-defined]
    assert summary.sent == len(PLAIN)  # type: ignore[attr-defined]
    assert all(attempts == 1 for _, attempts, _ in statuses(engine).values())


def test_a_stalled_relay_pauses_instead_of_timing_out_every_message(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    class Stalled:
        def __init__(self) -> None:
            self.data_commands = 0

        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
            self.data_commands += 1
            await asyncio.sleep(60)
            return "250 late"

    handler, port = Stalled(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    recipients = [f"reader{n}@example.org" for n in range(30)]
    config = settings_for(settings, port, tmp_path, timeout_seconds=0.3, relay_wait_seconds=30.0)
    try:
        breaking_to(engine, config, recipients)
        summary = actions.send(engine, config, clock=lambda: NOW, sleep=no_wait)
    finally:
        controller.stop()
    assert summary.paused and "stalled" in summary.paused
    # backoff 10 s, then 20 s, then the 30 s budget is spent: three rounds; in each, both
    # connections stall (one stall alone may be its recipient's, so the relay is judged
    # down once both did), and each may have started one more message meanwhile
    assert handler.data_commands <= 2 * 2 * 3 < len(recipients)
    rows = statuses(engine)
    assert {status for status, _, _ in rows.values()} == {"pending"}
    assert all(attempts == 0 for _, attempts, _ in rows.values())


def test_552_to_rcpt_is_temporary_and_claim_stops_at_max_attempts(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    recorder, port = SMTPRecorder(), free_port()
    server = start(recorder, port)
    recorder.rcpt_replies["reader0@example.org"] = ["552 4.5.3 too many recipients"]
    try:
        config = settings_for(settings, port, tmp_path, max_attempts=3)
        breaking_to(engine, config, PLAIN[:2])
        summary = actions.send(engine, config, clock=lambda: NOW)
    finally:
        server.stop()
    assert (summary.sent, summary.retrying, summary.failed) == (1, 1, 0)

    with engine.begin() as conn:
        conn.execute(
            deliveries.update()
            .where(deliveries.c.email == "reader0@example.org")
            .values(status="sending", attempts=3, lease_until=NOW - timedelta(seconds=1))
        )
    assert claim(engine, "w", 10, NOW, 60, max_attempts=3) == []
    status, attempts, reply = statuses(engine)["reader0@example.org"]
    assert (status, attempts) == ("failed", 3) and "gave up" in (reply or "")


def test_requeue_puts_failed_back_but_never_the_bounced(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    recorder, port = SMTPRecorder(), free_port()
    server = start(recorder, port)
    recorder.rcpt_replies["reader0@example.org"] = ["554 5.7.1 policy"]
    recorder.rcpt_replies["reader1@example.org"] = ["550 5.1.1 no such user"]
    try:
        config = settings_for(settings, port, tmp_path)
        mailing_id = breaking_to(engine, config, PLAIN[:3])
        actions.send(engine, config, clock=lambda: NOW)
        assert delivery_counts(engine, mailing_id) == {"sent": 1, "failed": 2}
        assert requeue_failed(engine, mailing_id, NOW) == 1
        again = actions.send(engine, config, clock=lambda: NOW)
    finally:
        server.stop()
    assert again.sent == 1
    assert delivery_counts(engine, mailing_id) == {"sent": 2, "failed": 1}
    with engine.connect() as conn:
        bounced = select(subscribers.c.status).where(subscribers.c.email == "reader1@example.org")
        assert conn.execute(bounced).scalar_one() == "bounced"
    from digest.bounces import events_for, mailing_rates

    (event,) = events_for(engine, "reader1@example.org")
    assert (event["kind"], event["status"], event["mailing_id"]) == ("hard", "5.1.1", mailing_id)
    assert "no such user" in event["detail"] and event["effect"] == "suppressed (hard bounce)"
    assert events_for(engine, "reader0@example.org") == [], "a policy refusal is no bounce"
    (rate,) = mailing_rates(engine, config, [mailing_id])
    assert (rate.hard, rate.sent) == (1, 3), "refused at send: counted as sent and bounced"


def test_rows_held_by_a_dead_process_are_reported(engine: Engine, settings: Settings) -> None:
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    import socket

    holder = f"{socket.gethostname()}:{dead.pid}:abcd1234"
    config = replace(settings, secret_key="x")
    breaking_to(engine, config, PLAIN[:3])
    until = NOW + timedelta(minutes=5)
    with engine.begin() as conn:
        conn.execute(
            deliveries.update().values(
                status="sending", claimed_by=holder, lease_until=until, attempts=1
            )
        )
    (held,) = held_elsewhere(engine, NOW)
    assert (held.holder, held.count, held.retry_at, held.holder_alive) == (holder, 3, until, False)
    assert held_elsewhere(engine, until + timedelta(seconds=1)) == []


class PipeliningRecorder(SMTPRecorder):
    """The recorder, advertising PIPELINING (aiosmtpd reads pipelined commands in order)."""

    def __init__(self) -> None:
        super().__init__()
        self.ehlo = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # type: ignore[no-untyped-def]
        self.ehlo += 1
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]


def test_pipelined_transactions_keep_every_outcome(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    recorder, port = PipeliningRecorder(), free_port()
    server = start(recorder, port)
    recorder.rcpt_replies["reader1@example.org"] = ["451 4.3.0 try later"]
    recorder.rcpt_replies["reader2@example.org"] = ["550 5.1.1 no such user"]
    recorder.data_replies["reader3@example.org"] = ["554 5.7.1 refused"]
    recorder.data_replies["reader4@example.org"] = ["drop"]
    try:
        config = settings_for(settings, port, tmp_path)
        mailing_id = breaking_to(engine, config, PLAIN)
        summary = actions.send(engine, config, clock=lambda: NOW)
    finally:
        server.stop()
    assert recorder.ehlo >= 1
    assert (summary.sent, summary.retrying, summary.failed, summary.bounced) == (4, 2, 2, 1)
    received = sorted(rcpt for _, rcpts, _ in recorder.messages for rcpt in rcpts)
    assert received == sorted(set(PLAIN) - {f"reader{n}@example.org" for n in (1, 2, 3, 4)})
    assert delivery_counts(engine, mailing_id) == {"sent": 4, "pending": 2, "failed": 2}


def test_subscribe_time_check_refuses_only_what_the_relay_cannot_take(
    settings: Settings,
) -> None:
    from digest.subscribers import SubscriberError, check_sendable

    ascii_relay = replace(settings, smtp_url="smtp://relay.example:587")
    check_sendable(ascii_relay, "ana@bücher.example")
    with pytest.raises(SubscriberError, match="non-ASCII"):
        check_sendable(ascii_relay, "ü@example.com")
    utf8 = replace(ascii_relay, sender=replace(ascii_relay.sender, smtputf8=True))
    check_sendable(utf8, "ü@example.com")
    check_sendable(replace(settings, smtp_url=None), "ü@example.com")


def test_a_full_disk_while_sending_is_an_error_line(settings: Settings, tmp_path: Path) -> None:
    """SQLite's max_page_count stands in for a full disk."""
    from click.testing import CliRunner
    from sqlalchemy import event
    from sqlalchemy.engine import Engine as EngineClass

    from digest.cli import main
    from digest.store import connect, create_schema

    engine = connect(settings.database_url)
    create_schema(engine)
    readers = [f"reader{n}@example.org" for n in range(400)]
    breaking_to(engine, replace(settings, secret_key="x"), readers)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()

    def tiny_disk(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        pages = cursor.execute("PRAGMA page_count").fetchone()[0]
        cursor.execute(f"PRAGMA max_page_count = {pages}")
        cursor.close()

    event.listen(EngineClass, "connect", tiny_disk)
    try:
        result = CliRunner().invoke(
            main,
            ["send"],
            env={
                "DATABASE_URL": settings.database_url,
                "SECRET_KEY": "x",
                "DIGEST_SENDER_OUTBOX": str(tmp_path / "outbox"),
                "DIGEST_SENDER_RATE": "10000",
            },
        )
    finally:
        event.remove(EngineClass, "connect", tiny_disk)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "error: the store sqlite:///" in result.output and "full" in result.output
    assert "Nothing stored before was lost" in result.output


def test_digest_send_with_the_relay_down_says_so_and_spends_nothing(
    engine: Engine, settings: Settings
) -> None:
    import os
    import subprocess
    import sys

    breaking_to(engine, replace(settings, secret_key="x"), PLAIN[:3])
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env |= {
        "DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "SMTP_URL": f"smtp://127.0.0.1:{free_port()}",
        "SECRET_KEY": "x",
        "DIGEST_SENDER_RELAY_WAIT_SECONDS": "1",
    }
    digest = str(Path(sys.executable).parent / "digest")
    result = subprocess.run(
        [digest, "send"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert "relay unavailable: cannot connect" in result.stderr
    assert "no attempt was counted" in result.stderr and "Traceback" not in result.stderr
    assert "sent: 0  failed: 0" in result.stdout
    rows = statuses(engine)
    assert {(status, attempts) for status, attempts, _ in rows.values()} == {("pending", 0)}


def test_messages_go_over_starttls_with_a_login(
    engine: Engine,
    settings: Settings,
    tmp_path: Path,
    relay: tuple[SMTPRecorder, int],
) -> None:
    """The transport's own MAIL/RCPT/DATA run inside the TLS session aiosmtplib set up."""
    recorder, port = relay
    config = settings_for(settings, port, tmp_path)
    config = replace(
        config, smtp_url=f"smtp://{SMTP_USER}:{SMTP_PASSWORD.replace(' ', '%20')}@127.0.0.1:{port}"
    )
    mailing_id = breaking_to(engine, config, PLAIN[:4])
    summary = actions.send(engine, config, clock=lambda: NOW)
    assert summary.sent == 4
    assert sorted(rcpt for _, rcpts, _ in recorder.messages for rcpt in rcpts) == PLAIN[:4]
    assert delivery_counts(engine, mailing_id) == {"sent": 4}
