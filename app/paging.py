"""Page numbers from the query string, read strictly, so no value an attacker sends reaches the
database as an absurd OFFSET (a 500) or slips through int()'s leniency."""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask import abort, request
from flask_sqlalchemy.pagination import Pagination

from .extensions import db

# Far past any real timeline, and small enough that page x per_page fits every database.
PAGE_MAX = 100_000
# ASCII digits only: int() also takes " 2", "1_0" and "٣", and str.isdigit() takes "²".
_NUMBER = re.compile(r"[0-9]{1,9}")


def bounded_int(raw: str | None, default: int, maximum: int) -> int | None:
    """``raw`` as a number from 1 to ``maximum``; ``default`` when absent, None when invalid."""
    if raw is None:
        return default
    if not _NUMBER.fullmatch(raw):
        return None
    value = int(raw)
    return value if 1 <= value <= maximum else None


def page_number(status: int = 404) -> int:
    """?page=N, or abort with ``status`` (404 on pages: no such page; 400 in the API)."""
    page = bounded_int(request.args.get("page"), 1, PAGE_MAX)
    if page is None:
        abort(status, description=f"page must be a number from 1 to {PAGE_MAX}.")
    return page


def paginate(query: sa.Select, per_page: int, status: int = 404) -> Pagination:
    """One page of ``query``; a page past the end is a 404."""
    return db.paginate(query, page=page_number(status), per_page=per_page, error_out=True)
