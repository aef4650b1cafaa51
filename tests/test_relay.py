"""The relay's trouble told from a recipient's, leases kept while a slow batch is sent, and
staff stopping a mailing at once: real aiosmtpd servers on 127.0.0.1 and real stores.
Relay pauses use an injected sleep; nothing is timed."""

from __future__ import annotations

import os
import subprocess
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
from digest.mailings import delivery_counts, get_mailing
from digest.model import Item, Subscriber
from digest.store import deliveries, upsert_items
from digest.subscribers import add_subscriber
from digest.transports import RelayError

from .helpers import DIGEST, ROOT, SMTPRecorder, free_port, storm_item, wait_for

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
READERS = [f"reader{n}@example.org" for n in range(8)]


def storm() -> Item:
    return storm_item(NOW)


def configured(settings: Settings, port: int, tmp_path: Path, **sender: object) -> Settings:
    values = {"rate": 1000, "connections": 2, "timeout_seconds": 5, "outbox": tmp_path / "out"}
    return replace(
        settings,
        smtp_url=f"smtp://127.0.0.1:{port}",
        secret_key="test-secret",
        sender=replace(settings.sender, **{**values, **sender}),  # type: ignore[arg-type]
    )


def alert_to(engine: Engine, settings: Settings, addresses: list[str]) -> int:
    upsert_items(engine, [storm()], NOW)
    for address in addresses:
        add_subscriber(engine, Subscriber(email=address, name="Reader"), NOW)
    return actions.breaking_alert(engine, settings, storm(), NOW).id


def rows(engine: Engine) -> dict[str, tuple[str, int]]:
    with engine.connect() as conn:
        query = select(deliveries.c.email, deliveries.c.status, deliveries.c.attempts)
        return {email: (status, attempts) for email, status, attempts in conn.execute(query)}


def received(recorder: SMTPRecorder) -> Counter[str]:
    return Counter(rcpt for _, rcpts, _ in recorder.messages for rcpt in rcpts)


@pytest.fixture
def relay_server() -> tuple[SMTPRecorder, int]:  # type: ignore[misc]
    recorder, port = SMTPRecorder(), free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    yield recorder, port
    controller.stop()


@pytest.mark.parametrize(
    ("step", "reply"),
    [("mail", "452 4.3.1 Insufficient system storage"), ("rcpt", "451 4.7.1 Rate limit")],
)
def test_a_relay_refusing_everyone_is_an_outage_not_the_recipients(
    engine: Engine,
    settings: Settings,
    tmp_path: Path,
    relay_server: tuple[SMTPRecorder, int],
    step: str,
    reply: str,
) -> None:
    """452 to every MAIL FROM (full storage) or 451 to every RCPT (a rate limit): the run
    pauses, spends nobody's attempts, and resumes by itself when the relay takes mail."""
    recorder, port = relay_server
    config = configured(settings, port, tmp_path, relay_wait_seconds=3600)
    mailing_id = alert_to(engine, config, READERS)
    setattr(recorder, f"refuse_{step}", reply)
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 40:
            setattr(recorder, f"refuse_{step}", None)

    summary = actions.send(engine, config, clock=lambda: NOW, sleep=sleep)
    assert recorder.refusals >= 2
    assert (summary.sent, summary.failed, summary.retrying) == (len(READERS), 0, 0)
    assert summary.relay_pauses >= 1 and summary.paused is None
    assert received(recorder) == dict.fromkeys(READERS, 1)
    assert set(rows(engine).values()) == {("sent", 1)}, "no attempt was spent on the relay"
    mailing = get_mailing(engine, mailing_id)
    assert mailing is not None and mailing.status == "done"


def test_one_recipient_whose_rcpt_stalls_fails_alone(
    engine: Engine, settings: Settings, tmp_path: Path, relay_server: tuple[SMTPRecorder, int]
) -> None:
    """The relay answers everyone but never answers RCPT for one address: that recipient
    spends its attempts and fails in the end; the run never says the relay is down."""
    recorder, port = relay_server
    stuck = READERS[3]
    recorder.stall_rcpt = {stuck}
    config = configured(settings, port, tmp_path, timeout_seconds=1, max_attempts=2)
    mailing_id = alert_to(engine, config, READERS)

    async def no_wait(seconds: float) -> None:
        pass

    first = actions.send(engine, config, clock=lambda: NOW, sleep=no_wait)
    assert first.paused is None, "the relay answered everyone else"
    assert (first.sent, first.retrying, first.failed) == (len(READERS) - 1, 1, 0)
    assert rows(engine)[stuck] == ("pending", 1)

    later = NOW + timedelta(hours=1)
    second = actions.send(engine, config, clock=lambda: later, sleep=no_wait)
    assert second.paused is None
    assert (second.sent, second.failed) == (0, 1)
    assert rows(engine)[stuck] == ("failed", 2)
    assert received(recorder) == {r: 1 for r in READERS if r != stuck}
    assert delivery_counts(engine, mailing_id) == {"sent": len(READERS) - 1, "failed": 1}
    mailing = get_mailing(engine, mailing_id)
    assert mailing is not None and mailing.status == "done"


