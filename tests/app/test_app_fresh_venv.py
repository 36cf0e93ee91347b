"""gunicorn starts with nothing but app/requirements.txt installed in a fresh virtualenv."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.app.microblog_helpers import REPO_ROOT, Server, http_get

pytestmark = pytest.mark.slow

BASE_PYTHON = "/usr/bin/python3.11"  # what the app server's venv is made from


@pytest.fixture(scope="session")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once per test session and shared by every test that needs it."""
    if not Path(BASE_PYTHON).exists():  # pragma: no cover - only off the lab image
        pytest.skip(f"{BASE_PYTHON} is not installed")
    venv = tmp_path_factory.mktemp("fresh-venv") / "venv"
    subprocess.run([BASE_PYTHON, "-m", "venv", str(venv)], check=True, timeout=120)
    done = subprocess.run(
        [
            str(venv / "bin/python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "-r",
            str(REPO_ROOT / "app/requirements.txt"),
        ],
        capture_output=True,
        text=True,
        timeout=480,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return venv


def test_requirements_are_pinned() -> None:
    lines = [
        line.strip()
        for line in (REPO_ROOT / "app/requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert all("==" in line for line in lines), lines
    names = {line.split("==")[0].lower() for line in lines}
    assert {"gunicorn", "flask-migrate", "flask-login", "prometheus-flask-exporter"} <= names


def test_gunicorn_serves_healthz_from_fresh_venv(
    fresh_venv: Path, gunicorn_factory: Callable[..., Server]
) -> None:
    python = str(fresh_venv / "bin/python")
    done = subprocess.run([python, "-m", "pip", "check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
    # Neither pytest nor the lab's own packages leaked in.
    assert shutil.which("pytest", path=str(fresh_venv / "bin")) is None
    server = gunicorn_factory("fresh", workers=2, python=python)
    status, body = http_get(server.url + "/healthz")
    assert status == 200 and '"database":"ok"' in body
    status, text = http_get(server.url + "/metrics")
    assert status == 200 and "microblog_users_registered_total" in text
