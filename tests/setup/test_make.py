"""The set-up commands: `make lab` installs only what the lab runs, `make test` adds the test
tools, and `make jupyter` serves the notebooks as root on a machine with no display."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEST_ONLY = {"chromium", "chromium-driver", "wrk", "shellcheck", "libnss3-tools"}


def packages(*args: str) -> list[str]:
    proc = subprocess.run(
        ["bash", "scripts/bootstrap.sh", *args, "--list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return proc.stdout.split()


def test_lab_installs_no_test_tools():
    lab, test = packages(), packages("--test")
    assert "nginx" in lab and "openssh-server" in lab
    assert TEST_ONLY.isdisjoint(lab)
    assert TEST_ONLY <= set(test) and set(lab) <= set(test)


def test_make_targets_pick_their_mode():
    dry = {
        target: subprocess.run(
            ["make", "-n", target], cwd=ROOT, capture_output=True, text=True, timeout=60
        ).stdout
        for target in ("lab", "test")
    }
    assert "bootstrap.sh\n" in dry["lab"] and "--test" not in dry["lab"]
    assert "bootstrap.sh --test" in dry["test"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("make") is None, reason="needs root and make")
def test_make_jupyter_as_root_without_a_display(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")  # its files stay in the test's folder
    log = tmp_path / "jupyter.log"
    with log.open("w") as out:
        # Its own session, so the server make starts is stopped with it (by our PID's group).
        proc = subprocess.Popen(
            ["make", "jupyter", f"JUPYTER_PORT={port}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        answer = None
        while answer is None:
            assert proc.poll() is None, f"make jupyter exited {proc.returncode}: {log.read_text()}"
            assert time.monotonic() < deadline, f"no answer on {port}: {log.read_text()}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=2) as r:
                    answer = json.load(r)
            except OSError:
                time.sleep(0.5)
        assert answer["version"]
        text = log.read_text()
        assert "--allow-root" in text and "--no-browser" in text  # the command make ran
        assert "Running as root is not recommended" not in text
    finally:
        _stop_group(proc, port)


def _stop_group(proc: subprocess.Popen, port: int) -> None:
    """Stop make and the server it started (the group our PID leads), and wait for the port
    to close."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                break
        time.sleep(0.2)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
