"""Helpers shared by the microblog tests (imported as the package tests.app)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from app.extensions import db
from app.models import Post, User

REPO_ROOT = Path(__file__).resolve().parents[2]
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
TEST_SECRET = "test-secret-not-for-production-0123456789"


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


def csrf_token(client: FlaskClient, path: str = "/auth/login") -> str:
    return csrf_from(client.get(path).get_data(as_text=True))


def post_form(
    client: FlaskClient,
    path: str,
    data: dict[str, Any],
    token_from: str | None = None,
    **kwargs: Any,
) -> Any:
    """POST ``data`` to ``path`` with a valid CSRF token fetched from ``token_from``."""
    payload = dict(data)
    payload["csrf_token"] = csrf_token(client, token_from or path)
    return client.post(path, data=payload, **kwargs)


def register(
    client: FlaskClient,
    username: str,
    email: str | None = None,
    password: str = "correct horse",
    **kwargs: Any,
) -> Any:
    return post_form(
        client,
        "/auth/register",
        {
            "username": username,
            "email": email or f"{username}@example.com",
            "password": password,
            "password2": password,
        },
        **kwargs,
    )


def login(
    client: FlaskClient, username: str, password: str = "correct horse", **kwargs: Any
) -> Any:
    return post_form(client, "/auth/login", {"username": username, "password": password}, **kwargs)


def make_user(username: str, password: str = "correct horse", about: str = "") -> User:
    user = User(username=username, email=f"{username}@example.com", about_me=about)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def make_post(user: User, body: str) -> Post:
    post = Post(body=body, author=user)
    db.session.add(post)
    db.session.commit()
    return post


# --- real servers ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(
    url: str, timeout: float = 5.0, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    assert url.startswith("http://127.0.0.1:"), "tests only talk to loopback"
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@dataclass
class Server:
    """A gunicorn master we started; ``stop()`` ends it (and so its workers) by PID."""

    process: subprocess.Popen[bytes]
    port: int
    env: dict[str, str]
    log_path: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited early:\n{self.log()}")
            try:
                status, _ = http_get(self.url + "/healthz", timeout=2)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not become ready:\n{self.log()}")

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            # Our own process group (start_new_session), so this reaches only our workers.
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


def server_env(tmp: Path, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "PROMETHEUS_"))}
    env.update(
        {
            "MICROBLOG_ENV": "production",
            "SECRET_KEY": TEST_SECRET,
            "MICROBLOG_DATA": str(tmp / "data"),
            "APP_GIT_COMMIT": "testcommit",
            "METRICS_ENABLED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            # The production default storage (memcached), but where nothing listens: the
            # limiter loads its client and falls back to memory, and never touches a memcached
            # someone else runs on the default port.
            "RATELIMIT_STORAGE_URI": f"memcached://127.0.0.1:{free_port()}",
        }
    )
    env.pop("DATABASE_URL", None)
    env.update(overrides)
    return env


def migrate_db(env: dict[str, str], python: str = sys.executable) -> None:
    """What the deploy runs before starting gunicorn."""
    subprocess.run(
        [python, "-m", "flask", "--app", "app", "db", "upgrade"],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


def start_gunicorn(
    tmp: Path,
    workers: int = 2,
    python: str = sys.executable,
    migrate: bool = True,
    **env_overrides: str,
) -> Server:
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = server_env(
        tmp, GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS=str(workers), **env_overrides
    )
    if migrate:
        migrate_db(env, python)
    log_path = tmp / f"gunicorn-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [python, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:create_app()"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server(process=process, port=port, env=env, log_path=log_path)
