"""The settings schema: unknown sections, keys and variables stop start-up naming the file,
the line and the nearest known name; booleans are read one way; `digest check` says the same."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.cli import main
from digest.config import BreakingSettings, FetchSettings, SourceConfig, load_settings
from digest.config_schema import ENTRIES, SECTIONS, Breaking, Fetch, SourceEntry
from digest.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def bad_config(tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    """A copy of config/digest.toml with `old` replaced by `new`; its path and the line
    number where `new` begins."""
    text = (ROOT / "config/digest.toml").read_text()
    assert old in text
    text = text.replace(old, new, 1)
    path = tmp_path / "digest.toml"
    path.write_text(text)
    return path, text[: text.index(new)].count("\n") + 1


def config_error(path: Path, **env: str) -> str:
    with pytest.raises(ConfigError) as error:
        load_settings({"DIGEST_CONFIG": str(path), **env})
    return str(error.value)


def test_misspelt_key_names_file_line_and_nearest_key(tmp_path: Path) -> None:
    path, line = bad_config(tmp_path, "connections = 4", "conections = 8")
    assert config_error(path) == (
        f"{path} line {line}: `[sender] conections`: no such setting; did you mean `connections`?"
    )


def test_misspelt_section_names_file_line_and_nearest_section(tmp_path: Path) -> None:
    path, line = bad_config(tmp_path, "[email]", "[emial]")
    assert config_error(path) == (
        f"{path} line {line}: `[emial]`: no such section; did you mean `[email]`?"
    )


def test_misspelt_array_of_tables_is_named(tmp_path: Path) -> None:
    path, line = bad_config(tmp_path, '[[types]]\nlabel = "Update"', '[[type]]\nlabel = "Update"')
    assert config_error(path) == (
        f"{path} line {line}: `[[type]]`: no such section; did you mean `[[types]]`?"
    )


def test_misspelt_source_key_is_refused(tmp_path: Path) -> None:
    path, line = bad_config(tmp_path, "interval = 1440", "intervall = 1440")
    assert config_error(path) == (
        f"{path} line {line}: `[[sources]] intervall`: no such setting; did you mean `interval`?"
    )


def test_unknown_type_key_is_refused(tmp_path: Path) -> None:
    path, _ = bad_config(tmp_path, 'feed_title = "Updates"', 'feed_titel = "Updates"')
    assert "`[[types]] feed_titel`: no such setting; did you mean `feed_title`?" in config_error(
        path
    )


def test_bad_boolean_in_the_file_names_file_line_and_setting(tmp_path: Path) -> None:
    path, line = bad_config(tmp_path, "smtputf8 = false", 'smtputf8 = "yes"')
    assert config_error(path) == (
        f"{path}: setting sender.smtputf8 (DIGEST_SENDER_SMTPUTF8): must be true or false "
        f"(got 'yes') (line {line})"
    )


def test_bad_value_in_the_file_names_its_line(tmp_path: Path) -> None:
    path, line = bad_config(tmp_path, "size = 50", "size = 0")
    assert config_error(path).endswith(f"(got 0) (line {line})")


def test_bad_boolean_in_the_environment_names_the_variable(tmp_path: Path) -> None:
    path, _ = bad_config(tmp_path, "approval = false", "approval = false")
    assert config_error(path, DIGEST_BREAKING_APPROVAL="maybe") == (
        f"{path}: setting breaking.approval (DIGEST_BREAKING_APPROVAL): "
        "must be true or false, 1/0 or yes/no (got 'maybe')"
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [
        *[("true", True), ("TRUE", True), ("1", True), ("Yes", True)],
        *[("false", False), ("0", False), ("no", False), ("NO", False)],
    ],
)
def test_booleans_from_the_environment_are_read_one_way(text: str, value: bool) -> None:
    config = str(ROOT / "config/digest.toml")
    env = {"DIGEST_CONFIG": config, "DIGEST_BREAKING_APPROVAL": text}
    env["DIGEST_SENDER_SMTPUTF8"] = text
    settings = load_settings(env)
    assert (settings.breaking.approval, settings.sender.smtputf8) == (value, value)


def test_unknown_environment_variable_names_the_nearest(tmp_path: Path) -> None:
    config = str(ROOT / "config/digest.toml")
    with pytest.raises(ConfigError) as error:
        load_settings({"DIGEST_CONFIG": config, "DIGEST_SENDER_CONECTIONS": "8"})
    assert str(error.value) == (
        "environment variable DIGEST_SENDER_CONECTIONS: no such setting; "
        "did you mean DIGEST_SENDER_CONNECTIONS?"
    )


def test_string_settings_from_the_environment_are_text() -> None:
    config = str(ROOT / "config/digest.toml")
    settings = load_settings({"DIGEST_CONFIG": config, "DIGEST_NEWSROOM_NAME": "2026"})
    assert settings.newsroom_name == "2026"


def test_check_command_reports_a_misspelt_key_and_exits_1(tmp_path: Path) -> None:
    path, line = bad_config(tmp_path, "[email]", "[emial]")
    result = CliRunner().invoke(main, ["--config", str(path), "check"])
    assert result.exit_code == 1
    assert result.output.startswith(
        f"FAIL config: {path} line {line}: `[emial]`: no such section; did you mean `[email]`?"
    )


@pytest.mark.parametrize("command", [["feeds"], ["weekly", "--dry-run"], ["parse", "x.txt"]])
def test_every_command_exits_1_naming_a_misspelt_key(tmp_path: Path, command: list[str]) -> None:
    path, line = bad_config(tmp_path, "connections = 4", "conections = 8")
    result = CliRunner().invoke(main, ["--config", str(path), *command])
    assert result.exit_code == 1
    assert f"{path} line {line}: `[sender] conections`: no such setting" in result.output


def test_every_setting_is_described() -> None:
    for model in [*SECTIONS.values(), *ENTRIES.values()]:
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name} has no description"


def test_hand_built_defaults_equal_the_schema() -> None:
    """SourceConfig and BreakingSettings are also built by hand, so they keep defaults."""
    source = SourceConfig("s", "feed", "x")
    fields = SourceEntry.model_fields
    assert source.interval_minutes == fields["interval"].default
    for name in (
        "date_format",
        "language",
        "day_first",
        "base_url",
        "embargo_element",
        "backfill_pages",
        "follow",
        "article_selector",
    ):
        assert getattr(source, name) == fields[name].default, name
    assert dict(source.categories) == fields["categories"].default == {}
    assert dict(source.selectors) == fields["selectors"].default == {}
    breaking = BreakingSettings()
    for field in dataclasses.fields(breaking):
        assert getattr(breaking, field.name) == Breaking.model_fields[field.name].default
    fetch = FetchSettings()
    for field in dataclasses.fields(fetch):
        assert getattr(fetch, field.name) == Fetch.model_fields[field.name].default


def test_validated_settings_are_kept_per_file_text_and_environment(tmp_path: Path) -> None:
    import subprocess
    import sys

    config = tmp_path / "digest.toml"
    original = (Path(__file__).parent.parent / "config/digest.toml").read_text()
    config.write_text(original)
    program = (
        "import sys\nfrom digest.config import load_settings\n"
        "s = load_settings()\n"
        "print(s.feed_size, s.secret_key_generated, 'pydantic' in sys.modules)"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DIGEST_CONFIG": str(config)}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")

    def run(**extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", program],
            env=env | extra,
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )

    assert run().stdout.split() == ["50", "True", "True"], "validated the first time"
    assert run().stdout.split() == ["50", "True", "False"], "kept: pydantic not loaded"
    kept = list((tmp_path / "cache" / "newsroom-digest").iterdir())
    assert kept and all(p.stat().st_mode & 0o077 == 0 for p in kept), "the user's alone"
    secret = (tmp_path / "var" / "secret_key").read_text().strip()
    assert all(secret.encode() not in p.read_bytes() for p in kept), "no made secret kept"
    assert run(DIGEST_FEEDS_SIZE="7").stdout.split() == ["7", "True", "True"]
    config.write_text(original.replace("connections = 4", "conections = 4"))
    refused = run()
    assert refused.returncode != 0 and "conections" in refused.stderr, "a new text is checked"


SECRETS = {
    "SECRET_KEY": "kept-nowhere-secret-key-0123456789",
    "ADMIN_PASSWORD": "kept-nowhere-admin-password",
    "SMTP_URL": "smtp://mailer:kept-nowhere-smtp-pass@127.0.0.1:2525",
    "DATABASE_URL": "postgresql://digest:kept-nowhere-db-pass@127.0.0.1/test",
    "BOUNCE_MAILBOX_URL": "imaps://bounces:kept-nowhere-imap-pass@127.0.0.1/INBOX",
    "DIGEST_EMAIL_DKIM_KEY_FILE": "dkim.pem",
    "WEBSUB_HUB_URL": "https://hub.example/publish?access_token=kept-nowhere-hub-token",
    "DIGEST_SOURCES": '[{name="wire", kind="feed", location="https://wire.example/feed'
    '?page=1&apiKey=kept-nowhere-feed-key"}, {name="agency", kind="feed", '
    'location="https://kept-nowhere-user-token@agency.example/feed"}]',
}


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_no_secret_is_written_to_the_settings_cache(tmp_path: Path, name: str) -> None:
    import subprocess
    import sys

    dkim = "-----BEGIN PRIVATE KEY-----\nkept-nowhere-dkim-key\n-----END PRIVATE KEY-----\n"
    (tmp_path / "dkim.pem").write_text(dkim)
    program = "from digest.config import load_settings\nprint(repr(load_settings()))"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), name: SECRETS[name]}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    for _ in range(2):
        shown = subprocess.run(
            [sys.executable, "-c", program], env=env, cwd=tmp_path, capture_output=True, text=True
        )
        assert shown.returncode == 0, shown.stderr
    kept = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    needle = b"kept-nowhere"
    assert needle in shown.stdout.encode() + dkim.encode(), "the secret was read"
    assert not [p for p in kept if needle in p.read_bytes()], f"{name} written to the cache"
    if name != "DIGEST_EMAIL_DKIM_KEY_FILE":
        assert needle in shown.stdout.encode(), "the secret reaches the settings each time"
