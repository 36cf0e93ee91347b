"""Login abuse: guessing is rate-limited per address and per account, and an unknown user
costs the same password-hash work as a known one (so timing does not reveal accounts)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.config import ConfigError, load_config
from app.extensions import db
from tests.app.microblog_helpers import free_port, login, make_user


@pytest.fixture
def limited_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Flask]]:
    """Build the app with the given environment and users alice and bob.

    No app context stays pushed: each request then gets its own, as in a server, so nothing
    cached on ``g`` (the CSRF token, the logged-in user) leaks from one client to the next.
    """
    built: list[Flask] = []

    def build(**env: str) -> Flask:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        application = create_app("testing")
        with application.app_context():
            db.create_all()
            make_user("alice")
            make_user("bob")
        built.append(application)
        return application

    yield build
    for application in built:
        with application.app_context():
            db.drop_all()


@pytest.fixture
def per_address(limited_app: Callable[..., Flask]) -> Flask:
    return limited_app(LOGIN_LIMIT_PER_ADDRESS="3 per minute", LOGIN_LIMIT_PER_ACCOUNT="100/minute")


@pytest.fixture
def per_account(limited_app: Callable[..., Flask]) -> Flask:
    return limited_app(LOGIN_LIMIT_PER_ADDRESS="100/minute", LOGIN_LIMIT_PER_ACCOUNT="3 per minute")


def from_address(address: str) -> dict[str, str]:
    # What Nginx sends: the client's address appended to X-Forwarded-For.
    return {"headers": {"X-Forwarded-For": address}}


def test_unknown_user_costs_a_password_hash(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.models as models

    calls: list[str] = []
    real = models.check_password_hash

    def counting(pwhash: str, password: str) -> bool:
        calls.append(password)
        return real(pwhash, password)

    monkeypatch.setattr(models, "check_password_hash", counting)
    make_user("alice")
    assert b"Invalid username" in login(client, "alice", "wrong password").data
    assert calls == ["wrong password"]
    assert b"Invalid username" in login(client, "nobody", "some password").data
    assert calls == ["wrong password", "some password"]  # the same work for a made-up name


def test_login_is_limited_per_address(per_address: Flask) -> None:
    client = per_address.test_client()
    for name in ("alice", "bob", "nobody"):
        assert login(
            client, name, "wrong password", **from_address("198.51.100.7")
        ).status_code == (200)
    response = login(client, "alice", **from_address("198.51.100.7"))
    assert response.status_code == 429  # even with the right password
    assert b"Too many login attempts" in response.data
    assert int(response.headers["Retry-After"]) > 0
    # Another client (as Nginx reports it) has its own budget.
    assert login(client, "alice", **from_address("198.51.100.8")).status_code == 302


def test_login_page_itself_is_not_limited(per_address: Flask) -> None:
    client = per_address.test_client()
    for _ in range(10):
        assert client.get("/auth/login").status_code == 200


def test_login_is_limited_per_account(per_account: Flask) -> None:
    client = per_account.test_client()
    # Spread over many addresses, and with the name in another case: still one account.
    for i, name in enumerate(["alice", "ALICE", "Alice"]):
        response = login(client, name, "wrong password", **from_address(f"198.51.100.{i + 1}"))
        assert response.status_code == 200
    response = login(client, "alice", **from_address("198.51.100.50"))
    assert response.status_code == 429
    assert login(client, "bob", **from_address("198.51.100.51")).status_code == 302


def test_without_trusted_proxy_forwarded_for_is_ignored(
    limited_app: Callable[..., Flask],
) -> None:
    client = limited_app(TRUSTED_PROXIES="0", LOGIN_LIMIT_PER_ADDRESS="2/minute").test_client()
    statuses = [
        login(client, "nobody", "x", **from_address(f"198.51.100.{i}")).status_code
        for i in range(3)
    ]
    # A client cannot mint itself new addresses when no proxy is trusted.
    assert statuses == [200, 200, 429]


def test_limit_falls_back_to_memory_when_storage_is_down(
    limited_app: Callable[..., Flask],
) -> None:
    nothing_listens = f"memcached://127.0.0.1:{free_port()}"
    application = limited_app(
        RATELIMIT_STORAGE_URI=nothing_listens, LOGIN_LIMIT_PER_ADDRESS="2/minute"
    )
    assert login(application.test_client(), "alice", "wrong password").status_code == 200
    assert login(application.test_client(), "alice").status_code == 302  # login never breaks
    assert login(application.test_client(), "bob").status_code == 429  # the limit holds


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LOGIN_LIMIT_PER_ADDRESS", "lots"),
        ("LOGIN_LIMIT_PER_ACCOUNT", "5 per fortnight"),
        ("RATELIMIT_STORAGE_URI", "carrier-pigeon://loft"),
        ("TRUSTED_PROXIES", "-1"),
        ("TRUSTED_PROXIES", "many"),
    ],
)
def test_bad_limit_settings_are_one_line_errors(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name) as excinfo:
        load_config("testing", {name: value})
    assert "\n" not in str(excinfo.value)


def test_limit_settings_defaults() -> None:
    cfg = load_config("testing", {})
    assert cfg["RATELIMIT_STORAGE_URI"] == "memory://"
    assert cfg["TRUSTED_PROXIES"] == 1
    production = load_config("production", {"SECRET_KEY": "k" * 32})
    assert production["RATELIMIT_STORAGE_URI"].startswith("memcached://127.0.0.1:")
    assert production["TRUSTED_PROXIES"] == 1


def test_limiter_hooks_run_on_auth_pages_only(app: Flask) -> None:
    """Other pages (/healthz, timelines) do not pay for limits they do not have."""
    limiter = app.extensions["microblog_limiter"]

    def owned(hooks: list) -> list:
        return [
            hook
            for hook in hooks
            if getattr(hook, "__self__", None) is limiter
            or limiter in getattr(hook, "args", ())  # functools.partial(..., limiter)
        ]

    registries = (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs)
    assert all(not owned(registry.get(None, [])) for registry in registries)
    assert all(owned(registry.get("auth", [])) for registry in registries)
