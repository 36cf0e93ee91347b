"""Database models: users, their posts and who follows whom."""

from __future__ import annotations

import hmac
import re
import secrets
from datetime import UTC, datetime
from functools import cache

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import current_app
from flask_login import UserMixin
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db, login_manager

USERNAME_MAX = 32
USERNAME_PATTERN = r"^[A-Za-z0-9_.-]+$"
USERNAME_RE = re.compile(rf"[A-Za-z0-9_.-]{{1,{USERNAME_MAX}}}")
SESSION_TOKEN_BYTES = 32
EMAIL_MAX = 254
POST_MAX = 280
ABOUT_MAX = 280


def utcnow() -> datetime:
    """Naive UTC: SQLite drops the zone anyway, so store naive UTC everywhere."""
    return datetime.now(UTC).replace(tzinfo=None)


def new_session_token() -> str:
    return secrets.token_hex(SESSION_TOKEN_BYTES)


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def dummy_password_hash() -> str:
    """A hash of nothing anyone knows, made the way real ones are: checking a password against
    it costs an unknown username the same time as a known one."""
    return _dummy_hash(current_app.config["PASSWORD_HASH_METHOD"])


@cache
def _dummy_hash(method: str) -> str:
    return generate_password_hash(secrets.token_hex(16), method=method)


followers = sa.Table(
    "followers",
    db.metadata,
    sa.Column("follower_id", sa.Integer, sa.ForeignKey("user.id"), primary_key=True),
    sa.Column("followed_id", sa.Integer, sa.ForeignKey("user.id"), primary_key=True),
)


class User(UserMixin, db.Model):
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    username: so.Mapped[str] = so.mapped_column(sa.String(USERNAME_MAX), unique=True, index=True)
    email: so.Mapped[str] = so.mapped_column(sa.String(EMAIL_MAX), unique=True, index=True)
    password_hash: so.Mapped[str] = so.mapped_column(sa.String(256))
    # Part of every session and remember-me cookie (see get_id); a new one revokes them all.
    session_token: so.Mapped[str] = so.mapped_column(
        sa.String(2 * SESSION_TOKEN_BYTES), default=new_session_token
    )
    about_me: so.Mapped[str] = so.mapped_column(sa.String(ABOUT_MAX), default="")
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    last_seen: so.Mapped[datetime] = so.mapped_column(default=utcnow)

    posts: so.WriteOnlyMapped[Post] = so.relationship(back_populates="author")
    following: so.WriteOnlyMapped[User] = so.relationship(
        secondary=followers,
        primaryjoin=(followers.c.follower_id == id),
        secondaryjoin=(followers.c.followed_id == id),
        back_populates="followers",
    )
    followers: so.WriteOnlyMapped[User] = so.relationship(
        secondary=followers,
        primaryjoin=(followers.c.followed_id == id),
        secondaryjoin=(followers.c.follower_id == id),
        back_populates="following",
    )

    def __repr__(self) -> str:
        return f"<User {self.username}>"

    def get_id(self) -> str:
        """What Flask-Login stores in the session and the remember-me cookie: the id alone
        would stay valid for as long as the cookie lives."""
        return f"{self.id}:{self.session_token}"

    def revoke_sessions(self) -> None:
        """Log this user out everywhere: every cookie issued so far stops working."""
        self.session_token = new_session_token()

    def set_password(self, password: str) -> None:
        self.password_hash = hash_password(password)
        self.revoke_sessions()  # whoever knew the old password is logged out

    def check_password(self, password: str) -> bool:
        # Hash even without a stored hash, so this always takes the same time.
        matches = check_password_hash(self.password_hash or dummy_password_hash(), password)
        return bool(self.password_hash) and matches

    def is_following(self, user: User) -> bool:
        query = self.following.select().where(User.id == user.id)
        return db.session.scalar(query) is not None

    def follow(self, user: User) -> None:
        """Follow ``user``; following yourself is refused, following twice is a no-op."""
        if user.id == self.id:
            raise ValueError("you cannot follow yourself")
        if not self.is_following(user):
            self.following.add(user)

    def unfollow(self, user: User) -> None:
        if self.is_following(user):
            self.following.remove(user)

    def _count(self, relation: so.WriteOnlyCollection) -> int:
        query = sa.select(sa.func.count()).select_from(relation.select().subquery())
        return db.session.scalar(query) or 0

    def followers_count(self) -> int:
        return self._count(self.followers)

    def following_count(self) -> int:
        return self._count(self.following)

    def posts_count(self) -> int:
        return self._count(self.posts)

    def timeline(self) -> sa.Select:
        """Own posts and posts of followed users, newest first."""
        followed_ids = sa.select(followers.c.followed_id).where(followers.c.follower_id == self.id)
        return (
            sa.select(Post)
            .options(so.joinedload(Post.author))
            .where(sa.or_(Post.user_id == self.id, Post.user_id.in_(followed_ids)))
            .order_by(Post.timestamp.desc(), Post.id.desc())
        )

    def authored_posts(self) -> sa.Select:
        return (
            sa.select(Post)
            .options(so.joinedload(Post.author))
            .where(Post.user_id == self.id)
            .order_by(Post.timestamp.desc(), Post.id.desc())
        )


class Post(db.Model):
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    body: so.Mapped[str] = so.mapped_column(sa.String(POST_MAX))
    timestamp: so.Mapped[datetime] = so.mapped_column(index=True, default=utcnow)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey(User.id), index=True)

    author: so.Mapped[User] = so.relationship(back_populates="posts")

    def __repr__(self) -> str:
        return f"<Post {self.id} by {self.user_id}>"


def all_posts() -> sa.Select:
    """Everyone's posts, newest first (the Explore page and the API)."""
    return (
        sa.select(Post)
        .options(so.joinedload(Post.author))
        .order_by(Post.timestamp.desc(), Post.id.desc())
    )


# Names that differ only in case are one account; the database enforces it, so two sign-ups
# racing for "Racer" and "racer" cannot both win.
sa.Index("uq_user_username_lower", sa.func.lower(User.username), unique=True)


def user_by_name(username: str) -> User | None:
    # A name no account can have is not looked up: some (NUL bytes) make PostgreSQL fail.
    if not USERNAME_RE.fullmatch(username):
        return None
    return db.session.scalar(sa.select(User).where(User.username == username))


def authenticate(username: str, password: str) -> User | None:
    """The user with this name and password, or None; as slow for an unknown name."""
    user = user_by_name(username)
    if user is None:
        check_password_hash(dummy_password_hash(), password)
        return None
    return user if user.check_password(password) else None


SESSION_ID_RE = re.compile(r"([0-9]{1,18}):([0-9a-f]+)")


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    match = SESSION_ID_RE.fullmatch(user_id)
    if match is None:  # includes sessions from before tokens existed: they log in again
        return None
    user = db.session.get(User, int(match.group(1)))
    if user is None or not hmac.compare_digest(user.session_token, match.group(2)):
        return None
    return user
