"""Configuration read from the environment.

Three profiles: ``production`` (the default), ``development`` and ``testing``. Only the last
two may run without ``SECRET_KEY``; production refuses to start rather than sign sessions
with a missing, short or guessable key.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from limits import parse_many

PROFILES = ("production", "development", "testing")
DEFAULT_DATA_DIR = "~/.microblog-data"
SECRET_KEY_MIN_BYTES = 32
MAKE_SECRET = "python3 -c 'import secrets; print(secrets.token_hex(32))'"
MAX_PER_PAGE = 100
# memcached on the app server itself: every gunicorn worker counts login attempts in one place.
PRODUCTION_RATELIMIT_STORAGE = "memcached://127.0.0.1:11211"
RATELIMIT_SCHEMES = ("memory://", "memcached://")
DEFAULT_LOGIN_LIMIT_PER_ADDRESS = "30 per minute; 300 per hour"
DEFAULT_LOGIN_LIMIT_PER_ACCOUNT = "5 per minute; 30 per hour"
# werkzeug's default, slow on purpose (about 0.1 s a hash). The test profile hashes cheaply:
# the suite hashes 140 passwords, and the pipeline's Test stage would spend most of its time there.
PASSWORD_HASH_METHOD = "scrypt"
TESTING_PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"


class ConfigError(Exception):
    """A setting is missing or malformed; the message is shown to the operator as is."""


def env_flag(environ: Mapping[str, str], name: str, default: bool) -> bool:
    """Read a boolean variable: 1/true/yes/on and 0/false/no/off, any case."""
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be 1 or 0 (got {raw!r})")


def env_int(
    environ: Mapping[str, str],
    name: str,
    default: int,
    minimum: int = 1,
    maximum: int | None = None,
) -> int:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer (got {raw!r})") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum} (got {value})")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum} (got {value})")
    return value


def env_rate_limit(environ: Mapping[str, str], name: str, default: str) -> str:
    """A rate limit in the limits library's notation, e.g. "5 per minute; 30 per hour"."""
    value = (environ.get(name) or "").strip() or default
    try:
        parse_many(value)
    except ValueError:
        raise ConfigError(
            f"{name} must be a rate such as '5 per minute' or '5/minute; 30/hour' (got {value!r})"
        ) from None
    return value


def env_storage_uri(environ: Mapping[str, str], default: str) -> str:
    value = (environ.get("RATELIMIT_STORAGE_URI") or "").strip() or default
    if not value.startswith(RATELIMIT_SCHEMES):
        raise ConfigError(
            f"RATELIMIT_STORAGE_URI must be memory:// or memcached://HOST:PORT (got {value!r})"
        )
    return value


def check_secret_key(secret: str) -> None:
    """Production signs sessions and remember-me cookies with this: it must be unguessable."""
    size = len(secret.encode())
    if size < SECRET_KEY_MIN_BYTES:
        raise ConfigError(
            f"SECRET_KEY is too short ({size} bytes); production needs at least "
            f"{SECRET_KEY_MIN_BYTES}: export SECRET_KEY=$({MAKE_SECRET})"
        )


def data_dir(environ: Mapping[str, str]) -> Path:
    """Where the SQLite file lives: outside the code checkout so a redeploy keeps it."""
    return Path(environ.get("MICROBLOG_DATA") or DEFAULT_DATA_DIR).expanduser()


def normalise_database_url(url: str) -> str:
    """Point bare PostgreSQL URLs at psycopg 3, the driver requirements.txt ships."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def load_config(
    profile: str | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Build the Flask config mapping for ``profile`` from ``environ`` (default: os.environ)."""
    env = os.environ if environ is None else environ
    name = (profile or env.get("MICROBLOG_ENV") or "production").strip().lower()
    if name not in PROFILES:
        raise ConfigError(f"MICROBLOG_ENV must be one of {', '.join(PROFILES)} (got {name!r})")
    relaxed = name in {"development", "testing"}

    secret = env.get("SECRET_KEY", "")
    if not secret:
        if not relaxed:
            raise ConfigError(
                f"SECRET_KEY is not set; export a long random value (e.g. {MAKE_SECRET})"
            )
        # Fine for a laptop or a test run: sessions just do not survive a restart.
        secret = secrets.token_hex(32)
    elif not relaxed:
        check_secret_key(secret)

    database_url = env.get("DATABASE_URL", "")
    create_data_dir = False
    if not database_url:
        if name == "testing":
            database_url = "sqlite://"
        else:
            database_url = f"sqlite:///{data_dir(env) / 'microblog.db'}"
            create_data_dir = True

    cookie_secure = env_flag(env, "SESSION_COOKIE_SECURE", False)
    cfg: dict[str, Any] = {
        "MICROBLOG_ENV": name,
        "TESTING": name == "testing",
        "DEBUG": False,
        "SECRET_KEY": secret,
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "MICROBLOG_CREATE_DATA_DIR": create_data_dir,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": cookie_secure,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": cookie_secure,
        # Logging out or changing the password revokes it sooner (see User.get_id).
        "REMEMBER_COOKIE_DURATION": timedelta(days=30),
        "PREFERRED_URL_SCHEME": "https" if cookie_secure else "http",
        "PASSWORD_HASH_METHOD": (
            TESTING_PASSWORD_HASH_METHOD if name == "testing" else PASSWORD_HASH_METHOD
        ),
        "WTF_CSRF_ENABLED": True,
        # The token lives as long as the session instead of expiring under a slow typist.
        "WTF_CSRF_TIME_LIMIT": None,
        "MAX_CONTENT_LENGTH": 64 * 1024,
        "POSTS_PER_PAGE": env_int(env, "POSTS_PER_PAGE", 20, maximum=MAX_PER_PAGE),
        "METRICS_ENABLED": env_flag(env, "METRICS_ENABLED", True),
        "APP_GIT_COMMIT": env.get("APP_GIT_COMMIT", "").strip(),
        # Writing last_seen on every request would turn each page view into a write.
        "LAST_SEEN_INTERVAL_SECONDS": env_int(env, "LAST_SEEN_INTERVAL_SECONDS", 60, minimum=0),
        # Proxies in front of the app (Nginx: 1). Their X-Forwarded-For entries are believed,
        # so the login limit per address keys on the real client; 0 ignores those headers.
        "TRUSTED_PROXIES": env_int(env, "TRUSTED_PROXIES", 1, minimum=0, maximum=5),
        "RATELIMIT_STORAGE_URI": env_storage_uri(
            env, "memory://" if relaxed else PRODUCTION_RATELIMIT_STORAGE
        ),
        "LOGIN_LIMIT_PER_ADDRESS": env_rate_limit(
            env, "LOGIN_LIMIT_PER_ADDRESS", DEFAULT_LOGIN_LIMIT_PER_ADDRESS
        ),
        "LOGIN_LIMIT_PER_ACCOUNT": env_rate_limit(
            env, "LOGIN_LIMIT_PER_ACCOUNT", DEFAULT_LOGIN_LIMIT_PER_ACCOUNT
        ),
    }
    return cfg
