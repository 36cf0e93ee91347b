"""`vpclab up` as an unprivileged user: the control plane works, the hosts are skipped with
the reason, and no live check pretends to PASS."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from vpclab.monitoring.grafana import LOCAL_SKIPS

ROOT = Path(__file__).resolve().parents[2]
USER = "nobody"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("runuser") is None or shutil.which("unshare") is None,
    reason="switching to an unprivileged user needs root, runuser and unshare",
)


@pytest.fixture
def workdir(tmp_path_factory):
    """A folder the unprivileged user owns, with the project bound into a path it can reach
    (the checkout's parents may be closed to other users)."""
    base = tmp_path_factory.mktemp("unprivileged")
    os.chmod(base, 0o755)
    for parent in base.parents:  # pytest's temp root is 0700: open the path, not the files
        if str(parent).startswith("/tmp/") and parent.stat().st_mode & 0o005 != 0o005:
            os.chmod(parent, parent.stat().st_mode | 0o005)
    shutil.copy(ROOT / "lab.toml", base / "lab.toml")
    (base / "project").mkdir()
    shutil.chown(base, USER)
    yield base
    record = base / ".vpclab" / "local" / "moto.json"
    if record.exists():  # the moto server the user's `up` started
        pid = json.loads(record.read_text())["pid"]
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def run_as_user(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    project = workdir / "project"
    python = project / ".venv" / "bin" / "python"
    inner = (
        f"mount --bind {ROOT} {project} && exec runuser -u {USER} -- "
        f"env HOME={workdir} PYTHONPATH={project} {python} -m vpclab.cli " + " ".join(args)
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VPCLAB_"))}
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", inner],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_up_without_root(workdir):
    proc = run_as_user(workdir, "up", "--spec", str(workdir / "lab.toml"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "hosts skipped: the local data plane needs root" in proc.stderr
    assert "0 failed" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1].startswith("next: ")
    assert "Traceback" not in proc.stderr

    proc = run_as_user(workdir, "verify", "--spec", str(workdir / "lab.toml"), "--json")
    results = json.loads(proc.stdout)["checks"]
    # Grafana SKIPs on the local target whatever the user (grafana.LOCAL_SKIPS).
    live = [r for r in results if r["status"] == "SKIP" and r["id"] not in LOCAL_SKIPS]
    assert live, "the live checks should be listed as SKIP"
    assert all("needs root" in r["detail"] for r in live)
    assert {r["status"] for r in results} == {"PASS", "SKIP"}
    keys = list((workdir / ".vpclab" / "labs" / "microblog" / "keys").glob("*.pem"))
    assert keys and all(k.stat().st_uid != 0 for k in keys)
