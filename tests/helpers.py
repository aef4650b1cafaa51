"""Plain helpers shared by the test modules (fixtures live in conftest.py): paths, a real
SMTP handler, servers on ephemeral ports, waiting without assuming a fast machine, the
installed `digest` script, and small builders of items, subscribers and forms."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from lxml import etree
from sqlalchemy import Engine, select, text

from digest.config import Settings
from digest.model import Article, Item, Subscriber
from digest.store import connect, create_schema, metadata, subscribers

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SEEDS = DATA / "seeds"
POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
DIGEST = str(Path(sys.executable).parent / "digest")
ATOM_SCHEMA = etree.RelaxNG(etree.parse(str(DATA / "atom.rng")))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SMTP_USER, SMTP_PASSWORD = "press", "s3cret pass"
SUBSCRIBED = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
# How long a test waits for something that happens in another thread or process before it
# gives up: generous, since a wait returns as soon as the condition holds.
PATIENCE = 60.0


def wait_for(condition: Callable[[], object], seconds: float = PATIENCE) -> None:
    """Wait for work done after an answer (the confirmation email, a delivery), polling
    until `condition()` is true; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fresh_postgres(url: str) -> Engine:
    """An empty store in this run's PostgreSQL schema."""
    engine = connect(url)
    metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version, items_fts"))
    create_schema(engine)
    return engine


class SMTPRecorder:
    """An aiosmtpd handler that keeps every message and can be told to fail: per recipient,
    a list of replies used one per attempt at RCPT or DATA ('drop' closes the connection
    in the middle of DATA); `refuse_mail` / `refuse_rcpt` answer every MAIL FROM / RCPT
    with that reply while set (a relay's full storage or rate limit); `stall_rcpt` names
    recipients whose RCPT is never answered (a callout to a dead server)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.rcpt_replies: dict[str, list[str]] = {}
        self.data_replies: dict[str, list[str]] = {}
        self.data_delay = 0.0
        self.peers: list[tuple[str, int]] = []
        self.refuse_mail: str | None = None
        self.refuse_rcpt: str | None = None
        self.stall_rcpt: set[str] = set()
        self.refusals = 0

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.refuse_mail:
            self.refusals += 1
            return self.refuse_mail
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        import asyncio

        if address in self.stall_rcpt:
            await asyncio.sleep(PATIENCE)
        if self.refuse_rcpt:
            self.refusals += 1
            return self.refuse_rcpt
        replies = self.rcpt_replies.get(address)
        if replies:
            return replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        import asyncio

        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        replies = self.data_replies.get(envelope.rcpt_tos[0])
        if replies:
            reply = replies.pop(0)
            if reply == "drop":
                server.transport.close()
                return "250 never heard"
            return reply
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        self.peers.append(session.peer)
        return "250 2.0.0 queued"

    def parsed(self) -> list:
        """The messages received so far, parsed."""
        from email import message_from_bytes, policy

        return [
            message_from_bytes(content, policy=policy.default) for _, _, content in self.messages
        ]


def smtp_authenticate(server, session, envelope, mechanism, auth_data):  # aiosmtpd's signature
    """aiosmtpd authenticator accepting only SMTP_USER with SMTP_PASSWORD."""
    from aiosmtpd.smtp import AuthResult

    good = auth_data.login == SMTP_USER.encode() and auth_data.password == SMTP_PASSWORD.encode()
    return AuthResult(success=good, handled=good)


def openssl(*args: str) -> None:
    """Run the openssl command line (keys and certificates for TLS and DKIM)."""
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=120)


@contextmanager
def _running(server: object) -> Iterator[None]:
    """A uvicorn server run in a thread for the length of the block."""
    thread = threading.Thread(target=server.run, daemon=True)  # type: ignore[attr-defined]
    thread.start()
    deadline = time.monotonic() + PATIENCE
    while not server.started and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True  # type: ignore[attr-defined]
        thread.join(timeout=PATIENCE)


@contextmanager
def serve(app: object, port: int | None = None) -> Iterator[str]:
    """Run an ASGI app with uvicorn on 127.0.0.1 and an ephemeral port; yields its URL."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    with _running(server):
        yield f"http://127.0.0.1:{port}/"


@contextmanager
def served(app: object, settings: Settings) -> Iterator[str]:
    """The app under uvicorn with the options of `digest serve`, on an ephemeral port."""
    import uvicorn

    from digest.web import server_options

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    for name, value in server_options(settings).items():
        setattr(config, name, value)
    with _running(uvicorn.Server(config)):
        yield f"http://127.0.0.1:{port}/"


