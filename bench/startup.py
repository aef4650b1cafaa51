"""Start-up: `digest parse` of one seed page against `python -c pass`, run alternately in
the same session, and the heavy libraries each command loads.

Run: .venv/bin/python bench/startup.py [--runs 20]
Goal (issues 12, 23): parse within 6x of `python -c pass`, measured from a wheel install.
The bench builds the project's wheel (python -m build, as tests/test_install.py does) and
installs it into a fresh virtual environment in a temporary folder, whose dependencies are
this environment's (a .pth line naming its site-packages, so no download is needed; .pth
files found there are not run, so the editable install's import finder is not loaded).
The ratio is taken against that environment's own `python -c pass`; the editable install
(`make install`) is measured beside it, for comparison. Times are wall-clock medians of
alternate runs, with the CPU time (user + system) of the same runs beside them, which the
machine's load moves less: on a loaded machine, run it twice.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(os.environ.get("BENCH_ROOT") or Path(__file__).resolve().parent.parent)
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


def timed(command: list[str], cwd: Path) -> tuple[float, float]:
    """Wall-clock and CPU seconds (user + system) of one run of a command."""
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu


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


def wheel_install(folder: Path) -> Path:
    """A fresh virtual environment holding the project's wheel; returns its bin folder."""
    dist, venv = folder / "dist", folder / "venv"
    quiet = {"check": True, "capture_output": True}
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)], **quiet)
    (wheel,) = dist.glob("*.whl")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], **quiet)
    target = subprocess.run(
        [str(venv / "bin/python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        **quiet,
        text=True,
    ).stdout.strip()
    subprocess.run(
        [*pip, "install", "--no-deps", "--quiet", "--target", target, str(wheel)], **quiet
    )
    here = sysconfig.get_path("purelib")
    (Path(target) / "_bench_dependencies.pth").write_text(here + "\n")
    script = venv / "bin/digest"
    script.write_text(
        f"#!{venv / 'bin/python'}\nimport sys\nfrom digest.cli import main\nsys.exit(main())\n"
    )
    script.chmod(0o755)
    return venv / "bin"


def ratio(python: str, digest: str, runs: int, cwd: Path) -> list[tuple[float, float]]:
    """Median milliseconds of `python -c pass` and of `digest parse SEED`, run alternately:
    wall clock, then CPU (which a loaded machine moves less)."""
    bare, parse = [], []
    for _ in range(runs):
        bare.append(timed([python, "-c", "pass"], cwd))
        parse.append(timed([digest, "parse", str(SEED)], cwd))
    return [
        (
            statistics.median(b[i] for b in bare) * 1000,
            statistics.median(p[i] for p in parse) * 1000,
        )
        for i in (0, 1)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as folder:
        cwd = Path(folder) / "empty"
        cwd.mkdir()
        wheel_bin = wheel_install(Path(folder))
        print(f"startup: median of {runs} runs each, from an empty folder (SEED = {SEED.name})")
        for name, python, digest in (
            ("wheel install", str(wheel_bin / "python"), str(wheel_bin / "digest")),
            ("editable install", sys.executable, DIGEST),
        ):
            (python_ms, parse_ms), (python_cpu, parse_cpu) = ratio(python, digest, runs, cwd)
            goal = "  (goal <= 6x)" if name == "wheel install" else ""
            print(f"  {name}:                wall       CPU")
            print(f"    python -c pass        {python_ms:7.1f} ms {python_cpu:7.1f} ms")
            print(f"    digest parse SEED     {parse_ms:7.1f} ms {parse_cpu:7.1f} ms")
            print(
                f"    ratio                 {parse_ms / python_ms:7.1f}x   "
                f"{parse_cpu / python_cpu:7.1f}x{goal}"
            )
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
