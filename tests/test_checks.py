"""`digest check` against real parts: a SQLite store, the sample sources, an aiosmtpd relay
on 127.0.0.1 with STARTTLS (a self-signed certificate the client is told to trust) and
AUTH, and an RSA key for DKIM made with openssl."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.checks import (
    check_base_url,
    check_dkim,
    check_output,
    check_secret_key,
    check_smtp,
    check_sources,
    check_store,
    must_fix,
    run_checks,
)
from digest.cli import main
from digest.config import Settings, SourceConfig
from digest.newsroom import create_newsroom
from digest.store import connect, count_items, create_schema

from .helpers import SMTP_USER, SMTPRecorder, free_port, openssl


@pytest.fixture
def plain_relay() -> Iterator[int]:
    """A relay without TLS (a local test server)."""
    from aiosmtpd.controller import Controller

    port = free_port()
    controller = Controller(SMTPRecorder(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port
    controller.stop()


def with_smtp(settings: Settings, url: str) -> Settings:
    return replace(settings, smtp_url=url, sender=replace(settings.sender, timeout_seconds=60))


def test_smtp_check_does_ehlo_starttls_and_login_and_sends_nothing(
    settings: Settings, relay: tuple[SMTPRecorder, int]
) -> None:
    recorder, port = relay
    result = check_smtp(with_smtp(settings, f"smtp://{SMTP_USER}:s3cret%20pass@127.0.0.1:{port}"))
    assert result.status == "ok", result.detail
    assert (
        result.detail
        == f"127.0.0.1:{port}: connected, EHLO, STARTTLS, login as press; nothing sent"
    )
    assert recorder.messages == []


def test_smtp_check_reports_a_refused_login(
    settings: Settings, relay: tuple[SMTPRecorder, int]
) -> None:
    _, port = relay
    result = check_smtp(with_smtp(settings, f"smtp://{SMTP_USER}:wrong@127.0.0.1:{port}"))
    assert result.status == "fail"
    assert "login refused (535" in result.detail and "SMTP_URL" in result.detail


def test_smtp_check_refuses_to_send_a_password_without_tls(
    settings: Settings, plain_relay: int
) -> None:
    result = check_smtp(with_smtp(settings, f"smtp://{SMTP_USER}:x@127.0.0.1:{plain_relay}"))
    assert result.status == "fail"
    assert "offers no STARTTLS" in result.detail


def test_smtp_check_without_credentials_on_a_plain_relay_says_so(
    settings: Settings, plain_relay: int
) -> None:
    result = check_smtp(with_smtp(settings, f"smtp://127.0.0.1:{plain_relay}"))
    assert result.status == "ok"
    assert result.detail.endswith("connected, EHLO (no TLS offered); nothing sent")


def test_smtp_check_reports_a_relay_that_is_not_there(settings: Settings) -> None:
    port = free_port()
    result = check_smtp(with_smtp(settings, f"smtp://127.0.0.1:{port}"))
    assert result.status == "fail"
    assert result.detail.startswith(f"127.0.0.1:{port}: ") and "check SMTP_URL" in result.detail


def test_smtp_check_without_smtp_url_points_at_the_outbox(settings: Settings) -> None:
    result = check_smtp(replace(settings, smtp_url=None))
    assert result.status == "warn" and "outbox" in result.detail


def test_store_check_opens_the_store_and_sees_missing_tables(settings: Settings) -> None:
    first = check_store(settings)
    assert first.status == "warn" and "digest migrate" in first.detail
    create_schema(connect(settings.database_url))
    assert check_store(settings).status == "ok"


def test_store_check_fails_on_an_unreachable_database(settings: Settings) -> None:
    port = free_port()
    url = f"postgresql+psycopg://user:hidden@127.0.0.1:{port}/nothing"
    result = check_store(replace(settings, database_url=url))
    assert result.status == "fail"
    assert "hidden" not in result.detail and "DATABASE_URL" in result.detail


def test_source_checks_read_every_source_and_store_nothing(settings: Settings) -> None:
    engine = connect(settings.database_url)
    create_schema(engine)
    results = check_sources(settings)
    assert [r.name for r in results] == [f"source {s.name}" for s in settings.sources]
    assert all(r.status == "ok" for r in results), results
    assert sum(count_items(engine).values()) == 0


def test_source_check_names_a_missing_file(settings: Settings, tmp_path: Path) -> None:
    missing = SourceConfig("press", "listing", str(tmp_path / "none" / "*.txt"))
    (result,) = check_sources(replace(settings, sources=(missing,)))
    assert result.status == "fail"
    assert str(tmp_path / "none" / "*.txt") in result.detail


def test_source_check_fails_on_a_page_without_items(settings: Settings, tmp_path: Path) -> None:
    page = tmp_path / "page.txt"
    page.write_bytes(b"\x00\x01binary")
    (result,) = check_sources(
        replace(settings, sources=(SourceConfig("press", "listing", str(page)),))
    )
    assert result.status == "fail" and "binary" in result.detail


def test_base_url_check(settings: Settings) -> None:
    assert check_base_url(settings).status == "warn"
    assert check_base_url(replace(settings, base_url="https://press.example.org/")).status == "ok"
    plain = check_base_url(replace(settings, base_url="http://press.example.org/"))
    assert plain.status == "warn" and "https" in plain.detail
    assert check_base_url(replace(settings, base_url="http://10.0.0.5/")).status == "warn"


def test_secret_key_check(settings: Settings) -> None:
    short = check_secret_key(replace(settings, secret_key="tooshort"))
    assert short.status == "fail" and "at least 32" in short.detail
    assert check_secret_key(replace(settings, secret_key="k" * 40)).status == "ok"


def test_dkim_check_signs_with_the_configured_key(settings: Settings, tmp_path: Path) -> None:
    key = tmp_path / "dkim.pem"
    openssl("genrsa", "-out", str(key), "2048")
    email = replace(settings.email, dkim_key=key.read_bytes(), dkim_domain="harbourlight.example")
    result = check_dkim(replace(settings, email=email))
    assert result.status == "ok", result.detail
    assert "digest._domainkey.harbourlight.example" in result.detail
    other = replace(email, dkim_domain="elsewhere.example")
    assert check_dkim(replace(settings, email=other)).status == "warn"
    broken = replace(email, dkim_key=b"-----BEGIN PRIVATE KEY-----\nnot a key\n")
    assert check_dkim(replace(settings, email=broken)).status == "fail"
    assert check_dkim(settings).status == "warn"


def test_run_checks_on_the_sample_needs_nothing_fixed(settings: Settings) -> None:
    results = run_checks(settings)
    assert [r.name for r in results][:1] == ["store"]
    assert {r.name for r in results} >= {"smtp", "base_url", "secret_key", "dkim"}
    assert not must_fix(results), results


def run_check_in(folder: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DIGEST_")
        and key not in ("BASE_URL", "DATABASE_URL", "SMTP_URL", "SECRET_KEY", "NO_COLOR")
    }
    digest = str(Path(sys.executable).parent / "digest")
    return subprocess.run(
        [digest, "check"],
        cwd=folder,
        env=environment | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_command_exits_1_with_what_to_fix(tmp_path: Path) -> None:
    create_newsroom(tmp_path, sample=True)
    port = free_port()
    result = run_check_in(tmp_path, SMTP_URL=f"smtp://127.0.0.1:{port}", SECRET_KEY="short")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "ok   config: config/digest.toml"
    failed = [line for line in lines if line.startswith("FAIL")]
    assert [line.split(":")[0] for line in failed] == ["FAIL smtp", "FAIL secret_key"]


def test_check_command_reports_a_bad_config_and_exits_1(tmp_path: Path) -> None:
    create_newsroom(tmp_path)
    result = run_check_in(tmp_path, DIGEST_FEEDS_SIZE="many")
    assert result.returncode == 1
    assert result.stdout.startswith("FAIL config: config/digest.toml: setting feeds.size")


def test_check_without_sample_says_there_is_no_source_yet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_newsroom(tmp_path / "news")
    monkeypatch.chdir(tmp_path / "news")
    result = CliRunner().invoke(main, ["--config", "config/digest.toml", "check"])
    assert result.exit_code == 0, result.output
    assert "warn sources: no source yet" in result.output


def _on_terminal(folder: Path, **env: str) -> bytes:
    """Run `digest check` with its output on a pseudo-terminal; return what it wrote."""
    controller, terminal = pty.openpty()
    environment = {k: v for k, v in os.environ.items() if k != "NO_COLOR"} | env
    digest = str(Path(sys.executable).parent / "digest")
    with subprocess.Popen(
        [digest, "check"], cwd=folder, env=environment, stdout=terminal, stderr=subprocess.DEVNULL
    ) as process:
        os.close(terminal)
        output = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        process.wait(timeout=120)
    os.close(controller)
    return output


def test_check_colours_its_marks_on_a_terminal_unless_no_color(tmp_path: Path) -> None:
    create_newsroom(tmp_path, sample=True)
    coloured = _on_terminal(tmp_path)
    assert b"\x1b[" in coloured and b"config: config/digest.toml" in coloured
    plain = _on_terminal(tmp_path, NO_COLOR="1")
    assert b"\x1b[" not in plain and b"ok   config: config/digest.toml" in plain


def test_check_on_the_packaged_defaults_says_to_run_init(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["check"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith("warn config: no ./config/digest.toml here")
    assert "`digest init`" in lines[0]
    assert "FAIL source newsroom: no file matches config/newsroom/*.txt" in result.output


def test_store_check_sees_a_store_from_before_migrations(
    settings: Settings, tmp_path: Path
) -> None:
    import sqlite3

    from .helpers import DATA

    database = tmp_path / "old.db"
    with sqlite3.connect(database) as conn:
        conn.executescript((DATA / "release-0.1" / "schema.sqlite.sql").read_text())
    result = check_store(replace(settings, database_url=f"sqlite:///{database}"))
    assert result.status == "warn"
    assert "the release before migrations" in result.detail and "digest migrate" in result.detail


def test_checks_run_from_async_code_without_blocking_the_loop(
    settings: Settings, relay: tuple[SMTPRecorder, int]
) -> None:
    import asyncio

    from digest.checks import run_checks_async

    _, port = relay
    smtp = with_smtp(settings, f"smtp://{SMTP_USER}:s3cret%20pass@127.0.0.1:{port}")

    async def console() -> tuple[list, object]:
        inline = check_smtp(smtp)  # called directly inside a running loop
        return await run_checks_async(smtp), inline

    results, inline = asyncio.run(console())
    assert {r.name: r.status for r in results}["smtp"] == "ok"
    assert inline.status == "ok"


def test_output_check_names_a_folder_that_cannot_be_written(
    settings: Settings, tmp_path: Path
) -> None:
    assert check_output(settings).status == "ok"
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = check_output(replace(settings, output_dir=blocker / "public"))
    assert result.status == "fail"
    assert result.detail.startswith(f"feeds.output: cannot write {blocker / 'public'}")
