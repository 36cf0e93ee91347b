"""Gunicorn settings for the microblog: gunicorn -c gunicorn.conf.py 'app:create_app()'.

Every setting can be changed through the environment, so the deploy (systemd, supervisor,
Jenkins) never has to edit this file:

GUNICORN_BIND        address to listen on (default 0.0.0.0:5000)
GUNICORN_WORKERS     worker processes (default 2 x CPUs + 1)
GUNICORN_THREADS     threads per worker (default 1)
GUNICORN_TIMEOUT     seconds before a silent worker is restarted (default 30)
GUNICORN_ACCESS_LOG  access log file, "-" for stdout (default "-")
GUNICORN_ERROR_LOG   error log file, "-" for stderr (default "-")
GUNICORN_LOG_LEVEL   debug, info, warning, ... (default info)
PROMETHEUS_MULTIPROC_DIR  folder for the workers' metric files (default: a fresh temp folder)
METRICS_ENABLED      0 turns /metrics off (and the folder above is not needed)
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def _metrics_enabled() -> bool:
    return os.environ.get("METRICS_ENABLED", "1").strip().lower() not in {"0", "false", "no", "off"}


wsgi_app = "app:create_app()"
bind = [os.environ.get("GUNICORN_BIND", "0.0.0.0:5000")]
workers = _int_env("GUNICORN_WORKERS", 2 * _cpu_count() + 1)
threads = _int_env("GUNICORN_THREADS", 1)
timeout = _int_env("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int_env("GUNICORN_GRACEFUL_TIMEOUT", 20)
keepalive = 5
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = os.environ.get("GUNICORN_ERROR_LOG", "-")
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Client address as Nginx passed it (X-Forwarded-For), the time taken in microseconds, and
# which worker answered (pid=<N>).
access_log_format = '%({x-forwarded-for}i)s %(h)s "%(r)s" %(s)s %(b)s %(D)sus "%(a)s" pid=%(p)s'
proc_name = "microblog"
# The app must be imported after fork: each worker then opens its own database connections
# and prometheus_client sees PROMETHEUS_MULTIPROC_DIR at import time.
preload_app = False

# Multiprocess metrics. This module runs in the master before any worker starts, so setting
# the variable here reaches every worker. A folder we created ourselves is removed on exit.
_OWN_PROMETHEUS_DIR: Path | None = None
if _metrics_enabled():
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        _OWN_PROMETHEUS_DIR = Path(tempfile.mkdtemp(prefix="microblog-prometheus-"))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_OWN_PROMETHEUS_DIR)
    # Imported now, in the master: child_exit runs in its SIGCHLD handler, where an import
    # is cut short by the next worker's exit and leaves the module half-initialised.
    from prometheus_client import multiprocess

# The app's libraries, imported once here: each worker forks with them loaded (copy on write)
# instead of importing them itself, which was most of a worker's start. Libraries only: the
# app itself is still created in each worker (preload_app above).
import flask  # noqa: E402, F401
import flask_limiter  # noqa: E402, F401
import flask_login  # noqa: E402, F401
import flask_migrate  # noqa: E402, F401
import flask_sqlalchemy  # noqa: E402, F401
import flask_wtf  # noqa: E402, F401
import prometheus_flask_exporter  # noqa: E402, F401
import sqlalchemy  # noqa: E402, F401


def on_starting(server: Any) -> None:
    """Start from an empty metrics folder: files of a previous run would be counted again."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder or not _metrics_enabled():
        return
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    server.log.info("prometheus multiprocess folder: %s", path)


def child_exit(server: Any, worker: Any) -> None:
    """Fold a dead worker's gauges away; its counters stay in the totals."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR") or not _metrics_enabled():
        return
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    if _OWN_PROMETHEUS_DIR is not None:
        shutil.rmtree(_OWN_PROMETHEUS_DIR, ignore_errors=True)
