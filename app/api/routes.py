"""GET /api/posts and GET /api/users/<username>. E-mail addresses are never exposed."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, jsonify, request, url_for
from flask.wrappers import Response

from ..config import MAX_PER_PAGE
from ..models import Post, User, all_posts, user_by_name
from ..paging import bounded_int, paginate
from . import bp


def iso(value: Any) -> str | None:
    return value.isoformat() + "Z" if value else None


def post_json(post: Post) -> dict[str, Any]:
    return {
        "id": post.id,
        "body": post.body,
        "timestamp": iso(post.timestamp),
        "author": post.author.username,
        "author_url": url_for("api.get_user", username=post.author.username),
    }


def user_json(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "about_me": user.about_me,
        "created_at": iso(user.created_at),
        "last_seen": iso(user.last_seen),
        "post_count": user.posts_count(),
        "followers": user.followers_count(),
        "following": user.following_count(),
        "avatar_url": url_for("main.avatar", username=user.username),
        "profile_url": url_for("main.user", username=user.username),
    }


@bp.route("/posts")
def get_posts() -> Response:
    default = current_app.config["POSTS_PER_PAGE"]
    per_page = bounded_int(request.args.get("per_page"), default, MAX_PER_PAGE)
    if per_page is None:
        abort(400, description=f"per_page must be a number from 1 to {MAX_PER_PAGE}.")
    # A malformed page number is the client's mistake (400); one past the end is a 404.
    page = paginate(all_posts(), per_page=per_page, status=400)

    def link(number: int | None) -> str | None:
        return url_for("api.get_posts", page=number, per_page=per_page) if number else None

    return jsonify(
        {
            "items": [post_json(post) for post in page.items],
            "page": page.page,
            "per_page": per_page,
            "pages": page.pages,
            "total": page.total,
            "next": link(page.next_num),
            "prev": link(page.prev_num),
        }
    )


@bp.route("/users/<username>")
def get_user(username: str) -> Response:
    user = user_by_name(username)
    if user is None:
        abort(404, description=f"No user named {username!r}.")
    return jsonify(user_json(user))
