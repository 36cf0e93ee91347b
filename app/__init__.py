"""The microblog: a small, instrumented Flask social app. Entry point: ``create_app()``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import ConfigError, load_config
from .extensions import csrf, db, login_manager, migrate

__version__ = "1.0.0"

PACKAGE_DIR = Path(__file__).resolve().parent
MIGRATIONS_DIR = PACKAGE_DIR / "migrations"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def git_commit(explicit: str = "") -> str:
    """The deployed commit: APP_GIT_COMMIT if set, else asked of git, else "unknown"."""
    if explicit:
        return explicit
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=PACKAGE_DIR,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def create_app(config: str | Mapping[str, Any] | None = None) -> Flask:
    """Build the app.

    ``config`` is a profile name (production, development, testing), or a mapping of
    settings laid over the profile from ``MICROBLOG_ENV`` (or the mapping's own
    ``MICROBLOG_ENV``). Without it the environment decides, which is what gunicorn and
    ``flask --app app`` use.
    """
    overrides: Mapping[str, Any] = config if isinstance(config, Mapping) else {}
    profile = config if isinstance(config, str) else overrides.get("MICROBLOG_ENV")
    try:
        settings = load_config(profile)
    except ConfigError as exc:
        # One clear line for the operator; exit code 4 makes gunicorn halt, not respawn.
        print(f"microblog: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(4) from None
    settings.update(overrides)

    app = Flask(__name__)
    app.config.update(settings)
    if app.config.get("MICROBLOG_CREATE_DATA_DIR"):
        db_file = Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
        db_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    app.config["APP_VERSION"] = __version__
    app.config["APP_GIT_COMMIT"] = git_commit(app.config.get("APP_GIT_COMMIT", ""))

    # Believe X-Forwarded-* from exactly as many hops as there are proxies (Nginx: 1); trusting
    # more would let a client choose its own address, and so dodge the login limit.
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies
        )

    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    csrf.init_app(app)
    login_manager.init_app(app)
    with app.app_context():
        _tune_sqlite()

    from .metrics import init_metrics

    init_metrics(app)

    from . import models  # noqa: F401  (register the models with SQLAlchemy)
    from .api import bp as api_bp
    from .auth import bp as auth_bp
    from .errors import bp as errors_bp
    from .main import bp as main_bp

    app.register_blueprint(errors_bp)
    app.register_blueprint(auth_bp, url_prefix="/auth")
    app.register_blueprint(main_bp)
    app.register_blueprint(api_bp, url_prefix="/api")
    # The API is read-only (GET), so it has no forms and no CSRF tokens to check.
    csrf.exempt(api_bp)

    from .ratelimit import init_rate_limits

    init_rate_limits(app)

    app.after_request(_security_headers)
    app.jinja_env.filters["datetime"] = _format_datetime
    return app


def _tune_sqlite() -> None:
    """WAL and a busy timeout let several gunicorn workers share one SQLite file."""
    engine = db.engine
    if engine.dialect.name != "sqlite":
        return

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA busy_timeout = 5000")
        cursor.execute("PRAGMA foreign_keys = ON")
        if engine.url.database:  # not for in-memory databases
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()


def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _format_datetime(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""
