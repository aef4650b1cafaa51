"""A newcomer's first run (issue 18), through the installed `digest` script: a new
newsroom folder works before it has a source, publish prints a summary, the sample is
clean, the weekly says whom it leaves out, check explains its counts, `run --port` keeps
its links on that port, and .env.example says what ADMIN_PASSWORD does."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx

from .helpers import DIGEST, free_port, run


def newcomer(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`digest` in a newsroom folder, with none of the caller's settings."""
    skipped = ("BASE_URL", "DATABASE_URL", "SMTP_URL", "SECRET_KEY", "PORT")
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith("DIGEST_") and k not in skipped
    }
    return subprocess.run(
        [DIGEST, *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=300
    )


def test_a_new_newsroom_without_the_sample_checks_and_publishes(tmp_path: Path) -> None:
    assert newcomer("init", "news", cwd=tmp_path).returncode == 0
    folder = tmp_path / "news"
    config = (folder / "config" / "digest.toml").read_text()
    assert "config/newsroom" not in config, "no sample source without --sample"
    assert '# [[sources]]\n# name = "newsroom"\n# kind = "html"' in config
    check = newcomer("check", cwd=folder)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "warn sources: no source yet" in check.stdout
    published = newcomer("publish", cwd=folder)
    assert published.returncode == 0, published.stdout + published.stderr
    assert "no source yet" in published.stdout
    assert (folder / "public" / "feeds" / "all.atom").exists()


def test_env_example_says_what_admin_password_does(tmp_path: Path) -> None:
    assert newcomer("init", "news", cwd=tmp_path).returncode == 0
    env = (tmp_path / "news" / ".env.example").read_text()
    assert "the console is off" not in env
    assert "/admin/first-admin" in env and "digest staff add" in env


def test_publish_prints_a_summary_and_the_sample_is_clean(tmp_path: Path) -> None:
    published = run("publish", tmp_path=tmp_path)
    assert published.returncode == 0, published.stderr
    assert published.stderr == "", "the shipped sample reads without a warning"
    assert (
        "wrote public" not in published.stdout and "wrote " + str(tmp_path) not in published.stdout
    )
    assert re.search(
        r"wrote 13 feed files and \d+ pages into .*public/ \(--list names them\)", published.stdout
    )
    assert len(published.stdout.splitlines()) <= 4
    again = run("publish", "--list", tmp_path=tmp_path)
    assert "wrote nothing: no feed or page changed" in again.stdout
    (tmp_path / "public" / "index.html").unlink()
    listed = run("publish", "--list", tmp_path=tmp_path)
    assert f"wrote {tmp_path / 'public' / 'index.html'}" in listed.stdout
    verbose = run("-v", "publish", tmp_path=tmp_path)
    assert verbose.returncode == 0


def test_weekly_says_whom_it_leaves_out_and_check_explains_its_count(tmp_path: Path) -> None:
    assert run("publish", tmp_path=tmp_path).returncode == 0
    imported = run("subscribers", "import", "config/subscribers.example.csv", tmp_path=tmp_path)
    assert "5 added" in imported.stdout
    weekly = run(
        "weekly",
        "--as-of",
        "2026-11-22",
        tmp_path=tmp_path,
        DIGEST_SENDER_OUTBOX=str(tmp_path / "out"),
    )
    assert weekly.returncode == 0, weekly.stderr
    assert "for 4 of 5 active contacts; not for 1 with digests off" in weekly.stdout
    check = run("check", tmp_path=tmp_path)
    assert "source newsroom: 24 items (some are one item on several pages" in check.stdout
    assert "`digest publish` counts each item once" in check.stdout


def test_run_on_another_port_keeps_links_on_that_port(tmp_path: Path) -> None:
    assert newcomer("init", "news", "--sample", cwd=tmp_path).returncode == 0
    folder = tmp_path / "news"
    assert newcomer("publish", cwd=folder).returncode == 0
    port = free_port()
    skipped = ("BASE_URL", "DATABASE_URL", "SMTP_URL", "SECRET_KEY", "PORT")
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith("DIGEST_") and k not in skipped
    }
    process = subprocess.Popen(
        [DIGEST, "run", "--port", str(port)],
        cwd=folder,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 60
        while True:
            try:
                home = httpx.get(base, timeout=30)
                if home.status_code != 503:  # the folder is being written for this address
                    break
                assert "retry-after" in home.headers and "try again" in home.text.lower()
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.2)
        assert home.status_code == 200
        assert base + "news/" in home.text
        assert "127.0.0.1:8000" not in home.text
        feed = httpx.get(base + "feeds/all.atom", timeout=30)
        assert base + "feeds/all.atom" in feed.text
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert f"BASE_URL is not set: links in feeds, pages and emails use {base}" in stderr
