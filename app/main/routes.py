"""Pages: home timeline, explore, profiles, following; plus avatars and /healthz."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import (
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    url_for,
)
from flask_login import current_user, login_required
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from werkzeug.wrappers import Response as BaseResponse

from ..avatar import identicon_svg
from ..extensions import db
from ..forms import EmptyForm
from ..metrics import counters
from ..models import USERNAME_RE, Post, User, all_posts, user_by_name, utcnow
from ..paging import paginate as paginate_query
from . import bp
from .forms import EditProfileForm, PostForm


def paginate(query: sa.Select) -> Pagination:
    """One page of ``query``; ?page= that is not a page number or past the end is a 404."""
    return paginate_query(query, per_page=current_app.config["POSTS_PER_PAGE"])


def get_user_or_404(username: str) -> User:
    user = user_by_name(username)
    if user is None:
        abort(404)
    return user


@bp.before_app_request
def record_last_seen() -> None:
    if not current_user.is_authenticated:
        return
    interval = timedelta(seconds=current_app.config["LAST_SEEN_INTERVAL_SECONDS"])
    now = utcnow()
    if current_user.last_seen is None or now - current_user.last_seen >= interval:
        current_user.last_seen = now
        try:
            db.session.commit()
        except SQLAlchemyError:
            # Last seen is cosmetic: never fail a page view because of it.
            db.session.rollback()


@bp.route("/", methods=["GET", "POST"])
@login_required
def index() -> str | BaseResponse | tuple[str, int]:
    form = PostForm()
    if form.validate_on_submit():
        db.session.add(Post(body=form.body.data, author=current_user))
        db.session.commit()
        counters(current_app).post_created()
        flash("Your post is live.", "success")
        # Redirect after POST so a reload does not post twice.
        return redirect(url_for("main.index"))
    status = 400 if form.is_submitted() else 200
    page = paginate(current_user.timeline())
    return render_template(
        "main/index.html", title="Home", form=form, page=page, endpoint="main.index"
    ), status


@bp.route("/explore")
def explore() -> str:
    page = paginate(all_posts())
    return render_template("main/explore.html", title="Explore", page=page, endpoint="main.explore")


@bp.route("/user/<username>")
def user(username: str) -> str:
    profile = get_user_or_404(username)
    page = paginate(profile.authored_posts())
    return render_template(
        "main/user.html",
        title=profile.username,
        user=profile,
        page=page,
        form=EmptyForm(),
        endpoint="main.user",
    )


@bp.route("/edit_profile", methods=["GET", "POST"])
@login_required
def edit_profile() -> str | BaseResponse | tuple[str, int]:
    form = EditProfileForm(current_user.username)
    if form.validate_on_submit():
        current_user.username = form.username.data
        current_user.about_me = form.about_me.data or ""
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            form.username.errors.append("That username is taken.")
            return render_template("main/edit_profile.html", title="Edit profile", form=form), 409
        flash("Profile saved.", "success")
        return redirect(url_for("main.user", username=current_user.username))
    if not form.is_submitted():
        form.username.data = current_user.username
        form.about_me.data = current_user.about_me
        status = 200
    else:
        status = 400
    return render_template("main/edit_profile.html", title="Edit profile", form=form), status


@bp.route("/follow/<username>", methods=["POST"])
@login_required
def follow(username: str) -> BaseResponse:
    target = get_user_or_404(username)
    if target.id == current_user.id:
        abort(400, description="You cannot follow yourself.")
    current_user.follow(target)
    try:
        db.session.commit()
    except IntegrityError:
        # A double click raced us to the same row: the follow exists, which is the goal.
        db.session.rollback()
    flash(f"You are following {target.username}.", "success")
    return redirect(url_for("main.user", username=username))


@bp.route("/unfollow/<username>", methods=["POST"])
@login_required
def unfollow(username: str) -> BaseResponse:
    target = get_user_or_404(username)
    if target.id == current_user.id:
        abort(400, description="You cannot unfollow yourself.")
    current_user.unfollow(target)
    db.session.commit()
    flash(f"You are no longer following {target.username}.", "info")
    return redirect(url_for("main.user", username=username))


@bp.route("/avatar/<username>.svg")
def avatar(username: str) -> Response:
    # Drawn from the name alone, so no database lookup per <img> on a timeline.
    if not USERNAME_RE.fullmatch(username):
        abort(404)
    response = Response(identicon_svg(username), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@bp.route("/healthz")
def healthz() -> tuple[Response, int]:
    database = "ok"
    try:
        db.session.execute(sa.text("SELECT 1"))
    except SQLAlchemyError as exc:
        db.session.rollback()
        current_app.logger.warning("health check: database unreachable: %s", exc.__class__.__name__)
        database = "unreachable"
    healthy = database == "ok"
    body = {
        "status": "ok" if healthy else "error",
        "database": database,
        "version": current_app.config["APP_VERSION"],
        "commit": current_app.config["APP_GIT_COMMIT"],
    }
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response, 200 if healthy else 503
