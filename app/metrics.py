"""Prometheus instrumentation.

Under gunicorn, gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR before any worker imports
prometheus_client, so every worker writes its samples to files there and a scrape of /metrics
on any worker adds up all of them. Without that variable (flask run, tests) metrics live in a
registry of this app alone.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, Response, request
from prometheus_client import CollectorRegistry, Counter
from prometheus_flask_exporter import PrometheusMetrics
from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics

LOGIN_RESULTS = ("success", "failure")
# The methods of RFC 9110 and PATCH. Any other name a client makes up is labelled "other":
# one series for all of them instead of a new histogram per invented name.
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
OTHER_METHOD = "other"
# Request latency buckets, in seconds. A proxied request on a LAN takes about a millisecond,
# so the library's default first bucket (5 ms) would hold nearly all of them and its p50/p95
# would be interpolation inside it; these start at 0.25 ms and roughly double up to 10 s.
LATENCY_BUCKETS = (
    0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.5, 1.0,
    2.5, 5.0, 10.0,
)  # fmt: skip


class AppMetrics:
    """The app's own counters; a no-op stand-in when metrics are switched off."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.enabled = registry is not None
        if registry is None:
            return
        self._users = Counter("microblog_users_registered", "Accounts created.", registry=registry)
        self._posts = Counter("microblog_posts_created", "Posts published.", registry=registry)
        self._logins = Counter(
            "microblog_logins", "Login attempts by result.", ["result"], registry=registry
        )
        for result in LOGIN_RESULTS:
            # Create every series at zero so rate() works before the first failure.
            self._logins.labels(result=result)

    def user_registered(self) -> None:
        if self.enabled:
            self._users.inc()

    def post_created(self) -> None:
        if self.enabled:
            self._posts.inc()

    def login(self, result: str) -> None:
        if self.enabled:
            self._logins.labels(result=result).inc()


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def init_metrics(app: Flask) -> AppMetrics:
    """Expose /metrics and request metrics grouped by endpoint; store counters on the app."""
    if not app.config["METRICS_ENABLED"]:
        counters = AppMetrics(None)
    else:
        common = {
            "group_by": "endpoint",
            "defaults_prefix": "flask",
            "buckets": LATENCY_BUCKETS,
            # Static files and the metrics scrape itself would only add noise.
            "excluded_paths": ["^/static/"],
        }
        exporter: PrometheusMetrics
        if multiprocess_dir():
            exporter = GunicornInternalPrometheusMetrics(app, **common)
        else:
            exporter = PrometheusMetrics(app, registry=CollectorRegistry(), **common)
        counters = AppMetrics(exporter.registry)
        app.extensions["prometheus_exporter"] = exporter
        # Registered after the exporter's hooks, so Flask runs these first (it calls
        # after_request and teardown_request hooks in reverse order of registration).
        app.after_request(_bound_method_label)
        app.teardown_request(_bound_method_label_on_error)
    app.extensions["microblog_metrics"] = counters
    return counters


def _bound_method_label(response: Response) -> Response:
    """prometheus-flask-exporter labels with request.method as is. By the time its hook runs
    the view is done (an unknown method got its 405), so only the label sees the change."""
    if request.method not in KNOWN_METHODS:
        request.method = OTHER_METHOD
    return response


def _bound_method_label_on_error(_error: Any = None) -> None:
    if request.method not in KNOWN_METHODS:
        request.method = OTHER_METHOD


def counters(app: Flask) -> AppMetrics:
    return app.extensions["microblog_metrics"]
