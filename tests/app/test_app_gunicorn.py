"""The app under real gunicorn on loopback: multiprocess metrics, config, startup errors."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.app.microblog_helpers import REPO_ROOT, Server, http_get, server_env
from tests.app.test_app_health_metrics import metric

pytestmark = pytest.mark.slow

CONF = REPO_ROOT / "gunicorn.conf.py"


def worker_pids(folder: Path) -> set[str]:
    """PIDs that wrote metric files: prometheus_client names them <type>_<pid>.db."""
    return {p.stem.rsplit("_", 1)[-1] for p in folder.glob("*.db")}


def test_metrics_add_up_across_two_workers(
    gunicorn_factory: Callable[..., Server], tmp_path: Path
) -> None:
    prom = tmp_path / "prom"
    prom.mkdir()
    (prom / "counter_99999999.db").write_bytes(b"stale")  # must be cleaned at start
    server = gunicorn_factory(workers=2, PROMETHEUS_MULTIPROC_DIR=str(prom))
    assert not (prom / "counter_99999999.db").exists()

    sent = 0
    lock = threading.Lock()

    def hammer() -> None:
        nonlocal sent
        for _ in range(15):
            status, _ = http_get(server.url + "/explore")
            assert status == 200
            with lock:
                sent += 1

    # Parallel connections so both sync workers take requests; bounded in count and time.
    deadline = time.monotonic() + 30
    while len(worker_pids(prom)) < 2 and time.monotonic() < deadline:
        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(worker_pids(prom)) >= 2, "requests never reached the second worker"

    # Whichever worker answers the scrape, it reports every worker's requests.
    for _ in range(6):
        status, text = http_get(server.url + "/metrics")
        assert status == 200
        count = metric(
            text,
            "flask_http_request_duration_seconds_count",
            endpoint="main.explore",
            method="GET",
            status="200",
        )
        assert count == sent
        assert metric(text, "microblog_logins_total", result="failure") == 0
        assert "microblog_posts_created_total" in text


def test_health_and_proxy_headers_under_gunicorn(gunicorn_factory: Callable[..., Server]) -> None:
    server = gunicorn_factory(workers=1)
    status, body = http_get(server.url + "/healthz")
    assert status == 200 and '"commit":"testcommit"' in body
    status, _ = http_get(server.url + "/no-such-page")
    assert status == 404
    log = server.log()
    assert '"GET /healthz HTTP/1.1" 200' in log  # access log on stdout by default


def test_metrics_off(gunicorn_factory: Callable[..., Server]) -> None:
    server = gunicorn_factory(workers=1, METRICS_ENABLED="0")
    status, _ = http_get(server.url + "/metrics")
    assert status == 404


def test_missing_secret_key_stops_gunicorn_with_one_line(
    gunicorn_factory: Callable[..., Server],
) -> None:
    server = gunicorn_factory(workers=1, ready=False, migrate=False, SECRET_KEY="")
    assert server.process.wait(timeout=30) == 4  # halted, not respawning workers forever
    log = server.log()
    assert "microblog: configuration error: SECRET_KEY is not set" in log
    assert "Traceback" not in log


def load_conf(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict:
    for name in list(os.environ):
        if name.startswith(("GUNICORN_", "METRICS_")):
            monkeypatch.delenv(name)
    # The conf module writes os.environ itself; setting it here first makes monkeypatch
    # restore the original (unset) state afterwards.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONF))


def test_conf_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    conf = load_conf(monkeypatch)
    try:
        assert conf["bind"] == ["0.0.0.0:5000"]
        assert conf["workers"] == 2 * len(os.sched_getaffinity(0)) + 1
        assert conf["accesslog"] == "-" and conf["wsgi_app"] == "app:create_app()"
        assert conf["preload_app"] is False
        folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
        assert folder.is_dir() and folder.name.startswith("microblog-prometheus-")
    finally:
        conf["on_exit"](None)
    assert not folder.exists()


def test_conf_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    prom = tmp_path / "prom"
    conf = load_conf(
        monkeypatch,
        GUNICORN_BIND="127.0.0.1:8123",
        GUNICORN_WORKERS="3",
        GUNICORN_ACCESS_LOG=str(tmp_path / "access.log"),
        PROMETHEUS_MULTIPROC_DIR=str(prom),
    )
    assert conf["bind"] == ["127.0.0.1:8123"] and conf["workers"] == 3
    assert conf["accesslog"] == str(tmp_path / "access.log")
    messages: list[str] = []
    server = SimpleNamespace(log=SimpleNamespace(info=lambda *a: messages.append(a[0] % a[1:])))
    conf["on_starting"](server)  # creates the folder we named
    assert prom.is_dir() and messages
    (prom / "gauge_livesum_4242.db").write_bytes(b"")
    conf["child_exit"](server, SimpleNamespace(pid=4242))  # gauges of a dead worker go away
    assert not (prom / "gauge_livesum_4242.db").exists()
    conf["on_exit"](server)
    assert prom.is_dir()  # a folder the operator chose is left in place


def test_the_master_imports_the_metrics_module_before_a_worker_exits(tmp_path: Path) -> None:
    # child_exit runs in the master's SIGCHLD handler. Importing prometheus_client there was
    # cut short by the next worker's exit: on a lab host every restart ended in a traceback
    # and exit status 1.
    code = (
        "import runpy, sys; runpy.run_path('gunicorn.conf.py'); "
        "print('prometheus_client.multiprocess' in sys.modules)"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "METRICS_ENABLED": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert done.stdout.strip() == "True", done.stderr[-2000:]


def test_the_master_loads_the_apps_libraries_but_not_the_app(tmp_path: Path) -> None:
    # Workers fork with the libraries loaded (a start: 3.0 -> 0.8 CPU-s, bench_app.py
    # --starts); the app itself, its database and its metrics are still made in each worker.
    code = (
        "import runpy, sys; runpy.run_path('gunicorn.conf.py'); "
        "print(' '.join(m for m in ('flask', 'sqlalchemy', 'flask_sqlalchemy', "
        "'prometheus_flask_exporter', 'app') if m in sys.modules))"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "METRICS_ENABLED": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert done.stdout.split() == [
        "flask",
        "sqlalchemy",
        "flask_sqlalchemy",
        "prometheus_flask_exporter",
    ], done.stderr[-2000:]
    assert not list(tmp_path.iterdir())  # no metric of the master's own


def test_conf_with_metrics_off(monkeypatch: pytest.MonkeyPatch) -> None:
    conf = load_conf(monkeypatch, METRICS_ENABLED="0")
    assert not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    conf["on_starting"](None)
    conf["child_exit"](None, SimpleNamespace(pid=1))
    conf["on_exit"](None)


def test_flask_db_upgrade_is_idempotent(tmp_path: Path) -> None:
    env = server_env(tmp_path)
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
    assert (tmp_path / "data" / "microblog.db").is_file()
