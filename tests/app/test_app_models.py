"""Users, posts, following and the timeline."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask

from app import create_app
from app.avatar import identicon_svg
from app.extensions import db
from app.models import Post, User, all_posts, load_user, user_by_name, utcnow
from tests.app.microblog_helpers import make_post, make_user


def test_password_hashing(app: Flask) -> None:
    user = make_user("alice", password="s3cret-pass")
    assert user.password_hash != "s3cret-pass"
    assert user.check_password("s3cret-pass")
    assert not user.check_password("wrong")
    assert repr(user) == "<User alice>"
    assert user.password_hash.startswith("pbkdf2:sha256:1000$")  # the test profile's cheap hash


@pytest.mark.parametrize("profile", ["production", "development"])
def test_real_profiles_hash_with_scrypt(
    profile: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SECRET_KEY", "k" * 32)
    monkeypatch.setenv("MICROBLOG_DATA", str(tmp_path))
    application = create_app(
        {"MICROBLOG_ENV": profile, "SQLALCHEMY_DATABASE_URI": "sqlite://", "METRICS_ENABLED": False}
    )
    with application.app_context():
        user = User(username="carol", email="carol@example.com")
        user.set_password("s3cret-pass")
        assert user.password_hash.startswith("scrypt:")
        assert user.check_password("s3cret-pass") and not user.check_password("wrong")


def test_follow_unfollow(app: Flask) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    assert not alice.is_following(bob)
    alice.follow(bob)
    alice.follow(bob)  # twice is harmless
    db.session.commit()
    assert alice.is_following(bob)
    assert alice.following_count() == 1 and bob.followers_count() == 1
    assert bob.following_count() == 0
    alice.unfollow(bob)
    alice.unfollow(bob)
    db.session.commit()
    assert not alice.is_following(bob)
    assert bob.followers_count() == 0


def test_cannot_follow_self(app: Flask) -> None:
    alice = make_user("alice")
    with pytest.raises(ValueError):
        alice.follow(alice)


def test_timeline_has_own_and_followed_posts_newest_first(app: Flask) -> None:
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    now = utcnow()
    posts = [
        Post(body="alice old", author=alice, timestamp=now - timedelta(minutes=3)),
        Post(body="bob mid", author=bob, timestamp=now - timedelta(minutes=2)),
        Post(body="carol new", author=carol, timestamp=now - timedelta(minutes=1)),
        Post(body="alice new", author=alice, timestamp=now),
    ]
    db.session.add_all(posts)
    alice.follow(bob)
    db.session.commit()
    bodies = [p.body for p in db.session.scalars(alice.timeline())]
    assert bodies == ["alice new", "bob mid", "alice old"]
    assert [p.body for p in db.session.scalars(carol.timeline())] == ["carol new"]
    assert len(db.session.scalars(all_posts()).all()) == 4
    assert alice.posts_count() == 2
    assert [p.body for p in db.session.scalars(alice.authored_posts())] == [
        "alice new",
        "alice old",
    ]
    assert repr(posts[0]).startswith("<Post ")


def test_lookup_helpers(app: Flask) -> None:
    alice = make_user("alice")
    make_post(alice, "hi")
    assert user_by_name("alice") is alice
    assert user_by_name("nobody") is None
    assert load_user(alice.get_id()) is alice
    assert load_user("not-a-number") is None
    assert load_user(f"999:{alice.session_token}") is None


def test_identicon_is_deterministic_svg() -> None:
    one = identicon_svg("alice")
    assert one == identicon_svg("alice")
    assert one != identicon_svg("bob")
    assert one.startswith("<svg") and one.endswith("</svg>")
