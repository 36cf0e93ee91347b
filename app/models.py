"""Database models: users, their posts and who follows whom."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask_login import UserMixin
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db, login_manager

USERNAME_MAX = 32
EMAIL_MAX = 254
POST_MAX = 280
ABOUT_MAX = 280


def utcnow() -> datetime:
    """Naive UTC: SQLite drops the zone anyway, so store naive UTC everywhere."""
    return datetime.now(UTC).replace(tzinfo=None)


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

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

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


def user_by_name(username: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.username == username))


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    try:
        return db.session.get(User, int(user_id))
    except ValueError:
        return None
