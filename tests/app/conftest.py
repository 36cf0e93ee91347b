"""Fixtures for the microblog tests: an in-process app, and real gunicorn servers on loopback."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket

# The app lives at the repo root as package "app" and is not installed into the venv.
REPO_ROOT = str(Path(__file__).resolve().parents[2])
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from flask import Flask  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import User  # noqa: E402
from tests.app.microblog_helpers import Server, login, make_user, start_gunicorn  # noqa: E402
from tests.app.services import (  # noqa: E402
    Postgres,
    Service,
    memcached_binary,
    postgres_bindir,
    start_memcached,
    start_postgres,
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: builds a virtualenv or starts servers and a browser (seconds, not ms)"
    )


class SharedTemplateCode(BytecodeCache):
    """Compiled templates kept for the session, keyed by each template's source checksum.
    Each test creates its own app, and each app's Jinja environment would compile every
    template it renders again: a tenth of the suite's CPU, in each pipeline build's Test stage.
    A changed template has a new checksum, so it is compiled again."""

    def __init__(self) -> None:
        self.code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if bucket.key in self.code:
            bucket.bytecode_from_string(self.code[bucket.key])

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.code[bucket.key] = bucket.bytecode_to_string()


@pytest.fixture(scope="session", autouse=True)
def shared_template_code() -> Iterator[None]:
    """Every app the tests create compiles a template once per session (Flask builds each
    app's Jinja environment from the class's `jinja_options`)."""
    options = Flask.jinja_options
    Flask.jinja_options = {**options, "bytecode_cache": SharedTemplateCode()}
    try:
        yield
    finally:
        Flask.jinja_options = options


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting of the developer's shell (or of another test) leaks into a test."""
    for name in (
        "DATABASE_URL",
        "SECRET_KEY",
        "PROMETHEUS_MULTIPROC_DIR",
        "METRICS_ENABLED",
        "MICROBLOG_ENV",
        "MICROBLOG_DATA",
        "SESSION_COOKIE_SECURE",
        "POSTS_PER_PAGE",
        "RATELIMIT_STORAGE_URI",
        "LOGIN_LIMIT_PER_ADDRESS",
        "LOGIN_LIMIT_PER_ACCOUNT",
        "TRUSTED_PROXIES",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("APP_GIT_COMMIT", "testcommit")


@pytest.fixture
def app() -> Iterator[Flask]:
    application = create_app("testing")
    with application.app_context():
        db.create_all()
        yield application
        db.session.remove()
        db.drop_all()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """One PostgreSQL server for the session; each test that uses it gets its own database."""
    if postgres_bindir() is None:  # pragma: no cover - bootstrap.sh installs it
        pytest.skip("PostgreSQL is not installed (scripts/bootstrap.sh installs it)")
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def memcached() -> Iterator[Service]:
    if memcached_binary() is None:  # pragma: no cover - bootstrap.sh installs it
        pytest.skip("memcached is not installed (scripts/bootstrap.sh installs it)")
    server = start_memcached()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_app(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """The app on SQLite and on PostgreSQL: some inputs only fail on one of them."""
    if request.param == "postgresql":
        server: Postgres = request.getfixturevalue("postgres")
        name = "t_" + request.node.name.split("[")[0][-40:].lower()
        monkeypatch.setenv("DATABASE_URL", server.create_database(name))
    application = create_app("testing")
    with application.app_context():
        db.create_all()
        yield application
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def logged_in(app: Flask, client: FlaskClient) -> User:
    """A user 'alice', logged in through the real form."""
    user = make_user("alice")
    response = login(client, "alice")
    assert response.status_code == 302
    return user


@pytest.fixture
def gunicorn_factory(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start gunicorn servers on free loopback ports; all are stopped by PID afterwards."""
    servers: list[Server] = []

    def factory(name: str = "srv", ready: bool = True, **kwargs: Any) -> Server:
        server = start_gunicorn(tmp_path / name, **kwargs)
        servers.append(server)
        if ready:
            server.wait_ready()
        return server

    yield factory
    for server in servers:
        server.stop()
