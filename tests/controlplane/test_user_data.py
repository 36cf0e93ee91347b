"""User data: shellcheck-clean, updates the package lists and waits for the dpkg lock, and
fails loudly (run here against stand-in apt-get and dpkg-query, in a temporary folder)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from vpclab.render import render
from vpclab.steps.compute import USER_DATA_PACKAGES


def script(role: str) -> str:
    return render("user-data.sh.j2", lab="microblog", role=role, packages=USER_DATA_PACKAGES[role])


@pytest.mark.parametrize("role", sorted(USER_DATA_PACKAGES))
def test_user_data_passes_shellcheck(tmp_path, role):
    assert shutil.which("shellcheck"), "shellcheck is a test tool: scripts/bootstrap.sh installs it"
    path = tmp_path / "user-data.sh"
    path.write_text(script(role))
    result = subprocess.run(["shellcheck", "-s", "bash", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_user_data_updates_and_waits_for_the_lock():
    text = script("app")
    assert "set -Eeuo pipefail" in text
    assert "apt_get update" in text and "DPkg::Lock::Timeout" in text
    assert "|| echo" not in text


def run_with_fakes(tmp_path: Path, install_fails: bool) -> tuple[subprocess.CompletedProcess, Path]:
    """Run the app's user data with apt-get and dpkg-query stood in, /etc/vpclab moved."""
    bin_dir, etc = tmp_path / "bin", tmp_path / "etc-vpclab"
    bin_dir.mkdir()
    log = tmp_path / "apt.log"
    (bin_dir / "dpkg-query").write_text("#!/bin/sh\nexit 1\n")  # nothing is installed
    (bin_dir / "apt-get").write_text(
        f'#!/bin/sh\necho "$*" >> {log}\n'
        + ('case "$*" in *install*) exit 100;; esac\n' if install_fails else "")
    )
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    path = tmp_path / "user-data.sh"
    path.write_text(script("app").replace("/etc/vpclab", str(etc)))
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    result = subprocess.run(
        ["bash", str(path)], capture_output=True, text=True, env=env, timeout=30
    )
    return result, etc


def test_user_data_installs_after_updating(tmp_path):
    result, etc = run_with_fakes(tmp_path, install_fails=False)
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "apt.log").read_text().splitlines()
    assert "update" in calls[0] and "install" in calls[1]
    assert all("DPkg::Lock::Timeout=600" in call for call in calls)
    assert (etc / "user-data").read_text() == "ok\n"


def test_user_data_fails_loudly(tmp_path):
    result, etc = run_with_fakes(tmp_path, install_fails=True)
    assert result.returncode != 0
    assert "user data FAILED" in result.stderr
    assert (etc / "user-data").read_text().startswith("failed: line ")
    assert not (etc / "role").exists()