def csrf_of(page: str) -> str:
    """The CSRF token of the (first) form on a page."""
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, "every form carries a CSRF token"
    return match.group(1)


def filled(page: str, secret: str = "web-test", **fields: object) -> dict[str, object]:
    """The subscribe form's fields as a person sends them: its CSRF token, and a start time
    ten seconds ago (the form refuses answers faster than a person types)."""
    from digest.web.forms import form_stamp

    assert 'name="started"' in page, "the form carries a signed start time"
    return {"csrf": csrf_of(page), "started": form_stamp(secret, time.time() - 10), **fields}


def run(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The installed `digest` script run from the project root with a store and output in
    `tmp_path`, and no DIGEST_* variables from the caller's environment."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DIGEST_") and key not in ("BASE_URL", "DATABASE_URL")
    }
    environment |= {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'digest.db'}",
        "DIGEST_FEEDS_OUTPUT": str(tmp_path / "public"),
        **env,
    }
    return subprocess.run(
        [DIGEST, *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300
    )


def item(title: str, day: int, item_type: str | None, month: int = 11, **more: str) -> Item:
    """A Harbourlight item of 2026 published at 15:00 UTC on that day."""
    slug = re.sub(r"\W+", "-", title)
    return Item(
        key=f"https://harbourlight.example/newsroom/{month}-{day}-{slug}",
        title=title,
        published=datetime(2026, month, day, tzinfo=UTC) + timedelta(hours=15),
        type=item_type,
        summary=more.get("summary", f"Summary of {title}."),
        url=f"https://harbourlight.example/newsroom/{day}/",
        image_caption=more.get("caption"),
        source="test",
    )


def report_item(title: str, at: datetime, **more: object) -> Item:
    """A Harbourlight report published at `at`, its address made from its title; `more`
    sets any other field (another type, another summary)."""
    slug = title.lower().replace(" ", "-")
    fields = {"type": "reports", "summary": f"Summary of {title}.", "source": "test"} | more
    return Item(
        key=f"https://harbourlight.example/newsroom/{slug}/",
        title=title,
        published=at,
        url=f"https://harbourlight.example/newsroom/{slug}/",
        **fields,  # type: ignore[arg-type]
    )


def subscribe(engine: Engine, email: str, name: str = "", **options: object) -> int:
    """Add a press contact (subscribed at SUBSCRIBED) and return its id."""
    from digest.subscribers import add_subscriber

    add_subscriber(engine, Subscriber(email=email, name=name, **options), SUBSCRIBED)  # type: ignore[arg-type]
    with engine.connect() as conn:
        return conn.execute(
            select(subscribers.c.id).where(subscribers.c.email == email)
        ).scalar_one()


def send_at(engine: Engine, settings: Settings, at: datetime) -> None:
    """Run the sender once with its clock fixed at `at`."""
    from digest import actions

    actions.send(engine, settings, clock=lambda: at)


def digest_text(recorder: SMTPRecorder, address: str, prefix: str = "Weekly") -> str:
    """The plain-text body of the last email to `address` whose subject starts with `prefix`."""
    found = [
        m
        for m in recorder.parsed()
        if m["Subject"].startswith(prefix) and m["To"].addresses[0].addr_spec == address
    ]
    assert found, f"no {prefix} email to {address}"
    return found[-1].get_body(("plain",)).get_content()


def section(text: str, title: str) -> str:
    """The lines of a plain-text digest section, up to the next section or the footer."""
    after = text.split(f"== {title} ==", 1)[1]
    return after.split("==", 1)[0].split("\n--\n", 1)[0]


def shot(page: Page, folder: Path, name: str) -> None:
    """Save a full-page screenshot of `page` as `folder/name.png`."""
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
    assert (folder / f"{name}.png").stat().st_size > 1000


DOVECOT = "/usr/sbin/dovecot"
IMAP_USER, IMAP_PASSWORD = "bounces", "imap s3cret"


@contextmanager
def dovecot(cert: Path, key: Path) -> Iterator[tuple[int, Path]]:
    """A real Dovecot IMAP server (Debian's dovecot-imapd) on 127.0.0.1 and an ephemeral
    port, IMAPS only, with one passwd-file user (IMAP_USER) whose Maildir is returned. Its
    runtime folder is short-named under /tmp (a socket path holds at most 107 bytes)."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="dc", dir="/tmp"))
    folder.chmod(0o755)  # the auth process (user dovecot) reads the passwd file
    port = free_port()
    home = folder / "home"
    maildir = home / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (folder / "passwd").write_text(f"{IMAP_USER}:{{PLAIN}}{IMAP_PASSWORD}::::{home}\n")
    uid, gid = os.getuid(), os.getgid()
    if uid == 0:  # Dovecot never reads mail as root: the mailbox belongs to nobody
        import pwd

        nobody = pwd.getpwnam("nobody")
        uid, gid = nobody.pw_uid, nobody.pw_gid
        for path in [home, *home.rglob("*")]:
            os.chown(path, uid, gid)
    config = folder / "dovecot.conf"
    config.write_text(
        f"""
base_dir = {folder}/run
state_dir = {folder}/state
log_path = {folder}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
auth_mechanisms = plain
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {folder}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={home}
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""
    )
    process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        import socket

        def listening() -> bool:
            assert process.poll() is None, _dovecot_log(folder, process)
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", port)) == 0

        wait_for(listening)
        yield port, maildir
    finally:
        process.terminate()
        try:
            process.wait(timeout=PATIENCE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if not os.environ.get("KEEP_DOVECOT"):
            shutil.rmtree(folder, ignore_errors=True)


def _dovecot_log(folder: Path, process: subprocess.Popen[bytes]) -> str:
    output = process.stdout.read().decode(errors="replace") if process.stdout else ""
    log = folder / "dovecot.log"
    return output + (log.read_text(errors="replace") if log.exists() else "")


def storm_item(now: datetime) -> Item:
    """The breaking item the sender's tests send: published an hour before `now`."""
    return Item(
        key="https://harbourlight.example/newsroom/storm",
        title="Storm warning",
        published=now - timedelta(hours=1),
        type="updates",
        summary="Harbour closed.",
        url="https://harbourlight.example/newsroom/storm",
        source="test",
    )


REPORT_PDF_BYTES = 1_234_567
LEAD_PHOTO = "https://harbourlight.example/media/dune-planting.jpg"


def full_article(slug: str = "dunes", **more: object) -> Article:
    """What a read item page holds, sanitised as the reader stores it: a few paragraphs,
    the lead photo with alt text, caption and credit, the report PDF with its exact size,
    an annex of unknown size and a press contact."""
    from digest.model import Contact, Document

    body = (
        f"<p>Volunteers planted 4,000 marram grass seedlings ({slug}).</p>"
        "<h2>What happens next</h2><p>The council will monitor the <em>dunes</em> "
        '<a href="https://harbourlight.example/coast/">along the coast</a>.</p>'
    )
    values: dict[str, object] = {
        "body_html": body,
        "body_text": f"Volunteers planted 4,000 marram grass seedlings ({slug}).\n\n"
        "What happens next\n\nThe council will monitor the dunes along the coast.",
        "image_url": LEAD_PHOTO,
        "image_alt": "Volunteers kneel in the sand planting grass",
        "image_caption": "Planting day on the north dune",
        "image_credit": "Photo: Ana Ruiz/Harbourlight",
        "documents": (
            Document(
                f"https://harbourlight.example/files/{slug}-report.pdf",
                "Dune restoration report",
                "application/pdf",
                REPORT_PDF_BYTES,
            ),
            Document(
                f"https://harbourlight.example/files/{slug}-annex.xlsx",
                "Planting figures",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                None,
            ),
        ),
        "contact": Contact("Dana Reyes", "dana.reyes@harbourlight.example", "+1 555 0100"),
        "language": "en",
        "fingerprint": f"sha256:{slug}",
    }
    return Article(**(values | more))  # type: ignore[arg-type]


Route = tuple[int, dict[str, str], bytes, int]


class LiveSite:
    """A newsroom website for the item-page tests, an ASGI app to run with `serve`: pages
    set per test (a body sent `repeat` times makes a big one), every request logged as
    (method, path with query, headers), a conditional GET answered 304 when the ETag
    matches, and the most requests it was serving at once (each held `pause` seconds)."""

    def __init__(self, pause: float = 0.0) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.pause = pause
        self.active = 0
        self.most = 0

    def page(
        self,
        path: str,
        body: bytes | str = b"",
        *,
        status: int = 200,
        content_type: str = "text/html; charset=utf-8",
        repeat: int = 1,
        **headers: str,
    ) -> None:
        """Serve `body` at `path` (headers given as keyword arguments, `_` for `-`; an
        empty content_length sends the body chunked, its size unsaid)."""
        data = body.encode() if isinstance(body, str) else body
        named = {key.replace("_", "-").lower(): value for key, value in headers.items()}
        self.routes[path] = (status, {"content-type": content_type, **named}, data, repeat)

    def paths(self, method: str = "GET") -> list[str]:
        """The paths asked for with `method`, in order."""
        return [path for asked, path, _ in self.requests if asked == method]

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        import asyncio

        if scope["type"] != "http":
            return
        query = scope.get("query_string", b"").decode()
        path = scope["path"] + (f"?{query}" if query else "")
        asked = {key.decode().lower(): value.decode() for key, value in scope["headers"]}
        self.requests.append((scope["method"], path, asked))
        self.active += 1
        self.most = max(self.most, self.active)
        try:
            await asyncio.sleep(self.pause)
            status, headers, body, repeat = self.routes.get(
                path, (404, {"content-type": "text/plain"}, b"not here", 1)
            )
            if headers.get("etag") and asked.get("if-none-match") == headers["etag"]:
                status, body, repeat = 304, b"", 1
            await self._answer(send, scope["method"], status, headers, body, repeat)
        finally:
            self.active -= 1

    @staticmethod
    async def _answer(
        send: Callable, method: str, status: int, headers: dict[str, str], body: bytes, repeat: int
    ) -> None:
        headers = {"content-length": str(len(body) * repeat), **headers}
        raw = [(key.encode(), value.encode()) for key, value in headers.items() if value]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        if method == "HEAD" or status == 304:
            await send({"type": "http.response.body", "body": b""})
            return
        try:
            for left in range(repeat, 0, -1):
                await send({"type": "http.response.body", "body": body, "more_body": left > 1})
        except OSError:
            pass


def every_mail(settings: Settings, now: datetime = SUBSCRIBED) -> dict[str, bytes]:
    """One copy of every kind of mail the program sends, as the sender builds it (the
    bytes an SMTP relay or the outbox gets): digests with photos, documents, an alert in
    full and one cut to fit, mail under embargo and its change notice, a correction, and
    the confirmation, "already subscribed", welcome and test-send mails."""
    from dataclasses import replace
    from datetime import date

    from digest.mailings import CorrectionEntry
    from digest.messages import Recipient, build_message
    from digest.model import ALL_TYPES
    from digest.render import (
        render_already,
        render_breaking,
        render_confirm,
        render_correction,
        render_embargoed,
        render_weekly,
        render_welcome,
    )

    pictured = [
        replace(item(f"Dune planting {n}", 16 + n, "press-releases"), article=full_article(f"d{n}"))
        for n in range(3)
    ]
    plain = [item("Harbour dredging update", 20, "updates"), item("Annual report", 19, "reports")]
    week, days = date(2026, 11, 22), date(2026, 11, 20)
    fix = CorrectionEntry(1, "Dune planting 0", pictured[0].url, "The date was wrong.", now)
    alert = pictured[0]
    long_text = "".join(f"<p>Paragraph {n}: {'sand and grass ' * 60}</p>" for n in range(400))
    long_alert = replace(alert, article=full_article("long", body_html=long_text))
    lift = now + timedelta(days=1)
    site = settings.base_url.rstrip("/")
    reader = Subscriber(id=1, email="ana@paper.example", name="Ana Ruiz")
    bodies = {
        "weekly": render_weekly(settings, [*pictured, *plain], week, ALL_TYPES, corrections=[fix]),
        "daily": render_weekly(settings, [*pictured, *plain], days, ALL_TYPES, kind="daily"),
        "breaking": render_breaking(settings, alert, ALL_TYPES),
        "breaking-cut": render_breaking(settings, long_alert, ALL_TYPES),
        "embargoed": render_embargoed(settings, alert, lift, 7),
        "embargo-moved": render_embargoed(settings, alert, lift, 7, notice="Embargo moved"),
        "correction": render_correction(settings, alert, ["The date was wrong."]),
        "confirm": render_confirm(settings, f"{site}/confirm/abc", 48),
        "already": render_already(settings, f"{site}/preferences/abc"),
        "welcome": render_welcome(settings, reader),
    }
    recipient = Recipient(1, reader.email, reader.name)
    return {
        kind: build_message(settings, 7, body, recipient, now)
        for kind, body in bodies.items()
        if body is not None
    }
