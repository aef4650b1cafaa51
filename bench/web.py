"""Feed requests per second from the web process (`digest serve`, one uvicorn worker),
side by side with nginx serving the same folder: full responses and 304s for
If-None-Match, measured with wrk on 127.0.0.1 in the same run, printed as ratios to nginx
with p99 latencies (goals: at least 0.5 of nginx for each (issue 23; 0.25 in issue 12),
p99 at most 5 ms).

Run: .venv/bin/python bench/web.py [--seconds 10] [--connections 32]
Needs nginx and wrk (Debian packages; `make bench` installs them when absent).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
FEED = "feeds/all.atom"
NGINX_CONF = """
daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  types {{ application/atom+xml atom; application/rss+xml rss; application/feed+json json; }}
  client_body_temp_path {folder}/tmp; proxy_temp_path {folder}/tmp;
  fastcgi_temp_path {folder}/tmp; uwsgi_temp_path {folder}/tmp; scgi_temp_path {folder}/tmp;
  server {{ listen 127.0.0.1:{port}; root {root}; etag on; }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str) -> str:
    """The feed's ETag once the server answers it; a web process started on a folder
    written for another address answers 503 (try again) while it writes it again."""
    for _ in range(600):
        try:
            response = httpx.get(url, headers={"Accept-Encoding": "identity"})
        except httpx.HTTPError:
            time.sleep(0.05)
            continue
        if response.status_code == 503:
            time.sleep(0.05)
            continue
        if "etag" not in response.headers:
            raise SystemExit(f"{url} answered {response.status_code} without an ETag")
        return response.headers["etag"]
    raise SystemExit(f"{url} did not come up")


GOAL_RATIO = 0.5  # issue 23 (issue 12 asked 0.25)
GOAL_P99_MS = 5.0
UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def milliseconds(figure: str) -> float:
    """wrk's latency figure (e.g. 812.00us, 2.31ms, 1.02s) in milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", figure)
    if match is None:
        raise SystemExit(f"cannot read wrk's latency figure {figure!r}")
    return float(match[1]) * UNITS_MS[match[2]]


def wrk(url: str, seconds: int, connections: int, etag: str | None = None) -> tuple[float, float]:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if etag:
        command[1:1] = ["-H", f"If-None-Match: {etag}"]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p99 = re.search(r"99%\s+(\S+)", output)
    if p99 is None:
        raise SystemExit(f"wrk printed no p99:\n{output}")
    return rate, milliseconds(p99.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    for tool in ("nginx", "wrk"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            raise SystemExit(f"{tool} is not installed (apt-get install nginx-light wrk)")
    with tempfile.TemporaryDirectory() as folder:
        Path(folder).chmod(0o755)  # nginx's workers run as another user
        public = Path(folder) / "public"
        env = {
            **os.environ,
            "DIGEST_FEEDS_OUTPUT": str(public),
            "DATABASE_URL": f"sqlite:///{folder}/bench.db",
            "WEB_CONCURRENCY": "1",
        }
        digest = str(Path(sys.executable).parent / "digest")
        subprocess.run([digest, "publish"], cwd=ROOT, env=env, check=True, capture_output=True)
        (Path(folder) / "tmp").mkdir()
        web_port, nginx_port = free_port(), free_port()
        conf = Path(folder) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(folder=folder, port=nginx_port, root=public))
        servers = [
            subprocess.Popen(
                [digest, "serve", "--port", str(web_port)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ),
            subprocess.Popen(
                [shutil.which("nginx") or "/usr/sbin/nginx", "-c", str(conf)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ),
        ]
        try:
            print(
                f"GET /{FEED} ({(public / FEED).stat().st_size:,} bytes), wrk -t2 "
                f"-c{args.connections} -d{args.seconds}s on 127.0.0.1"
            )
            print(f"{'server':<22} {'response':<9} {'requests/s':>11} {'p99':>10}")
            results: dict[tuple[str, str], tuple[float, float]] = {}
            for name, port in (("digest serve", web_port), ("nginx", nginx_port)):
                url = f"http://127.0.0.1:{port}/{FEED}"
                etag = wait_until_up(url)
                for kind, tag in (("200 full", None), ("304", etag)):
                    rate, p99 = wrk(url, args.seconds, args.connections, tag)
                    results[name, kind] = rate, p99
                    print(f"{name:<22} {kind:<9} {rate:>11,.0f} {p99:>8.2f}ms")
            print()
            for kind in ("200 full", "304"):
                ours, theirs = results["digest serve", kind], results["nginx", kind]
                ratio = ours[0] / theirs[0]
                verdict = "met" if ratio >= GOAL_RATIO and ours[1] <= GOAL_P99_MS else "NOT met"
                print(
                    f"{kind:<9} digest serve / nginx = {ratio:.2f}  "
                    f"(goal >= {GOAL_RATIO}, p99 {ours[1]:.2f} ms, goal <= {GOAL_P99_MS} ms: "
                    f"{verdict})"
                )
        finally:
            for server in servers:
                server.terminate()
                server.wait()


if __name__ == "__main__":
    main()
