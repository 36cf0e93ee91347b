"""Register, log in and log out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from ..extensions import db
from ..metrics import counters
from ..models import User, authenticate
from . import bp
from .forms import LoginForm, RegistrationForm, username_taken


def safe_next(target: str | None) -> str:
    """Only follow same-site relative paths, so ?next= cannot bounce users elsewhere."""
    if target and target.isprintable():
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/"):
            if not target.startswith("//") and "\\" not in target:
                return target
    return url_for("main.index")


@bp.route("/register", methods=["GET", "POST"])
def register() -> str | Response:
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = RegistrationForm()
    if form.validate_on_submit():
        user = User(username=form.username.data, email=form.email.data)
        user.set_password(form.password.data)
        db.session.add(user)
        try:
            db.session.commit()
        except IntegrityError:
            # Lost a race with another sign-up (same name in any case, or same e-mail) between
            # the form's checks and the insert: nothing was written; say which one clashed.
            db.session.rollback()
            if username_taken(form.username.data):
                form.username.errors.append("That username is taken.")
            else:
                form.email.errors.append("That e-mail address is already registered.")
            return render_template("auth/register.html", form=form), 409
        counters(current_app).user_registered()
        flash("Welcome aboard! You can log in now.", "success")
        return redirect(url_for("auth.login"))
    status = 400 if form.is_submitted() else 200
    return render_template("auth/register.html", form=form), status


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response:
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(form.username.data, form.password.data)
        if user is None:
            counters(current_app).login("failure")
            flash("Invalid username or password.", "error")
            return render_template("auth/login.html", form=form)
        counters(current_app).login("success")
        login_user(user, remember=form.remember_me.data)
        return redirect(safe_next(request.args.get("next")))
    status = 400 if form.is_submitted() else 200
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Response:
    # POST only, so CSRFProtect checks its token: a GET logout could be forged by any <img>.
    # A new session token revokes this user's remember-me cookies and other sessions too.
    current_user.revoke_sessions()
    db.session.commit()
    logout_user()
    flash("You have been logged out.", "info")
    return redirect(url_for("main.index"))
