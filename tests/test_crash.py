"""Crash safety: the sender killed with SIGKILL in the middle of a mailing, then resumed,
delivers to every recipient; the only duplicates are messages that were in flight, and
they carry the same Message-ID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, select

from digest import actions
from digest.config import Settings
from digest.mailings import Mailing, delivery_counts
from digest.model import Item, Subscriber
from digest.store import deliveries, upsert_items
from digest.subscribers import add_subscriber

from .helpers import ROOT, SMTPRecorder

DIGEST = str(Path(sys.executable).parent / "digest")
RECIPIENTS = 60
CONNECTIONS = 2
RECORD_BATCH = 5
# The promise in the README: after a kill -9 at most connections × 1 (in flight) plus
# sender.record_batch (sent, outcome not yet written) messages go out twice.
DUPLICATE_BOUND = CONNECTIONS + RECORD_BATCH


def sender(engine: Engine, port: int, lease: float = 1) -> subprocess.Popen[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DIGEST_") and key not in ("BASE_URL", "DATABASE_URL")
    }
    env |= {
        "DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "SMTP_URL": f"smtp://127.0.0.1:{port}",
        "SECRET_KEY": "crash-test",
        "DIGEST_SENDER_CONNECTIONS": str(CONNECTIONS),
        "DIGEST_SENDER_BATCH": "10",
        "DIGEST_SENDER_LEASE_SECONDS": str(lease),
        "DIGEST_SENDER_RECORD_BATCH": str(RECORD_BATCH),
        "DIGEST_SENDER_RATE": "1000",
    }
    return subprocess.Popen(
        [DIGEST, "send"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def weekly_for_readers(engine: Engine, settings: Settings) -> Mailing:
    """Today's weekly digest with one item, for RECIPIENTS readers."""
    now = datetime.now(UTC)
    item = Item(
        key="https://harbourlight.example/a",
        title="An Item",
        type="updates",
        published=now - timedelta(days=1),
        source="t",
    )
    upsert_items(engine, [item], now)
    for n in range(RECIPIENTS):
        add_subscriber(engine, Subscriber(email=f"reader{n}@example.org", name=f"R {n}"), now)
    return actions.weekly_digest(engine, settings, now.astimezone(settings.timezone).date(), now)


def test_kill_9_mid_send_then_resume_delivers_to_everyone(
    engine: Engine, settings: Settings, smtp_server: tuple[SMTPRecorder, int]
) -> None:
    recorder, port = smtp_server
    recorder.data_delay = 0.03
    mailing = weekly_for_readers(engine, settings)

    first = sender(engine, port)
    deadline = time.monotonic() + 60
    while len(recorder.messages) < RECIPIENTS // 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=60)
    assert first.returncode == -signal.SIGKILL
    received_before = len(recorder.messages)
    assert 0 < received_before < RECIPIENTS, "the kill must land mid-send"

    time.sleep(1.2)  # the dead sender's leases run out
    second = sender(engine, port)
    _, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    time.sleep(0.2)

    recipients = Counter(rcpt[0] for _, rcpt, _ in recorder.messages)
    assert set(recipients) == {f"reader{n}@example.org" for n in range(RECIPIENTS)}
    duplicates = {address: n for address, n in recipients.items() if n > 1}
    assert sum(n - 1 for n in duplicates.values()) <= DUPLICATE_BOUND
    ids = Counter(message["Message-ID"] for message in recorder.parsed())
    assert len(ids) == RECIPIENTS, "a duplicate carries the same Message-ID"
    assert delivery_counts(engine, mailing.id) == {"sent": RECIPIENTS}


def test_two_sender_processes_share_a_mailing_without_duplicates(
    engine: Engine, settings: Settings, smtp_server: tuple[SMTPRecorder, int]
) -> None:
    recorder, port = smtp_server
    recorder.data_delay = 0.03
    mailing = weekly_for_readers(engine, settings)
    senders = [sender(engine, port), sender(engine, port)]
    for process in senders:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    recipients = Counter(rcpt[0] for _, rcpt, _ in recorder.messages)
    assert len(recipients) == RECIPIENTS
    assert set(recipients.values()) == {1}
    assert delivery_counts(engine, mailing.id) == {"sent": RECIPIENTS}
    with engine.connect() as conn:
        claims = conn.execute(select(deliveries.c.claimed_by)).scalars().all()
    processes = {claim.split(":")[1] for claim in claims}
    assert len(processes) == 2, "both processes took part"


def test_repeated_kills_keep_the_duplicate_bound_and_are_reported(
    engine: Engine, settings: Settings, smtp_server: tuple[SMTPRecorder, int]
) -> None:
    recorder, port = smtp_server
    recorder.data_delay = 0.02
    mailing = weekly_for_readers(engine, settings)
    kills = 0
    for share in (5, 2):
        process = sender(engine, port, lease=1)
        deadline = time.monotonic() + 60
        target = len(recorder.messages) + RECIPIENTS // share // 2
        while len(recorder.messages) < target and time.monotonic() < deadline:
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        kills += 1
        report = sender(engine, port, lease=1)
        _, err = report.communicate(timeout=120)
        assert report.returncode == 0, err
        if "held:" in err:
            assert "no longer running" in err and "retried after" in err
        time.sleep(1.2)
    final = sender(engine, port)
    _, err = final.communicate(timeout=120)
    assert final.returncode == 0, err
    recipients = Counter(rcpt[0] for _, rcpt, _ in recorder.messages)
    assert set(recipients) == {f"reader{n}@example.org" for n in range(RECIPIENTS)}
    assert sum(n - 1 for n in recipients.values()) <= kills * DUPLICATE_BOUND
    assert delivery_counts(engine, mailing.id) == {"sent": RECIPIENTS}


def test_an_immediate_send_after_kill_9_reports_the_held_rows(
    engine: Engine, settings: Settings, smtp_server: tuple[SMTPRecorder, int]
) -> None:
    recorder, port = smtp_server
    recorder.data_delay = 0.05
    mailing = weekly_for_readers(engine, settings)
    first = sender(engine, port, lease=300)
    deadline = time.monotonic() + 60
    while len(recorder.messages) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=60)
    second = sender(engine, port, lease=300)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert f"under {socket.gethostname()}:{first.pid}:" in err
    assert "a process that is no longer running" in err and "retried after" in err
    counts = delivery_counts(engine, mailing.id)
    assert counts["sending"] > 0 and counts["sent"] + counts["sending"] == RECIPIENTS
    assert "sent:" in out
