"""The read-only JSON API."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from tests.app.microblog_helpers import make_post, make_user


def test_posts_newest_first_and_paginated(app: Flask, client: FlaskClient) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    for i in range(3):
        make_post(alice if i % 2 else bob, f"post {i}")
    data = client.get("/api/posts?per_page=2").get_json()
    assert data["total"] == 3 and data["pages"] == 2 and data["page"] == 1
    assert [p["body"] for p in data["items"]] == ["post 2", "post 1"]
    assert data["items"][1]["author"] == "alice"
    assert data["items"][1]["author_url"] == "/api/users/alice"
    assert data["items"][0]["timestamp"].endswith("Z")
    assert data["prev"] is None and data["next"] == "/api/posts?page=2&per_page=2"
    second = client.get(data["next"]).get_json()
    assert [p["body"] for p in second["items"]] == ["post 0"]
    assert second["next"] is None and second["prev"] == "/api/posts?page=1&per_page=2"


def test_posts_empty(client: FlaskClient) -> None:
    data = client.get("/api/posts").get_json()
    assert data["items"] == [] and data["total"] == 0


def test_posts_bad_parameters(client: FlaskClient) -> None:
    for query in ["per_page=0", "per_page=101", "per_page=lots"]:
        response = client.get(f"/api/posts?{query}")
        assert response.status_code == 400, query
        assert response.get_json()["status"] == 400
    response = client.get("/api/posts?page=7")
    assert response.status_code == 404 and response.is_json


def test_user(app: Flask, client: FlaskClient) -> None:
    alice, bob = make_user("alice", about="hello"), make_user("bob")
    alice.follow(bob)
    db.session.commit()
    make_post(alice, "one")
    data = client.get("/api/users/alice").get_json()
    assert data["username"] == "alice" and data["about_me"] == "hello"
    assert data["post_count"] == 1 and data["following"] == 1 and data["followers"] == 0
    assert data["avatar_url"] == "/avatar/alice.svg"
    assert data["profile_url"] == "/user/alice"
    assert "email" not in data and "password_hash" not in data
    assert client.get("/api/users/bob").get_json()["followers"] == 1


def test_unknown_user_is_json_404(client: FlaskClient) -> None:
    response = client.get("/api/users/nobody")
    assert response.status_code == 404
    body = response.get_json()
    assert body["error"] == "Not Found" and "nobody" in body["message"]
    assert client.get("/api/nothing-here").status_code == 404


def test_api_is_read_only(client: FlaskClient) -> None:
    response = client.post("/api/posts", json={"body": "x"})
    assert response.status_code == 405 and response.is_json
