"""`digest init`: a new newsroom folder made from the files packaged with the program —
the commented configuration, an environment template, an empty press list, next steps,
and with `sample` the sample newsroom. Nothing existing is ever overwritten."""

from __future__ import annotations

from pathlib import Path

from digest.errors import DigestError
from digest.resources import packaged_config, packaged_templates

# The columns `digest subscribers import` reads (digest.subscribers.CSV_COLUMNS).
PRESS_LIST_HEADER = "email,name,outlet,types,weekly,breaking,cadence\n"

ENV_EXAMPLE = """\
# Environment of a newsroom-digest deployment. Copy to .env (never commit it) and load it
# with your process manager, or `set -a; . ./.env; set +a` in a shell.

# Public address of the web process: feed self links and links in emails.
BASE_URL=https://press.example.org/
# Signs subscriber links; a long random string, the same on every machine. Changing it
# breaks the links in emails already sent. Make one with:
#   python -c "import secrets; print(secrets.token_urlsafe(32))"
SECRET_KEY=
# SMTP relay: smtp://user:pass@host:587 (STARTTLS) or smtps://user:pass@host:465.
# Unset: every message is written to the outbox folder instead.
SMTP_URL=
# Store: unset for SQLite in var/; postgresql://user:pass@host/db for PostgreSQL.
DATABASE_URL=
# Creates the first admin account, once: open /admin/first-admin and give this password
# (or its PBKDF2 hash from an earlier release); unset it afterwards. Unset, the console
# still works for accounts made with `digest staff add you@example.org --role admin`;
# with no account and no ADMIN_PASSWORD it answers 503 and says how to start.
ADMIN_PASSWORD=
# Another configuration file than config/digest.toml.
# DIGEST_CONFIG=config/digest.toml
# Any setting: DIGEST_<SECTION>_<KEY>, e.g.
# DIGEST_FEEDS_SIZE=20
# Port of `digest serve` / `digest run` (listens on all interfaces when set).
# PORT=8000
"""

GITIGNORE = """\
.env
var/
public/
outbox/
"""

README = """\
# {name}

A newsroom folder for newsroom-digest. Run every `digest` command from this folder.

Next steps:

1. Edit `config/digest.toml`: the `[newsroom]` name, address and time zone, the item
   `[[types]]`, and the `[[sources]]` to read (a file, a glob of files or an http(s)
   URL of the newsroom's listing page).{sample_note}
2. Copy `.env.example` to `.env` and fill in `BASE_URL`, `SECRET_KEY` and `SMTP_URL`
   (or leave `SMTP_URL` empty to write emails to `outbox/`).
3. Run `digest check`: one line per check, with what to fix; it exits 1 until
   everything that must be fixed is.
4. Put the press list in `config/subscribers.csv` (one row per contact; `types` lists
   type labels separated by `;`, empty for all) and run
   `digest subscribers import config/subscribers.csv`.
5. `digest publish` writes the feeds to `public/`; `digest weekly --preview preview`
   shows this week's digest without sending it; `digest run` serves the feeds and the
   subscriber pages and sends on schedule.

To restyle the emails or pages, copy a template from
`{templates}` into `templates/` here (same sub-folder and name): a file there replaces
the packaged one of the same name, the others stay as shipped.
"""

SAMPLE_NOTE = """
   The sample newsroom in `config/newsroom/` and the sample press list
   `config/subscribers.example.csv` are there to try it: `digest publish`, then
   `digest subscribers import config/subscribers.example.csv` and
   `digest weekly --as-of 2026-11-22 --preview preview`."""


# A new newsroom without the sample: one commented example in place of the sample sources.
EXAMPLE_SOURCE = """\
# No source yet: `digest check` and `digest publish` work, and say so. Add your newsroom's
# listing page, for example (`digest parse saved-page.html` shows what it reads first):
# [[sources]]
# name = "newsroom"
# kind = "html"
# location = "https://example.org/news/"
# interval = 15

"""


def without_sample_sources(config: str) -> str:
    """The packaged configuration with its sample [[sources]] (which read the sample pages
    in config/newsroom/) replaced by one commented example source."""
    start, end = config.find("\n[[sources]]\n"), config.find("\n[feeds]\n")
    if start < 0 or end < start:
        raise DigestError("the packaged config/digest.toml has no [[sources]] before [feeds]")
    return config[: start + 1] + EXAMPLE_SOURCE + config[end + 1 :]


def newsroom_files(sample: bool) -> dict[Path, bytes]:
    """The files `digest init` writes, by path relative to the new folder."""
    config = packaged_config()
    settings_file = (config / "digest.toml").read_text(encoding="utf-8")
    if not sample:
        settings_file = without_sample_sources(settings_file)
    files = {
        Path("config/digest.toml"): settings_file.encode(),
        Path(".env.example"): ENV_EXAMPLE.encode(),
        Path(".gitignore"): GITIGNORE.encode(),
        Path("config/subscribers.csv"): PRESS_LIST_HEADER.encode(),
    }
    if sample:
        files[Path("config/subscribers.example.csv")] = (
            config / "subscribers.example.csv"
        ).read_bytes()
        for page in sorted((config / "newsroom").iterdir()):
            if page.is_file():
                files[Path("config/newsroom") / page.name] = page.read_bytes()
    return files


def create_newsroom(folder: Path, sample: bool = False) -> list[Path]:
    """Write a new newsroom folder and return the files written. Refuses, writing nothing,
    when any of them already exists."""
    files = newsroom_files(sample)
    readme = README.format(
        name=folder.resolve().name,
        sample_note=SAMPLE_NOTE if sample else "",
        templates=packaged_templates(),
    )
    files[Path("README.md")] = readme.encode()
    if folder.exists() and not folder.is_dir():
        raise DigestError(f"{folder}: exists and is not a folder; nothing written")
    existing = [str(folder / path) for path in files if (folder / path).exists()]
    if existing:
        raise DigestError(
            f"{folder}: would overwrite {', '.join(sorted(existing))}; nothing written "
            "(move them away or choose another folder)"
        )
    written: list[Path] = []
    for path, data in files.items():
        target = folder / path
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("xb") as out:
                out.write(data)
        except OSError as exc:
            raise DigestError(
                f"{folder}: cannot write {target}: {exc.strerror or exc} "
                f"({len(written)} files written before)"
            ) from None
        written.append(target)
    return written
