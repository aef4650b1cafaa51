"""Installing as a tool: the built wheel in a fresh virtual environment, run from an empty
folder; configuration found the usual way; `digest init`; templates overridden file by file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path

import click
import feedparser
import httpx
import pytest
from click.testing import CliRunner

from digest.cli import main
from digest.config import DEFAULT_CONFIG, find_config, load_settings
from digest.errors import ConfigError
from digest.newsroom import create_newsroom, without_sample_sources
from digest.resources import packaged_config, packaged_templates
from digest.subscribers import CSV_COLUMNS

from .helpers import ROOT, SEEDS, free_port

SAMPLE_WEEK = "2026-11-22"


def clean_environment(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: no project settings, no virtual environment."""
    skipped = ("BASE_URL", "DATABASE_URL", "SMTP_URL", "SECRET_KEY", "PYTHONPATH", "VIRTUAL_ENV")
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DIGEST_") and key not in skipped
    }
    return environment | extra


def wait_for(url: str, seconds: float = 60) -> httpx.Response:
    """GET a URL once the server behind it answers."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return httpx.get(url, timeout=30)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_built_wheel_works_from_an_empty_folder(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = dist.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in (
        "digest/_data/config/digest.toml",
        "digest/_data/config/subscribers.example.csv",
        "digest/_data/config/newsroom/2026-11-20.txt",
        "digest/_data/templates/email/weekly.html",
        "digest/_data/templates/email/style.css",
        "digest/_data/templates/web/admin/dashboard.html",
        "digest/_data/templates/feeds/index.html",
        "digest/migrations/script.py.mako",
        "digest/migrations/versions/0001_baseline.py",
        "newsroom_digest-0.1.0.dist-info/licenses/LICENSE",
    ):
        assert shipped in names
    assert not any(name.startswith(("templates/", "config/", "tests/")) for name in names)
    metadata = zipfile.ZipFile(wheel).read("newsroom_digest-0.1.0.dist-info/METADATA").decode()
    assert "License-Expression: MIT" in metadata
    assert "Requires-Python: >=3.11" in metadata
    assert "Description-Content-Type: text/markdown" in metadata
    assert "Provides-Extra: test" in metadata

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", str(wheel)],
        check=True,
        capture_output=True,
        timeout=900,
    )
    digest = str(venv / "bin" / "digest")
    empty = tmp_path / "empty"
    empty.mkdir()

    def run(*args: str, cwd: Path = empty) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [digest, *args],
            cwd=cwd,
            env=clean_environment(),
            capture_output=True,
            text=True,
            timeout=300,
        )

    version = run("--version")
    assert version.returncode == 0 and version.stdout.strip() == "digest 0.1.0"

    seed = sorted(SEEDS.glob("*.txt"))[0]
    parsed = run("parse", str(seed), "--json")
    assert parsed.returncode == 0, parsed.stderr
    items = json.loads(parsed.stdout)
    assert items and all(item["title"] and item["published"] for item in items)
    assert list(empty.iterdir()) == [], "parse wrote into the folder it ran in"

    made = run("init", "news", "--sample")
    assert made.returncode == 0, made.stderr
    news = empty / "news"
    assert (news / "config" / "digest.toml").is_file()
    assert (news / "config" / "newsroom" / "2026-11-20.txt").is_file()

    check = run("check", cwd=news)
    assert check.returncode == 0, check.stdout + check.stderr
    lines = check.stdout.splitlines()
    assert lines[0] == "ok   config: config/digest.toml"
    assert {"source newsroom", "source archive", "source field-notes"} <= {
        line[5:].partition(":")[0] for line in lines if line.startswith("ok ")
    }
    assert not [line for line in lines if line.startswith("FAIL")]

    published = run("publish", cwd=news)
    assert published.returncode == 0, published.stderr
    feed = feedparser.parse((news / "public" / "feeds" / "all.atom").read_bytes())
    assert not feed.bozo and len(feed.entries) > 10
    assert (news / "var" / "digest.db").is_file()

    preview = run("weekly", "--preview", "preview", "--as-of", SAMPLE_WEEK, cwd=news)
    assert preview.returncode == 0, preview.stderr
    html = next((news / "preview").glob("*.html")).read_text()
    assert "Harbourlight Coastal Trust" in html and "style=" in html
    today = run("weekly", "--preview", "today", cwd=news)
    assert today.returncode == 0, today.stderr
    assert today.stdout.startswith(("preview: ", "nothing to send for the week to "))

    port = free_port()
    server = subprocess.Popen(
        [digest, "serve", "--port", str(port)],
        cwd=news,
        env=clean_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        subscribe = wait_for(f"http://127.0.0.1:{port}/subscribe")
    finally:
        server.terminate()
        server.wait(timeout=60)
    assert subscribe.status_code == 200 and "<form" in subscribe.text

    site_packages = next((venv / "lib").glob("python3*/site-packages"))
    data = site_packages / "digest" / "_data"
    assert sorted(p.name for p in data.iterdir()) == ["config", "templates"]
    assert not list(site_packages.glob("digest/**/*.db"))


def test_config_is_found_the_usual_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    packaged = packaged_config() / "digest.toml"
    assert find_config(None, {}) == packaged
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "digest.toml").write_bytes(packaged.read_bytes())
    assert find_config(None, {}) == DEFAULT_CONFIG
    assert find_config(None, {"DIGEST_CONFIG": "other.toml"}) == Path("other.toml")
    assert find_config("mine.toml", {"DIGEST_CONFIG": "other.toml"}) == Path("mine.toml")


def test_a_named_config_that_is_missing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nowhere\.toml: configuration file not found"):
        load_settings({}, config=tmp_path / "nowhere.toml")
    with pytest.raises(ConfigError, match=r"gone\.toml: configuration file not found"):
        load_settings({"DIGEST_CONFIG": str(tmp_path / "gone.toml")})


def test_packaged_defaults_keep_writable_paths_relative_to_the_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings({}, keep_secret=False)
    assert settings.output_dir == Path("public")
    assert settings.sender.outbox == Path("outbox")
    assert settings.database_url == "sqlite:///var/digest.db"
    assert list(tmp_path.iterdir()) == []


def test_config_option_names_the_file_in_errors(tmp_path: Path) -> None:
    raw = (packaged_config() / "digest.toml").read_text().replace("size = 50", "size = 0")
    bad = tmp_path / "bad.toml"
    bad.write_text(raw)
    result = CliRunner().invoke(main, ["--config", str(bad), "feeds"])
    assert result.exit_code == 1
    assert f"{bad}: setting feeds.size" in result.output


def test_parse_runs_on_packaged_defaults_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    seed = sorted(SEEDS.glob("*.txt"))[0]
    result = CliRunner().invoke(main, ["parse", str(seed), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["type"] == "Press Release"
    assert list(tmp_path.iterdir()) == []


def test_init_writes_a_commented_config_env_example_and_empty_press_list(tmp_path: Path) -> None:
    folder = tmp_path / "news"
    written = create_newsroom(folder)
    relative = {path.relative_to(folder).as_posix() for path in written}
    assert relative == {
        "config/digest.toml",
        ".env.example",
        ".gitignore",
        "config/subscribers.csv",
        "README.md",
    }
    config = (folder / "config" / "digest.toml").read_text()
    assert config == without_sample_sources((packaged_config() / "digest.toml").read_text())
    tomllib.loads(config)
    for section in ("[newsroom]", "[feeds]", "[site]", "[email]", "[sender]", "[store]"):
        before = config.split(section, 1)[1].splitlines()[1]
        assert before.startswith("#"), f"{section} starts without a comment"
    env = (folder / ".env.example").read_text()
    for variable in ("BASE_URL=", "SECRET_KEY=", "SMTP_URL=", "DATABASE_URL=", "ADMIN_PASSWORD="):
        assert variable in env
    assert (folder / "config" / "subscribers.csv").read_text() == ",".join(CSV_COLUMNS) + "\n"
    assert "digest check" in (folder / "README.md").read_text()
    assert not (folder / "config" / "newsroom").exists()


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "news"
    folder.mkdir()
    (folder / "README.md").write_text("mine\n")
    result = CliRunner().invoke(main, ["init", str(folder), "--sample"])
    assert result.exit_code == 1
    assert f"{folder / 'README.md'}" in result.output and "nothing written" in result.output
    assert (folder / "README.md").read_text() == "mine\n"
    assert [p.name for p in folder.iterdir()] == ["README.md"]


def test_init_into_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "news"
    target.write_text("x")
    result = CliRunner().invoke(main, ["init", str(target)])
    assert result.exit_code != 0
    assert target.read_text() == "x"


def test_user_templates_override_packaged_ones_file_by_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings
) -> None:
    from digest import render

    monkeypatch.chdir(tmp_path)
    (tmp_path / "templates" / "email").mkdir(parents=True)
    (tmp_path / "templates" / "email" / "_footer.txt").write_text("Restyled by the press office.")
    environment = render.template_environment(settings, "email")
    footer = environment.get_template("_footer.txt")
    assert footer.render() == "Restyled by the press office."
    assert Path(footer.filename or "").resolve() == tmp_path / "templates/email/_footer.txt"
    weekly = environment.get_template("weekly.txt")
    assert Path(weekly.filename or "").is_relative_to(packaged_templates())


def test_user_templates_override_web_pages_and_the_index_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings
) -> None:
    from digest import render
    from digest.web.forms import Pages

    monkeypatch.chdir(tmp_path)
    (tmp_path / "templates" / "web").mkdir(parents=True)
    (tmp_path / "templates" / "web" / "message.html").write_text("<p>ours</p>")
    pages = Pages(settings, packaged_templates()).environment
    assert pages.get_template("message.html").render() == "<p>ours</p>"
    base = Path(pages.get_template("base.html").filename or "")
    assert base.is_relative_to(packaged_templates())
    (tmp_path / "templates" / "site").mkdir()
    (tmp_path / "templates" / "site" / "home.html").write_text("{{ settings.newsroom_name }}!")
    home = render.template_environment(settings, "").get_template("site/home.html")
    assert home.render(settings=settings) == f"{settings.newsroom_name}!"


def test_shell_completion_script_is_offered() -> None:
    environment = clean_environment(_DIGEST_COMPLETE="bash_source")
    digest = str(Path(sys.executable).parent / "digest")
    result = subprocess.run(
        [digest], env=environment, capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert result.returncode == 0
    assert "_digest_completion" in result.stdout


def test_every_command_help_has_an_example() -> None:
    runner = CliRunner()
    context = click.Context(main)
    subscribers = main.get_command(context, "subscribers")
    assert isinstance(subscribers, click.Group)
    commands = [[name] for name in main.list_commands(context)]
    commands += [["subscribers", name] for name in subscribers.commands]
    for command in commands:
        result = runner.invoke(main, [*command, "--help"])
        assert result.exit_code == 0, command
        assert "Example: " in result.output, command


def test_parse_loads_none_of_the_heavy_libraries(tmp_path: Path) -> None:
    program = (
        "import sys\n"
        "from digest.cli import main\n"
        "main(sys.argv[1:], standalone_mode=False)\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr)\n"
    )
    seed = sorted(SEEDS.glob("*.txt"))[0]
    result = subprocess.run(
        [sys.executable, "-c", program, "parse", str(seed)],
        cwd=tmp_path,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    loaded = set(result.stderr.strip().splitlines()[-1].split())
    assert "digest" in loaded
    heavy = {"sqlalchemy", "premailer", "feedgen", "lxml", "httpx", "feedparser", "jinja2", "rich"}
    assert loaded & heavy == set()


def test_publish_loads_neither_email_rendering_nor_the_sender(tmp_path: Path) -> None:
    create_newsroom(tmp_path, sample=True)
    program = (
        "import sys\n"
        "from digest.cli import main\n"
        "main(['publish'], standalone_mode=False)\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program],
        cwd=tmp_path,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (tmp_path / "public" / "feeds" / "all.atom").is_file(), result.stderr
    loaded = set(result.stderr.strip().splitlines()[-1].split())
    assert {"sqlalchemy", "feedgen"} <= loaded
    assert loaded & {"premailer", "aiosmtplib", "dkim", "email_validator", "rich"} == set()


def test_commands_on_the_packaged_defaults_warn_but_parse_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    migrated = CliRunner().invoke(main, ["migrate"])
    assert migrated.exit_code == 0
    assert "warning: no ./config/digest.toml here" in migrated.output
    seed = sorted(SEEDS.glob("*.txt"))[0]
    parsed = CliRunner().invoke(main, ["parse", str(seed)])
    assert parsed.exit_code == 0 and "warning: no ./config" not in parsed.output


def test_make_dist_builds_the_wheel_and_sdist_with_the_projects_venv(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    done = subprocess.run(
        ["make", "--no-print-directory", "dist", f"DIST={out}"],
        cwd=ROOT,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert len(list(out.glob("newsroom_digest-*-py3-none-any.whl"))) == 1
    assert len(list(out.glob("newsroom_digest-*.tar.gz"))) == 1
    assert f"pip install {out}/newsroom_digest-*.whl" in done.stdout
    readme = (ROOT / "README.md").read_text()
    assert "make dist" in readme and "python -m build" not in readme
