"""One handler for every HTTP error; a catch-all turns surprises into a logged 500."""

from __future__ import annotations

from flask import current_app, jsonify, render_template, request
from flask.wrappers import Response
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from ..extensions import db
from . import bp


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def render_error(error: HTTPException) -> tuple[str | Response, int]:
    code = error.code or 500
    if wants_json():
        return jsonify({"error": error.name, "status": code, "message": error.description}), code
    return render_template("errors/error.html", title=error.name, error=error, code=code), code


@bp.app_errorhandler(CSRFError)
def csrf_error(error: CSRFError) -> tuple[str | Response, int]:
    error.description = "The form expired or was not sent from this site. Please try again."
    return render_error(error)


@bp.app_errorhandler(HTTPException)
def http_error(error: HTTPException) -> tuple[str | Response, int] | HTTPException:
    if error.code is None or error.code < 400:
        return error  # redirects raised as exceptions (e.g. RequestRedirect) pass through
    return render_error(error)


@bp.app_errorhandler(Exception)
def unexpected_error(error: Exception) -> tuple[str | Response, int]:
    # Undo whatever the failed request half-wrote before anything else touches the session.
    db.session.rollback()
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return render_error(InternalServerError())
