"""Prometheus instrumentation.

Under gunicorn, gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR before any worker imports
prometheus_client, so every worker writes its samples to files there and a scrape of /metrics
on any worker adds up all of them. Without that variable (flask run, tests) metrics live in a
registry of this app alone.
"""

from __future__ import annotations

import os

from flask import Flask
from prometheus_client import CollectorRegistry, Counter
from prometheus_flask_exporter import PrometheusMetrics
from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics

LOGIN_RESULTS = ("success", "failure")


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
    app.extensions["microblog_metrics"] = counters
    return counters


def counters(app: Flask) -> AppMetrics:
    return app.extensions["microblog_metrics"]
