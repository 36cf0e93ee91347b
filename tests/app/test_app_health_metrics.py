"""/healthz and /metrics, in process (single-process metrics)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.metrics import LATENCY_BUCKETS
from tests.app.microblog_helpers import free_port, login, make_user, post_form, register


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        sample, _, value = line.rpartition(" ")
        found_name, _, label_text = sample.partition("{")
        if found_name != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', label_text))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(value)
    return 0.0


def test_healthz_ok(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ok",
        "database": "ok",
        "version": "1.0.0",
        "commit": "testcommit",
    }
    assert response.headers["Cache-Control"] == "no-store"


def unreachable_app(monkeypatch: pytest.MonkeyPatch, url: str) -> Flask:
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("APP_GIT_COMMIT", "abc")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    return create_app("testing")


def test_healthz_503_when_sqlite_file_cannot_open(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    app = unreachable_app(monkeypatch, f"sqlite:///{tmp_path}/missing-dir/db.sqlite")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "error" and body["database"] == "unreachable"
    assert body["version"] == "1.0.0" and body["commit"] == "abc"


def test_healthz_503_when_postgres_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing listens on this loopback port: the connection is refused at once.
    url = f"postgresql://microblog:pw@127.0.0.1:{free_port()}/microblog?connect_timeout=3"
    app = unreachable_app(monkeypatch, url)
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unreachable"


def test_other_pages_fail_politely_without_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    app = unreachable_app(monkeypatch, f"sqlite:///{tmp_path}/missing-dir/db.sqlite")
    response = app.test_client().get("/explore")
    assert response.status_code == 500
    assert b"Internal Server Error" in response.data


def test_metrics_count_requests_and_app_events(app: Flask, client: FlaskClient) -> None:
    make_user("bob")
    client.get("/explore")
    client.get("/explore")
    client.get("/user/nobody")
    register(client, "carol")
    login(client, "carol", "wrong password")
    login(client, "carol")
    post_form(client, "/", {"body": "counted"})
    post_form(client, "/", {"body": ""})  # rejected: not counted as created

    response = client.get("/metrics")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    count = "flask_http_request_duration_seconds_count"
    assert metric(text, count, endpoint="main.explore", method="GET", status="200") >= 2
    assert metric(text, count, endpoint="main.user", status="404") == 1
    assert metric(text, "flask_http_request_total", method="GET", status="200") >= 2
    assert metric(text, "microblog_users_registered_total") == 1
    assert metric(text, "microblog_posts_created_total") == 1
    assert metric(text, "microblog_logins_total", result="success") == 1
    assert metric(text, "microblog_logins_total", result="failure") == 1
    # Static files are not tracked, and the scrape does not count itself.
    client.get("/static/style.css")
    again = client.get("/metrics").get_data(as_text=True)
    assert "static" not in again
    assert 'endpoint="prometheus_metrics"' not in again


def test_two_apps_in_one_process_have_separate_registries(app: Flask) -> None:
    other = create_app("testing")
    assert other.extensions["prometheus_exporter"].registry is not (
        app.extensions["prometheus_exporter"].registry
    )


def test_metrics_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METRICS_ENABLED", "0")
    app = create_app("testing")
    from app.extensions import db

    with app.app_context():
        db.create_all()
        client = app.test_client()
        assert client.get("/metrics").status_code == 404
        register(client, "dave")  # the counters are no-ops, not errors
        assert login(client, "dave", "wrong password").status_code == 200
        assert login(client, "dave").status_code == 302
        assert post_form(client, "/", {"body": "quiet"}).status_code == 302


def test_made_up_methods_are_one_other_series(app: Flask, client: FlaskClient) -> None:
    """An attacker inventing method names must not grow /metrics without bound."""
    before = client.get("/metrics").get_data(as_text=True).count("\n")
    for i in range(40):
        assert client.open("/explore", method=f"X{i:03d}").status_code == 405
    client.get("/explore")
    text = client.get("/metrics").get_data(as_text=True)
    methods = set(re.findall(r'method="([^"]*)"', text))
    assert methods <= {"GET", "HEAD", "POST", "other"}, methods
    assert metric(text, "flask_http_request_total", method="other", status="405") == 40
    count = "flask_http_request_duration_seconds_count"
    assert metric(text, count, method="other", status="405") == 40
    # A bounded number of new lines, not one histogram per made-up name.
    assert text.count("\n") - before < 100


def test_latency_buckets_resolve_a_fast_request(app: Flask, client: FlaskClient) -> None:
    """The histogram has buckets below a millisecond: a proxied request takes about one, and
    with the default first bucket (5 ms) the dashboard's p50/p95 would only be interpolation
    inside it (flat at 2.5 and 4.75 ms), not a measurement."""
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    text = client.get("/metrics").get_data(as_text=True)
    bucket = "flask_http_request_duration_seconds_bucket"
    healthz = {"endpoint": "main.healthz", "method": "GET", "status": "200"}
    bounds = {
        float(le)
        for le in re.findall(rf'^{bucket}{{[^}}]*le="([^"]+)"', text, flags=re.M)
        if le != "+Inf"
    }
    assert bounds == set(LATENCY_BUCKETS)
    assert min(bounds) <= 0.00025 and len([b for b in bounds if b < 0.005]) >= 4
    assert metric(text, bucket, le="+Inf", **healthz) == 3
