"""One moto server for the control-plane tests, reset before each test."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from vpclab.lab import Lab

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(endpoint: str, path: str) -> None:
    urllib.request.urlopen(
        urllib.request.Request(f"{endpoint}{path}", data=b"", method="POST"), timeout=30
    ).close()


@pytest.fixture(scope="session")
def moto_endpoint():
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def spec_path(tmp_path, monkeypatch, moto_endpoint) -> Path:
    """A fresh cloud and state folder, with the project's lab.toml."""
    _post(moto_endpoint, "/moto-api/reset")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("VPCLAB_STATE", str(tmp_path / "state"))
    monkeypatch.delenv("VPCLAB_TARGET", raising=False)
    # These tests are about the control plane; tests/localcloud covers the hosts.
    monkeypatch.setenv("VPCLAB_DATAPLANE", "off")
    path = tmp_path / "lab.toml"
    shutil.copy(ROOT / "lab.toml", path)
    return path


@pytest.fixture
def lab(spec_path) -> Lab:
    return Lab(spec_path, "local", say=lambda _line: None)


@pytest.fixture
def built_lab(lab) -> Lab:
    lab.up()
    return lab
