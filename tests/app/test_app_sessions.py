"""Accounts under attack: names that differ only in case, remember-me cookies that must die
on logout or a password change, and a production SECRET_KEY too short to sign with."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.exc import IntegrityError

from app import create_app
from app.auth.forms import RegistrationForm
from app.config import ConfigError, load_config
from app.extensions import db
from app.models import User
from tests.app.microblog_helpers import csrf_token, login, make_user, register

REMEMBER = "remember_token"


def user_count() -> int:
    return db.session.scalar(sa.select(sa.func.count(User.id))) or 0


def test_database_refuses_names_that_differ_only_in_case(any_db_app: Flask) -> None:
    make_user("Racer")
    with pytest.raises(IntegrityError):
        make_user("racer")
    db.session.rollback()
    assert user_count() == 1


def test_racing_registrations_end_in_the_normal_form_error(
    any_db_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both sign-ups passed the form's check before either was written: the database decides."""
    client = any_db_app.test_client()
    monkeypatch.setattr(RegistrationForm, "validate_username", lambda self, field: None)
    assert register(client, "Racer").status_code == 302
    response = register(client, "racer", email="other@example.com")
    assert response.status_code == 409
    assert b"That username is taken." in response.data
    assert user_count() == 1


def test_racing_registration_on_email_names_the_email(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(RegistrationForm, "validate_email", lambda self, field: None)
    assert register(client, "first", email="same@example.com").status_code == 302
    response = register(client, "second", email="same@example.com")
    assert response.status_code == 409
    assert b"already registered" in response.data


@pytest.fixture
def server_like_app() -> Iterator[Flask]:
    """The app with user alice, and no app context left pushed: each request gets its own,
    as under gunicorn, so no logged-in user cached on ``g`` leaks between clients."""
    application = create_app("testing")
    with application.app_context():
        db.create_all()
        make_user("alice")
    yield application
    with application.app_context():
        db.drop_all()


def remembered_login(app: Flask, name: str = "alice") -> tuple[FlaskClient, str]:
    """Log in with "remember me"; return the client and its remember-me cookie value."""
    client = app.test_client()
    token = csrf_token(client, "/auth/login")
    data = {"username": name, "password": "correct horse", "remember_me": "y", "csrf_token": token}
    assert client.post("/auth/login", data=data).status_code == 302
    cookie = client.get_cookie(REMEMBER)
    assert cookie is not None and cookie.value
    return client, cookie.value


def only_remember_cookie(app: Flask, value: str) -> FlaskClient:
    """A browser that kept the remember-me cookie and nothing else (or a thief who copied it)."""
    other = app.test_client()
    other.set_cookie(REMEMBER, value)
    return other


def test_remember_me_cookie_logs_in(server_like_app: Flask) -> None:
    _, value = remembered_login(server_like_app)
    assert only_remember_cookie(server_like_app, value).get("/").status_code == 200


def test_logout_revokes_remember_me_cookies(server_like_app: Flask) -> None:
    app = server_like_app
    client, value = remembered_login(app)
    _, other_device = remembered_login(app)
    response = client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/")})
    assert response.status_code == 302
    assert only_remember_cookie(app, value).get("/").status_code == 302
    assert only_remember_cookie(app, other_device).get("/").status_code == 302
    assert login(app.test_client(), "alice").status_code == 302  # a fresh login works


def test_password_change_revokes_sessions_and_remember_me(server_like_app: Flask) -> None:
    app = server_like_app
    client, value = remembered_login(app)
    assert client.get("/").status_code == 200
    with app.app_context():
        alice = db.session.scalar(sa.select(User).where(User.username == "alice"))
        alice.set_password("a new passphrase")
        db.session.commit()
    assert only_remember_cookie(app, value).get("/").status_code == 302
    assert client.get("/").status_code == 302  # the open session ends too
    assert login(app.test_client(), "alice", "a new passphrase").status_code == 302


def test_session_ids_are_not_guessable_user_numbers(app: Flask) -> None:
    alice = make_user("alice")
    assert alice.get_id() != str(alice.id)
    from app.models import load_user

    assert load_user(str(alice.id)) is None
    assert load_user(alice.get_id()) == alice
    assert load_user("nonsense") is None and load_user(f"{alice.id}:wrong") is None


@pytest.mark.parametrize("key", ["x", "short-but-not-32-bytes-long-key"])
def test_production_refuses_a_short_secret_key(key: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load_config("production", {"SECRET_KEY": key})
    message = str(excinfo.value)
    assert "SECRET_KEY" in message and "32" in message and "token_hex" in message
    assert "\n" not in message


def test_short_secret_key_stops_the_app_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SECRET_KEY", "x")
    with pytest.raises(SystemExit) as excinfo:
        create_app("production")
    assert excinfo.value.code == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "SECRET_KEY" in err


def test_a_32_byte_secret_key_is_accepted() -> None:
    cfg = load_config("production", {"SECRET_KEY": "k" * 32})
    assert cfg["SECRET_KEY"] == "k" * 32
