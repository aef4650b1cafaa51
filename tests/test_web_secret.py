"""SECRET_KEY in production: a long-running process for a public BASE_URL refuses to start
without it, and processes that make the local key at the same moment all get the same one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .helpers import ROOT, free_port

DIGEST = str(Path(sys.executable).parent / "digest")


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DIGEST_")
        and key not in ("BASE_URL", "DATABASE_URL", "SECRET_KEY", "WEB_CONCURRENCY", "PORT")
    }
    return clean | {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'digest.db'}",
        "DIGEST_FEEDS_OUTPUT": str(tmp_path / "public"),
        **extra,
    }


@pytest.mark.parametrize("command", ["serve", "clock", "run"])
def test_a_public_base_url_without_secret_key_refuses_to_start(
    tmp_path: Path, command: str
) -> None:
    env = environment(tmp_path, BASE_URL="https://press.example.org/")
    result = subprocess.run(
        [DIGEST, command, "--port", str(free_port())] if command != "clock" else [DIGEST, command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "SECRET_KEY is not set" in result.stderr
    assert "https://press.example.org/" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_short_secret_key_is_refused_in_production(tmp_path: Path) -> None:
    env = environment(tmp_path, BASE_URL="https://press.example.org/", SECRET_KEY="short")
    result = subprocess.run(
        [DIGEST, "clock"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1 and "too short" in result.stderr


def test_a_local_base_url_runs_on_the_generated_key(tmp_path: Path) -> None:
    port = free_port()
    env = environment(tmp_path)
    server = subprocess.Popen(
        [DIGEST, "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz")
                break
            except httpx.HTTPError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "the web process did not come up"
                time.sleep(0.1)
        assert health.status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=60)


def test_processes_making_the_local_key_together_share_it(tmp_path: Path) -> None:
    code = "from digest.config import _local_secret; print(_local_secret())"
    starters = [
        subprocess.Popen(
            [sys.executable, "-c", code], cwd=tmp_path, stdout=subprocess.PIPE, text=True
        )
        for _ in range(8)
    ]
    keys = {starter.communicate(timeout=60)[0].strip() for starter in starters}
    assert len(keys) == 1 and len(keys.pop()) >= 32
    secret_file = tmp_path / "var" / "secret_key"
    assert oct(secret_file.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in secret_file.parent.iterdir()] == ["secret_key"], "no drafts left"
