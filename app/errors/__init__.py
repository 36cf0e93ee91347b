"""Error pages in the site's style, and JSON errors under /api/."""

from flask import Blueprint

bp = Blueprint("errors", __name__)

from . import handlers  # noqa: E402,F401  (handlers attach themselves to bp)
