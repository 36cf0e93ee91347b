"""Input an attacker would send: absurd page numbers, file parts where text belongs, NUL
bytes. Each must be a 400 or 404, never a 500, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import Post, User
from tests.app.microblog_helpers import csrf_token, login, make_post, make_user, post_form

HOSTILE_NUMBERS = [
    "99999999999999999999",
    "9223372036854775808",
    "²",
    "٣",  # an Arabic-Indic digit: int() takes it, the URL should not
    "-1",
    "0",
    "1e3",
    " 2",
    "1_0",
    "",
]


@pytest.mark.parametrize("path", ["/explore", "/user/alice", "/api/posts", "/"])
def test_page_numbers_are_bounded(
    app: Flask, client: FlaskClient, logged_in: User, path: str
) -> None:
    make_post(logged_in, "hello")
    for value in HOSTILE_NUMBERS:
        response = client.get(path, query_string={"page": value})
        assert response.status_code in (400, 404), (value, response.status_code)


def test_per_page_is_bounded(client: FlaskClient) -> None:
    for value in HOSTILE_NUMBERS + ["101", "100000000000"]:
        response = client.get("/api/posts", query_string={"per_page": value})
        assert response.status_code == 400, value
        assert "per_page" in response.get_json()["message"]


def test_ordinary_paging_still_works(app: Flask, client: FlaskClient) -> None:
    alice = make_user("alice")
    for i in range(3):
        make_post(alice, f"post {i}")
    assert client.get("/explore?page=1").status_code == 200
    assert client.get("/api/posts?page=2&per_page=2").get_json()["items"][0]["body"] == "post 0"
    assert client.get("/api/posts?page=3&per_page=2").status_code == 404
    assert client.get("/api/posts?page=abc").status_code == 400


def a_file() -> tuple[io.BytesIO, str]:
    return (io.BytesIO(b"not text"), "evil.txt")


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/auth/login", {"username": a_file, "password": "correct horse"}),
        ("/auth/login", {"username": "alice", "password": a_file}),
        (
            "/auth/register",
            {
                "username": a_file,
                "email": "e@example.com",
                "password": "x" * 9,
                "password2": "x" * 9,
            },
        ),
        (
            "/auth/register",
            {"username": "eve", "email": a_file, "password": "x" * 9, "password2": "x" * 9},
        ),
    ],
)
def test_file_parts_in_account_forms_are_400(
    app: Flask, client: FlaskClient, path: str, fields: dict
) -> None:
    make_user("alice")
    data = {k: v() if callable(v) else v for k, v in fields.items()}
    response = post_form(client, path, data, content_type="multipart/form-data")
    assert response.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 1


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/", {"body": a_file}),
        ("/edit_profile", {"username": a_file, "about_me": "hi"}),
        ("/edit_profile", {"username": "alice", "about_me": a_file}),
    ],
)
def test_file_parts_in_logged_in_forms_are_400(
    client: FlaskClient, logged_in: User, path: str, fields: dict
) -> None:
    data = {k: v() if callable(v) else v for k, v in fields.items()}
    response = post_form(client, path, data, content_type="multipart/form-data")
    assert response.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count(Post.id))) == 0
    assert db.session.get(User, logged_in.id).username == "alice"


def test_nul_bytes_are_400_or_404(any_db_app: Flask) -> None:
    client = any_db_app.test_client()
    make_user("alice")
    assert login(client, "ali\x00ce").status_code == 400
    response = post_form(
        client,
        "/auth/register",
        {
            "username": "eve\x00",
            "email": "e@example.com",
            "password": "x" * 9,
            "password2": "x" * 9,
        },
    )
    assert response.status_code == 400
    response = post_form(
        client,
        "/auth/register",
        {
            "username": "eve",
            "email": "e\x00@example.com",
            "password": "x" * 9,
            "password2": "x" * 9,
        },
    )
    assert response.status_code == 400
    for path in ["/user/ali%00ce", "/api/users/ali%00ce", "/user/%00"]:
        assert client.get(path).status_code == 404, path

    assert login(client, "alice").status_code == 302
    assert post_form(client, "/", {"body": "hello\x00world"}).status_code == 400
    data = {"username": "alice", "about_me": "nul\x00"}
    assert post_form(client, "/edit_profile", data).status_code == 400
    token = csrf_token(client, "/")
    assert client.post("/follow/ali%00ce", data={"csrf_token": token}).status_code == 404
    assert db.session.scalar(sa.select(sa.func.count(Post.id))) == 0
    assert client.get("/healthz").status_code == 200  # the connection survived
