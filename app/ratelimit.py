"""Login rate limits: per client address and per account, with Flask-Limiter.

The counts live in RATELIMIT_STORAGE_URI (memcached in production), so every gunicorn worker
sees every attempt. If that storage is down, Flask-Limiter falls back to counting in the
worker's own memory: the limit gets looser (one budget per worker), but login keeps working.
"""

from __future__ import annotations

import hashlib

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

LOGIN_ENDPOINT = "auth.login"
TOO_MANY = "Too many login attempts. Wait a minute, then try again."
# A storage that does not answer must not hold a login for long.
MEMCACHED_OPTIONS = {"connect_timeout": 0.5, "timeout": 0.5}


def _digest(value: str) -> str:
    """Storage keys stay short and plain whatever the client sent (memcached refuses keys with
    spaces or control characters, and longer than 250 bytes)."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def address_key() -> str:
    # request.remote_addr: the client as the trusted proxy reported it (ProxyFix).
    return "addr:" + _digest(get_remote_address())


def account_key() -> str:
    # Names that differ only in case or surrounding spaces are one account (see models.User).
    name = request.form.get("username", "")
    return "acct:" + _digest(name.strip().lower())


def init_rate_limits(app: Flask) -> Limiter:
    """Limit POST /auth/login; reading the page (GET) is never limited."""
    storage_uri = app.config["RATELIMIT_STORAGE_URI"]
    limiter = Limiter(
        key_func=address_key,
        storage_uri=storage_uri,
        storage_options=MEMCACHED_OPTIONS if storage_uri.startswith("memcached://") else {},
        strategy="fixed-window",
        in_memory_fallback_enabled=True,
        swallow_errors=True,  # should even the fallback fail: log it, let the login through
        headers_enabled=True,  # Retry-After on a 429
        key_prefix="microblog",
    )
    _init_for_blueprint(limiter, app, LOGIN_ENDPOINT.split(".")[0])
    # One limiter per app (not a module global): its storage and fallback state belong to it.
    view = app.view_functions[LOGIN_ENDPOINT]
    view = limiter.limit(
        app.config["LOGIN_LIMIT_PER_ACCOUNT"],
        key_func=account_key,
        methods=["POST"],
        error_message=TOO_MANY,
    )(view)
    view = limiter.limit(
        app.config["LOGIN_LIMIT_PER_ADDRESS"], methods=["POST"], error_message=TOO_MANY
    )(view)
    app.view_functions[LOGIN_ENDPOINT] = view
    app.extensions["microblog_limiter"] = limiter
    return limiter


def _init_for_blueprint(limiter: Limiter, app: Flask, blueprint: str) -> None:
    """Flask-Limiter hooks itself into every request of the app, which costs every page
    (/healthz, timelines) time for limits only the auth pages have. Its hooks are moved to
    that blueprint's scope, in Flask's documented {scope: [functions]} hook registries."""
    registries = (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs)
    before = [list(registry.get(None, [])) for registry in registries]
    limiter.init_app(app)
    for registry, kept in zip(registries, before, strict=True):
        added = [hook for hook in registry.get(None, []) if hook not in kept]
        registry[None] = kept
        registry.setdefault(blueprint, []).extend(added)
