"""Configuration from the environment, and the one-line startup error."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import create_app, git_commit
from app.config import ConfigError, data_dir, env_flag, env_int, load_config, normalise_database_url


def test_production_requires_secret_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("MICROBLOG_ENV", raising=False)
    with pytest.raises(SystemExit) as excinfo:
        create_app()
    assert excinfo.value.code == 4  # gunicorn halts on 4 instead of respawning workers
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "SECRET_KEY" in err and "Traceback" not in err


@pytest.mark.parametrize("profile", ["development", "testing"])
def test_relaxed_profiles_make_up_a_key(profile: str) -> None:
    cfg = load_config(profile, {"MICROBLOG_DATA": "/nonexistent"})
    assert len(cfg["SECRET_KEY"]) == 64


def test_unknown_profile() -> None:
    with pytest.raises(ConfigError, match="MICROBLOG_ENV"):
        load_config(None, {"MICROBLOG_ENV": "staging", "SECRET_KEY": "x"})


def test_default_database_is_sqlite_in_data_dir(tmp_path: Path) -> None:
    cfg = load_config("production", {"SECRET_KEY": "k" * 32, "MICROBLOG_DATA": str(tmp_path / "d")})
    assert cfg["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'd' / 'microblog.db'}"
    assert cfg["MICROBLOG_CREATE_DATA_DIR"] is True
    assert data_dir({}) == Path("~/.microblog-data").expanduser()


def test_app_creates_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", "k" * 32)
    monkeypatch.setenv("MICROBLOG_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("MICROBLOG_ENV", raising=False)
    app = create_app()
    assert (tmp_path / "data").is_dir()
    assert app.config["MICROBLOG_ENV"] == "production"
    assert app.config["SESSION_COOKIE_SECURE"] is False


def test_mapping_overrides_and_secure_cookies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "1")
    app = create_app({"MICROBLOG_ENV": "testing", "POSTS_PER_PAGE": 3})
    assert app.config["POSTS_PER_PAGE"] == 3
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    assert app.config["PREFERRED_URL_SCHEME"] == "https"


def test_postgres_urls_use_psycopg3() -> None:
    assert normalise_database_url("postgres://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalise_database_url("postgresql://h/db") == "postgresql+psycopg://h/db"
    assert normalise_database_url("postgresql+psycopg://h/db") == "postgresql+psycopg://h/db"
    assert normalise_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_env_parsers() -> None:
    assert env_flag({"X": "Yes"}, "X", False) is True
    assert env_flag({"X": "off"}, "X", True) is False
    assert env_flag({"X": " "}, "X", True) is True
    with pytest.raises(ConfigError):
        env_flag({"X": "maybe"}, "X", True)
    assert env_int({"N": "7"}, "N", 1) == 7
    assert env_int({}, "N", 5) == 5
    with pytest.raises(ConfigError):
        env_int({"N": "seven"}, "N", 1)
    with pytest.raises(ConfigError):
        env_int({"N": "0"}, "N", 1)


def test_git_commit_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    assert git_commit("abc123") == "abc123"
    detected = git_commit("")
    assert detected  # a hash from git, or "unknown" outside a checkout

    def broken(*_args: object, **_kwargs: object) -> None:
        raise FileNotFoundError("git")

    monkeypatch.setattr("app.subprocess.run", broken)
    assert git_commit("") == "unknown"
