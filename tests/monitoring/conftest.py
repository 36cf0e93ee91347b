"""A whole lab on the local target with the monitoring step, its intervals and alert windows
shortened in its own spec. Own name, state folder and moto server; the finalizer removes
every host, namespace and process it made."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from vpclab.lab import Lab

ROOT = Path(__file__).resolve().parents[2]
FAST = {
    "scrape_interval": "1s",
    "evaluation_interval": "1s",
    "rate_window": "10s",
    "instance_down_for": "5s",
}


@dataclass
class MonitoredLab:
    spec: Path
    env: dict[str, str]
    up_output: str = ""  # what `vpclab up` printed

    def cli(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "vpclab.cli", *args, "--spec", str(self.spec)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def lab(self) -> Lab:
        return Lab(self.spec, "local", say=lambda _line: None)


def eventually(predicate: Callable[[], bool], timeout: float, interval: float = 0.5) -> float:
    """Seconds until predicate() holds; fails the test after timeout."""
    start = time.monotonic()
    while True:
        try:
            if predicate():
                return time.monotonic() - start
        except OSError:
            pass
        if time.monotonic() - start > timeout:
            pytest.fail(f"not true after {timeout} s: {predicate.__doc__ or predicate}")
        time.sleep(interval)


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MonitoredLab]:
    from vpclab.localcloud import netns

    reason = netns.unsupported_reason()
    if reason:
        pytest.skip(reason)
    for tool in ("prometheus", "prometheus-alertmanager", "prometheus-node-exporter"):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            pytest.skip(f"{tool} is not installed (scripts/bootstrap.sh installs it)")
    name = re.sub(r"[^a-z0-9]", "", f"mon{os.getpid() % 10000}")
    folder = tmp_path_factory.mktemp("monitoring")
    text = (ROOT / "lab.toml").read_text().replace('name = "microblog"', f'name = "{name}"', 1)
    for key, value in FAST.items():
        text = re.sub(rf'^{key} = "[^"]*"', f'{key} = "{value}"', text, count=1, flags=re.M)
    spec = folder / "lab.toml"
    spec.write_text(text)
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", "VPCLAB_TARGET")}
    env.pop("VPCLAB_DATAPLANE", None)
    env["VPCLAB_STATE"] = str(folder / "state")
    saved = {k: os.environ.get(k) for k in ("VPCLAB_STATE", "AWS_ENDPOINT_URL")}
    os.environ["VPCLAB_STATE"] = env["VPCLAB_STATE"]
    os.environ.pop("AWS_ENDPOINT_URL", None)
    lab = MonitoredLab(spec, env)
    try:
        yield lab
    finally:
        lab.cli("local", "down", "--force", timeout=300)
        lab.cli("local", "stop", timeout=120)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
