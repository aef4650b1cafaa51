"""SpamAssassin's verdict on every kind of mail the program sends: each built as the sender
builds it (tests/helpers.py every_mail), written to `var/spamcheck/KIND.eml`, and run
through `spamassassin -t -L -D` (local tests only: no DNS, no network). Prints one line per
kind with its score and the rules it hit, and keeps the full report and debug log next to
each .eml; exits 1 when any mail scores above 0 points. A manual check, not part of
`make test` (`make spamcheck` installs SpamAssassin when absent).

Run: .venv/bin/python bench/spamcheck.py [--out var/spamcheck] [--base-url URL]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest.config import load_settings  # noqa: E402
from tests.helpers import every_mail  # noqa: E402

RULE = re.compile(r"^\s*(-?\d+\.\d+)\s+([A-Z0-9_]+)\s", re.MULTILINE)
SCORE = re.compile(r"Content analysis details:\s+\((-?\d+\.\d+) points")


def verdict(eml: Path) -> tuple[str, list[str]]:
    """The score and the rules (with their points) SpamAssassin gives one message."""
    run = subprocess.run(
        ["spamassassin", "-t", "-L", "-D"], input=eml.read_bytes(), capture_output=True
    )
    report = run.stdout.decode("utf-8", "replace")
    eml.with_suffix(".report.txt").write_text(report)
    eml.with_suffix(".debug.log").write_bytes(run.stderr)
    details = report.split("Content analysis details:", 1)[-1]
    score = SCORE.search(report)
    rules = [f"{name} {points}" for points, name in RULE.findall(details)]
    return (score[1] if score else "?"), rules


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "spamcheck")
    parser.add_argument("--base-url", default="https://news.harbourlight.example/")
    args = parser.parse_args()
    if shutil.which("spamassassin") is None:
        print("spamassassin is not installed: `make spamcheck` installs it", file=sys.stderr)
        return 1
    settings = load_settings({"DIGEST_CONFIG": str(ROOT / "config" / "digest.toml")})
    settings = replace(settings, base_url=args.base_url, secret_key="spamcheck")
    args.out.mkdir(parents=True, exist_ok=True)
    print("| mail | score | rules hit |\n|---|---|---|")
    scored = []
    for kind, message in every_mail(settings).items():
        eml = args.out / f"{kind}.eml"
        eml.write_bytes(message)
        score, rules = verdict(eml)
        print(f"| {kind} | {score} | {', '.join(rules) or '—'} |", flush=True)
        if score == "?" or float(score) > 0:
            scored.append(kind)
    print(f"messages, reports and debug logs: {args.out}")
    if scored:
        print(f"scored above 0 points (or not judged): {', '.join(scored)}", file=sys.stderr)
    return 1 if scored else 0


if __name__ == "__main__":
    sys.exit(main())
