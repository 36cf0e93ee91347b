"""Read-only JSON API for scripts and tests."""

from flask import Blueprint

bp = Blueprint("api", __name__)

from . import routes  # noqa: E402,F401  (routes attach themselves to bp)
