"""Start-up: `digest parse` of one seed page against `python -c pass`, run alternately in
the same session, and the heavy libraries each command loads.

Run: .venv/bin/python bench/startup.py [--runs 20]
Goal (issue 12): parse within 6x of `python -c pass`. An editable install (`make install`)
adds its import finder to every start; a wheel install does not.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = sorted((ROOT / "tests/data/seeds").glob("*.txt"))[0]
DIGEST = str(Path(sys.executable).parent / "digest")
HEAVY = (
    "sqlalchemy", "premailer", "feedgen", "lxml", "httpx", "feedparser", "jinja2",
    "aiosmtplib", "rich", "starlette", "uvicorn", "apscheduler", "dkim", "email_validator",
)  # fmt: skip
LOADED = """
import sys
from digest.cli import main
try:
    main(sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))
print(" ".join(heavy) or "-", file=sys.stderr)
"""


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def loaded_by(args: list[str], cwd: Path) -> str:
    program = f"HEAVY = {HEAVY!r}\n{LOADED}"
    result = subprocess.run(
        [sys.executable, "-c", program, *args], cwd=cwd, capture_output=True, text=True
    )
    return result.stderr.strip().splitlines()[-1]


def slowest_imports(args: list[str], cwd: Path, count: int = 8) -> list[tuple[int, str]]:
    """The modules whose own import takes longest (python -X importtime, self time)."""
    program = "import sys\nfrom digest.cli import main\nmain(sys.argv[1:], standalone_mode=False)"
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", program, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    rows = []
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            own, _cumulative, name = line.removeprefix("import time:").split("|")
            if own.strip().isdigit():
                rows.append((int(own), name.strip()))
    return sorted(rows, reverse=True)[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as folder:
        cwd = Path(folder)
        bare, parse = [], []
        for _ in range(runs):
            bare.append(timed([sys.executable, "-c", "pass"], cwd))
            parse.append(timed([DIGEST, "parse", str(SEED)], cwd))
        python_ms = statistics.median(bare) * 1000
        parse_ms = statistics.median(parse) * 1000
        print(f"startup: median of {runs} runs each, from an empty folder")
        print(f"  python -c pass          {python_ms:7.1f} ms")
        print(f"  digest parse SEED       {parse_ms:7.1f} ms  (SEED = {SEED.name})")
        print(f"  ratio                   {parse_ms / python_ms:7.1f}x  (goal <= 6x)")
        print("slowest imports of digest parse (python -X importtime, self time):")
        for microseconds, name in slowest_imports(["parse", str(SEED)], cwd):
            print(f"  {microseconds / 1000:7.1f} ms  {name}")
        print("heavy libraries loaded per command:")
        for args in (["--help"], ["parse", str(SEED)], ["init", "news"], ["--version"]):
            print(f"  digest {args[0]:<18} {loaded_by(args, cwd)}")
        news = cwd / "news"
        for args in (["feeds"], ["subscribers", "list"], ["weekly", "--dry-run"], ["check"]):
            print(f"  digest {' '.join(args):<18} {loaded_by(args, news)}")


if __name__ == "__main__":
    main()