def test_a_batch_slower_than_its_lease_goes_once(
    engine: Engine, settings: Settings, tmp_path: Path, relay_server: tuple[SMTPRecorder, int]
) -> None:
    """60 claimed at once, sent at 20 a second under a 1 s lease: the sender renews what
    it holds instead of claiming its own waiting rows again."""
    recorder, port = relay_server
    readers = [f"slow{n}@example.org" for n in range(60)]
    config = configured(settings, port, tmp_path, rate=20, lease_seconds=1, batch=200)
    mailing_id = alert_to(engine, config, readers)
    summary = actions.send(engine, config)
    assert received(recorder) == dict.fromkeys(readers, 1), "nobody gets it twice"
    assert summary.sent == len(readers)
    assert delivery_counts(engine, mailing_id) == {"sent": len(readers)}


def test_staff_can_pause_and_cancel_a_mailing_waiting_for_the_relay(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Three went out, then the relay went down: the mailing waits for the relay, and
    staff can still pause it, resume it and cancel it; the rest never goes."""
    config = configured(settings, free_port(), tmp_path, relay_wait_seconds=1)
    mailing_id = alert_to(engine, config, READERS)
    sent: list[str] = []

    class Failing:
        async def open(self) -> None:
            if len(sent) >= 3:
                raise RelayError("cannot connect to the relay: refused")

        async def send(self, sender: str, recipient: str, message: bytes, ident: str) -> str:
            await self.open()
            sent.append(recipient)
            return "250 ok"

        async def close(self) -> None:
            pass

    async def no_wait(seconds: float) -> None:
        pass

    summary = actions.send(engine, config, clock=lambda: NOW, factory=Failing, sleep=no_wait)
    assert summary.paused and summary.sent == 3
    assert actions.mailing_progress(engine, mailing_id).status == "waiting for relay"

    paused = actions.pause_mailing(engine, mailing_id, "Bob")
    assert paused.status == "paused"
    progress = actions.mailing_progress(engine, mailing_id)
    assert (progress.paused_by, progress.left, progress.with_relay) == ("Bob", 5, 0)
    assert actions.resume_mailing(engine, mailing_id, "Bob").status == "sending"
    assert actions.pause_mailing(engine, mailing_id, "Bob").status == "paused"

    cancelled = actions.cancel_mailing(engine, mailing_id, "Carol")
    assert cancelled.status == "cancelled"
    sent.clear()
    summary = actions.send(engine, config, clock=lambda: NOW, factory=Failing, sleep=no_wait)
    assert sent == [] and summary.sent == 0
    assert delivery_counts(engine, mailing_id) == {"sent": 3, "cancelled": 5}


def test_pause_lets_through_only_what_is_already_with_the_relay(
    engine: Engine, settings: Settings, tmp_path: Path, relay_server: tuple[SMTPRecorder, int]
) -> None:
    """`digest mailing pause` in another process while a weekly-sized batch is sending:
    after it returns at most one message per connection goes, and it says who paused
    and how many are left."""
    recorder, port = relay_server
    recorder.data_delay = 0.01
    readers = [f"many{n}@example.org" for n in range(300)]
    config = configured(settings, port, tmp_path, rate=20, connections=2, batch=400)
    mailing_id = alert_to(engine, config, readers)
    run = threading.Thread(target=actions.send, args=(engine, config), daemon=True)
    run.start()
    wait_for(lambda: len(recorder.messages) >= 20)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env |= {"DATABASE_URL": engine.url.render_as_string(hide_password=False), "SECRET_KEY": "x"}
    before = len(recorder.messages)
    result = subprocess.run(
        [DIGEST, "mailing", "pause", str(mailing_id)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    at_return = len(recorder.messages)
    run.join(timeout=120)
    assert not run.is_alive()
    assert result.returncode == 0, result.stderr
    assert len(recorder.messages) - at_return <= config.sender.connections
    progress = actions.mailing_progress(engine, mailing_id)
    assert progress.status == "paused" and progress.sent == len(recorder.messages)
    assert progress.with_relay <= len(recorder.messages) - before, "went after the pause"
    assert progress.left == len(readers) - progress.sent
    assert progress.held == progress.left, "what the sender held went back, held"
    assert f"paused by {progress.paused_by}, {progress.left} left" in result.stdout

    assert actions.resume_mailing(engine, mailing_id, "Bob").status == "sending"
    actions.send(engine, configured(settings, port, tmp_path))
    assert received(recorder) == dict.fromkeys(readers, 1)


def test_a_full_outbox_disk_stops_the_run_and_fails_nobody(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """The outbox on a 64 KiB tmpfs: `digest send` stops with one error line, exit 1; no
    delivery is failed, and everything not written stays pending with no attempt spent."""
    outbox = tmp_path / "tiny"
    outbox.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(outbox)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        readers = [f"disk{n}@example.org" for n in range(60)]
        mailing_id = alert_to(engine, replace(settings, secret_key="x"), readers)
        env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
        env.pop("SMTP_URL", None)
        env |= {
            "DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "SECRET_KEY": "x",
            "DIGEST_SENDER_OUTBOX": str(outbox),
        }
        result = subprocess.run(
            [DIGEST, "send"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
    finally:
        subprocess.run(["umount", str(outbox)], check=True)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "outbox" in errors[0] and "No space left" in errors[0]
    counts = delivery_counts(engine, mailing_id)
    assert "failed" not in counts and counts.get("pending", 0) > 0
    assert set(counts) <= {"sent", "pending"}
    assert all(attempts == 0 for status, attempts in rows(engine).values() if status == "pending")
