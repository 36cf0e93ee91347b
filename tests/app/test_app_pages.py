"""Timeline, explore, profiles, following, avatars, headers, proxy handling, error pages."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.extensions import db
from app.models import Post, User, utcnow
from tests.app.microblog_helpers import csrf_token, make_post, make_user, post_form


def post_count() -> int:
    return db.session.scalar(sa.select(sa.func.count(Post.id))) or 0


def test_home_requires_login(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login?next=")


def test_post_and_see_it(client: FlaskClient, logged_in: User) -> None:
    response = post_form(client, "/", {"body": "  hello world  "})
    assert response.status_code == 302
    home = client.get("/").get_data(as_text=True)
    assert "hello world" in home and "Your post is live." in home
    assert db.session.scalar(sa.select(Post.body)) == "hello world"


@pytest.mark.parametrize("body", ["", "   \n ", "x" * 281])
def test_bad_posts_are_form_errors(client: FlaskClient, logged_in: User, body: str) -> None:
    response = post_form(client, "/", {"body": body})
    assert response.status_code == 400
    assert b'class="error"' in response.data
    assert post_count() == 0


def test_post_of_exactly_280_chars(client: FlaskClient, logged_in: User) -> None:
    assert post_form(client, "/", {"body": "y" * 280}).status_code == 302
    assert post_count() == 1


def test_post_without_csrf(client: FlaskClient, logged_in: User) -> None:
    assert client.post("/", data={"body": "sneaky"}).status_code == 400
    assert post_count() == 0


def test_markup_is_escaped(client: FlaskClient, logged_in: User) -> None:
    post_form(client, "/", {"body": "<script>alert(1)</script>"})
    html = client.get("/explore").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_explore_is_public_and_paginated(app: Flask, client: FlaskClient) -> None:
    app.config["POSTS_PER_PAGE"] = 2
    bob = make_user("bob")
    now = utcnow()
    for i in range(5):
        db.session.add(Post(body=f"post {i}", author=bob, timestamp=now + timedelta(seconds=i)))
    db.session.commit()
    first = client.get("/explore").get_data(as_text=True)
    assert "post 4" in first and "post 3" in first and "post 2" not in first
    assert "Page 1 of 3" in first and 'rel="next"' in first
    last = client.get("/explore?page=3").get_data(as_text=True)
    assert "post 0" in last and 'rel="prev"' in last
    assert client.get("/explore?page=4").status_code == 404
    assert client.get("/explore?page=abc").status_code == 404
    assert client.get("/explore?page=0").status_code == 404


def test_empty_explore(client: FlaskClient) -> None:
    response = client.get("/explore")
    assert response.status_code == 200 and b"Nobody has posted yet." in response.data


def test_profile_page(app: Flask, client: FlaskClient) -> None:
    bob = make_user("bob", about="I like <b>bold</b> claims")
    make_post(bob, "bob was here")
    html = client.get("/user/bob").get_data(as_text=True)
    assert "bob was here" in html
    assert "I like &lt;b&gt;bold&lt;/b&gt; claims" in html
    assert "/avatar/bob.svg" in html
    assert "Follow" not in html  # anonymous visitors get no buttons
    assert client.get("/user/nobody").status_code == 404
    assert client.get("/user/bob?page=9").status_code == 404


def test_follow_unfollow_and_timeline(client: FlaskClient, logged_in: User) -> None:
    bob = make_user("bob")
    make_post(bob, "bob's thoughts")
    assert "bob's thoughts" not in client.get("/").get_data(as_text=True)

    profile = client.get("/user/bob").get_data(as_text=True)
    assert 'id="follow"' in profile
    response = post_form(client, "/follow/bob", {}, token_from="/user/bob")
    assert response.status_code == 302 and response.headers["Location"] == "/user/bob"
    assert logged_in.is_following(bob)
    assert "bob&#39;s thoughts" in client.get("/").get_data(as_text=True)
    profile = client.get("/user/bob").get_data(as_text=True)
    assert 'id="unfollow"' in profile and '<span id="followers-count">1</span>' in profile

    # Following again is harmless.
    assert post_form(client, "/follow/bob", {}, token_from="/user/bob").status_code == 302
    assert bob.followers_count() == 1

    response = post_form(client, "/unfollow/bob", {}, token_from="/user/bob")
    assert response.status_code == 302
    assert not logged_in.is_following(bob)
    assert "bob&#39;s thoughts" not in client.get("/").get_data(as_text=True)


def test_follow_errors(client: FlaskClient, logged_in: User) -> None:
    make_user("bob")
    response = post_form(client, "/follow/alice", {}, token_from="/user/alice")
    assert response.status_code == 400 and b"You cannot follow yourself." in response.data
    response = post_form(client, "/unfollow/alice", {}, token_from="/user/alice")
    assert response.status_code == 400
    assert post_form(client, "/follow/nobody", {}, token_from="/").status_code == 404
    assert post_form(client, "/unfollow/nobody", {}, token_from="/").status_code == 404
    assert client.post("/follow/bob").status_code == 400  # no CSRF token
    assert client.get("/follow/bob").status_code == 405
    assert logged_in.following_count() == 0
    own = client.get("/user/alice").get_data(as_text=True)
    assert "Edit profile" in own and 'id="follow"' not in own


def test_follow_requires_login(client: FlaskClient) -> None:
    make_user("bob")
    token = csrf_token(client, "/auth/login")
    response = client.post("/follow/bob", data={"csrf_token": token})
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_edit_profile(client: FlaskClient, logged_in: User) -> None:
    page = client.get("/edit_profile").get_data(as_text=True)
    assert 'value="alice"' in page
    response = post_form(client, "/edit_profile", {"username": "alice2", "about_me": "hi there"})
    assert response.status_code == 302 and response.headers["Location"] == "/user/alice2"
    assert logged_in.username == "alice2" and logged_in.about_me == "hi there"
    # Keeping your own name (in another case) is fine.
    data = {"username": "ALICE2", "about_me": ""}
    assert post_form(client, "/edit_profile", data).status_code == 302


def test_edit_profile_errors(client: FlaskClient, logged_in: User) -> None:
    make_user("bob")
    response = post_form(client, "/edit_profile", {"username": "bob", "about_me": ""})
    assert response.status_code == 400 and b"That username is taken." in response.data
    response = post_form(client, "/edit_profile", {"username": "alice", "about_me": "z" * 281})
    assert response.status_code == 400
    assert db.session.get(User, logged_in.id).about_me == ""


def test_edit_profile_race(client: FlaskClient, logged_in: User, monkeypatch) -> None:
    from app.main.forms import EditProfileForm

    make_user("bob")
    monkeypatch.setattr(EditProfileForm, "validate_username", lambda self, field: None)
    response = post_form(client, "/edit_profile", {"username": "bob", "about_me": "x"})
    assert response.status_code == 409
    assert db.session.get(User, logged_in.id).username == "alice"


def test_last_seen_is_refreshed_at_most_every_interval(
    app: Flask, client: FlaskClient, logged_in: User
) -> None:
    old = utcnow() - timedelta(hours=1)
    logged_in.last_seen = old
    db.session.commit()
    client.get("/explore")
    refreshed = db.session.get(User, logged_in.id).last_seen
    assert refreshed > old
    client.get("/explore")
    assert db.session.get(User, logged_in.id).last_seen == refreshed


def test_last_seen_failure_does_not_break_the_page(
    app: Flask, client: FlaskClient, logged_in: User, monkeypatch
) -> None:
    from sqlalchemy.exc import OperationalError

    logged_in.last_seen = utcnow() - timedelta(hours=1)
    db.session.commit()

    def fail() -> None:
        raise OperationalError("UPDATE", {}, Exception("database is locked"))

    monkeypatch.setattr(db.session, "commit", fail)
    assert client.get("/explore").status_code == 200


def test_avatar(client: FlaskClient) -> None:
    response = client.get("/avatar/alice.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert "max-age" in response.headers["Cache-Control"]
    assert response.data.startswith(b"<svg")
    assert client.get("/avatar/bad%20name.svg").status_code == 404


def test_static_assets_are_local(client: FlaskClient) -> None:
    html = client.get("/auth/login").get_data(as_text=True)
    assert "/static/style.css" in html and "/static/app.js" in html
    assert "http://" not in html and "https://" not in html  # no CDN, no external avatars
    assert "<script>" not in html  # only external same-origin scripts (CSP)
    assert client.get("/static/style.css").status_code == 200
    assert client.get("/static/app.js").status_code == 200


def test_security_headers_and_cookie_flags(client: FlaskClient) -> None:
    response = client.get("/auth/login")
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_secure_cookie_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "1")
    app = create_app("testing")
    with app.app_context():
        db.create_all()
        cookie = app.test_client().get("/auth/login").headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_behind_one_proxy(app: Flask, client: FlaskClient) -> None:
    seen = {}

    @app.route("/_whoami")
    def whoami() -> str:
        from flask import request

        seen.update(addr=request.remote_addr, scheme=request.scheme, host=request.host)
        return "ok"

    headers = {
        "X-Forwarded-For": "203.0.113.9, 198.51.100.7",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "blog.example.org",
    }
    client.get("/_whoami", headers=headers)
    # Only the last hop (the one Nginx appended) is trusted.
    assert seen == {"addr": "198.51.100.7", "scheme": "https", "host": "blog.example.org"}
    response = client.get("/", headers=headers)
    assert response.status_code == 302
    # Relative redirect: the browser resolves it against the public https origin.
    assert response.headers["Location"].startswith("/auth/login")


def test_external_urls_use_forwarded_scheme_and_host(app: Flask, client: FlaskClient) -> None:
    from flask import url_for

    @app.route("/_external")
    def external() -> str:
        return url_for("main.explore", _external=True)

    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "blog.example.org"}
    assert client.get("/_external", headers=headers).data == b"https://blog.example.org/explore"


def test_error_pages_in_site_style(app: Flask, client: FlaskClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "Not Found" in html and "/static/style.css" in html
    assert response.headers["X-Frame-Options"] == "DENY"


def test_unexpected_error_is_a_styled_500_and_rolls_back(app: Flask, client: FlaskClient) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.route("/_boom")
    def boom() -> str:
        db.session.add(User(username="ghost", email="g@example.com", password_hash="x"))
        db.session.flush()
        raise RuntimeError("kaboom")

    response = client.get("/_boom")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "Internal Server Error" in html and "/static/style.css" in html
    assert "kaboom" not in html
    assert db.session.scalar(sa.select(User).where(User.username == "ghost")) is None


def test_a_template_is_compiled_once_for_all_the_apps_of_a_session(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Each test makes its own app; the second app renders the login page from the session's
    compiled templates (tests/app/conftest.py), and a template edited in between is compiled
    again, never served stale."""
    import jinja2

    compiled: list[str | None] = []
    compile_ = jinja2.Environment.compile

    def counting(self, source, name=None, filename=None, raw=False, defer_init=False):
        compiled.append(name)
        return compile_(self, source, name, filename, raw, defer_init)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    for _ in range(2):
        assert create_app("testing").test_client().get("/auth/login").status_code == 200
    assert compiled.count("auth/login.html") <= 1, compiled
    assert compiled.count("base.html") <= 1, compiled

    page = tmp_path / "auth" / "login.html"
    page.parent.mkdir()
    for text in ("FIRST-EDITION", "SECOND-EDITION"):
        page.write_text("{% extends 'base.html' %}{% block content %}" + text + "{% endblock %}")
        edited = create_app("testing")
        edited.jinja_loader.searchpath.insert(0, str(tmp_path))
        compiled.clear()
        assert text in edited.test_client().get("/auth/login").get_data(as_text=True)
        assert compiled == ["auth/login.html"], compiled
