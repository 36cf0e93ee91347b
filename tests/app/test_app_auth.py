"""Register, log in, log out, and every way of getting them wrong."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.auth.forms import RegistrationForm
from app.auth.routes import safe_next
from app.extensions import db
from app.models import User
from tests.app.microblog_helpers import csrf_token, login, make_user, post_form, register


def user_count() -> int:
    return db.session.scalar(sa.select(sa.func.count(User.id))) or 0


def test_register_then_login_then_logout(client: FlaskClient) -> None:
    page = client.get("/auth/register")
    assert page.status_code == 200 and b'name="csrf_token"' in page.data
    response = register(client, "alice")
    assert response.status_code == 302 and response.headers["Location"] == "/auth/login"
    user = db.session.scalar(sa.select(User).where(User.username == "alice"))
    assert user is not None and user.email == "alice@example.com"

    response = login(client, "alice")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200 and b"Hello, alice" in home.data

    # Logged-in users are sent home from the auth pages.
    assert client.get("/auth/login").status_code == 302
    assert client.get("/auth/register").status_code == 302

    token = csrf_token(client, "/")
    response = client.post("/auth/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert client.get("/").status_code == 302  # back to needing a login


def test_email_is_stored_lowercase(client: FlaskClient) -> None:
    register(client, "bob", email="  Bob@Example.COM ")
    assert db.session.scalar(sa.select(User.email)) == "bob@example.com"


def test_duplicate_username_any_case(client: FlaskClient) -> None:
    register(client, "alice")
    response = register(client, "ALICE", email="other@example.com")
    assert response.status_code == 400
    assert b"That username is taken." in response.data
    assert user_count() == 1


def test_duplicate_email(client: FlaskClient) -> None:
    register(client, "alice")
    response = register(client, "alice2", email="ALICE@example.com")
    assert response.status_code == 400
    assert b"already registered" in response.data
    assert user_count() == 1


def test_malformed_inputs(client: FlaskClient) -> None:
    cases = [
        {
            "username": "ok_name",
            "email": "not-an-email",
            "password": "longenough",
            "password2": "longenough",
        },
        {
            "username": "ok_name",
            "email": "a@example.com",
            "password": "short",
            "password2": "short",
        },
        {
            "username": "ok_name",
            "email": "a@example.com",
            "password": "longenough",
            "password2": "different1",
        },
        {
            "username": "no spaces!",
            "email": "a@example.com",
            "password": "longenough",
            "password2": "longenough",
        },
        {
            "username": "x" * 33,
            "email": "a@example.com",
            "password": "longenough",
            "password2": "longenough",
        },
        {"username": "", "email": "", "password": "", "password2": ""},
    ]
    for data in cases:
        response = post_form(client, "/auth/register", data)
        assert response.status_code == 400, data
        assert b'class="error"' in response.data
    assert user_count() == 0


def test_register_race_loses_cleanly(client: FlaskClient, monkeypatch) -> None:
    """Two sign-ups for one name at once: the database constraint wins, no 500, no write."""
    register(client, "alice")
    monkeypatch.setattr(RegistrationForm, "validate_username", lambda self, field: None)
    response = register(client, "alice", email="second@example.com")
    assert response.status_code == 409
    assert b"taken" in response.data
    assert user_count() == 1


def test_wrong_password_and_unknown_user(app: Flask, client: FlaskClient) -> None:
    make_user("alice")
    for name, password in [("alice", "wrong password"), ("nobody", "correct horse")]:
        response = login(client, name, password)
        assert response.status_code == 200
        assert b"Invalid username or password." in response.data
    assert client.get("/").status_code == 302
    response = post_form(client, "/auth/login", {"username": "", "password": ""})
    assert response.status_code == 400


def test_login_follows_only_local_next(app: Flask, client: FlaskClient) -> None:
    make_user("alice")
    data = {"username": "alice", "password": "correct horse"}
    response = post_form(client, "/auth/login?next=/explore", data)
    assert response.headers["Location"] == "/explore"
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/explore")})
    response = post_form(client, "/auth/login?next=https://evil.example/", data)
    assert response.headers["Location"] == "/"


def test_safe_next(app: Flask) -> None:
    with app.test_request_context():
        assert safe_next("/user/bob?page=2") == "/user/bob?page=2"
        for bad in [
            "https://evil.example/",
            "//evil.example/x",
            "/\\evil.example",
            "javascript:x",
            None,
            "",
        ]:
            assert safe_next(bad) == "/"


def test_missing_csrf_token_is_rejected(app: Flask, client: FlaskClient) -> None:
    make_user("alice")
    response = client.post("/auth/login", data={"username": "alice", "password": "correct horse"})
    assert response.status_code == 400
    assert b"The form expired" in response.data
    response = client.post(
        "/auth/register",
        data={
            "username": "eve",
            "email": "e@example.com",
            "password": "longenough",
            "password2": "longenough",
        },
    )
    assert response.status_code == 400
    assert user_count() == 1
    response = client.post(
        "/auth/login",
        data={"username": "alice", "password": "correct horse", "csrf_token": "forged"},
    )
    assert response.status_code == 400


def test_logout_needs_post_and_login(client: FlaskClient, logged_in: User) -> None:
    assert client.get("/auth/logout").status_code == 405
    assert client.post("/auth/logout").status_code == 400  # no CSRF token
    assert client.get("/").status_code == 200  # still logged in
