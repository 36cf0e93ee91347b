"""A whole lab on the local target with real hosts, built by the CLI as `make lab` does, for
the slow real-lab tests. The deploy, monitoring and pipeline tests share one (`full_lab`, a
session fixture in tests/conftest.py).

Each is a `vpclab.throwaway` lab: its own name, state folder, moto server and agent, a git
remote serving a clone of the project on main, and nothing left behind."""

from __future__ import annotations

import json
import os
import re
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from vpclab.lab import Lab
from vpclab.monitoring.grafana import LOCAL_SKIPS
from vpclab.throwaway import Throwaway, throwaway_lab

ROOT = Path(__file__).resolve().parents[1]
# What every local host runs; a lab without them cannot come up.
HOST_TOOLS = ("/usr/sbin/sshd", "nginx", "supervisord", "git")


def all_green(report: str) -> bool:
    """A checklist with nothing failed, and SKIPs only for the checks the local target skips by
    design (grafana.LOCAL_SKIPS)."""
    counts = re.search(r"(\d+) passed, (\d+) failed, (\d+) skipped", report)
    if not counts or counts[1] == "0" or counts[2] != "0":
        return False
    return int(counts[3]) == sum(check in report for check in LOCAL_SKIPS)


def require_local_hosts(*more_tools: str) -> None:
    """Skip with the reason unless real local hosts can run here (root, Linux, the tools)."""
    from vpclab.localcloud import netns

    reason = netns.unsupported_reason()
    if reason:
        pytest.skip(reason)
    for tool in (*HOST_TOOLS, *more_tools):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            pytest.skip(f"{tool} is not installed (scripts/bootstrap.sh installs it)")


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@dataclass
class RealLab(Throwaway):
    cli_timeout: float = 600

    def cli(self, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
        return super().cli(*args, timeout=timeout or self.cli_timeout)

    def lab(self) -> Lab:
        return Lab(self.spec, "local", say=lambda _line: None)


L = TypeVar("L", bound=RealLab)


@contextmanager
def real_lab(
    kind: type[L],
    folder: Path,
    prefix: str,
    *,
    settings: dict[str, str] | None = None,
    down_timeout: float = 120,
    **fields: Any,
) -> Iterator[L]:
    """A lab of type `kind` named `prefix` plus this run's id, its spec and state in `folder`
    (vpclab.throwaway: its own control plane and agent; the hosts come with `vpclab up`)."""
    name = re.sub(r"[^a-z0-9]", "", f"{prefix}{os.getpid() % 10000}{folder.name[-2:]}".lower())
    with throwaway_lab(folder, name, settings, down_timeout=down_timeout) as made:
        yield kind(**vars(made), **fields)


# The monitoring step's intervals and alert windows for the shared lab: half of what a graded
# lab gets (vpclab.course.timings.FAST_MONITORING), so the monitoring tests wait even less.
SHARED_LAB_MONITORING = {
    "scrape_interval": "1s",
    "evaluation_interval": "1s",
    "rate_window": "10s",
    "instance_down_for": "5s",
}


@dataclass
class FullLab(RealLab):
    """The session's one whole lab (`vpclab up`, every step), shared by the deploy, monitoring
    and pipeline tests: read-only tests first, then those that break something and mend it."""

    url: str = ""  # the microblog's, as `vpclab up` printed it (https://127.0.0.1:PORT/)
    ca: str = ""  # the lab CA's certificate, where `vpclab up` said it is
    up_output: str = ""  # what `vpclab up` printed (stdout: the checklist and URLs)
    up_progress: str = ""  # and its stderr (the steps' progress)

    def tls(self) -> ssl.SSLContext:
        """A TLS client context trusting the lab CA only (hostnames checked)."""
        return ssl.create_default_context(cafile=self.ca)

    def opener(self, *handlers: urllib.request.BaseHandler) -> urllib.request.OpenerDirector:
        """A urllib opener for the microblog's HTTPS URL, trusting the lab CA."""
        return urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=self.tls()), *handlers
        )

    def get(self, path: str, opener: urllib.request.OpenerDirector | None = None) -> str:
        with (opener or self.opener()).open(self.url + path, timeout=10) as r:
            return r.read().decode()

    def healthz_commit(self) -> str:
        return json.loads(self.get("healthz"))["commit"]

    def commit(self, path: str, text: str, message: str) -> str:
        """Commit `text` as `path` to the project the lab's git remote serves; its hash."""
        (self.project / path).write_text(text)
        git(self.project, "add", path)
        git(self.project, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit",
            "-qm", message)  # fmt: skip
        return git(self.project, "rev-parse", "HEAD")

    def builds(self) -> list[dict]:
        done = self.cli("pipeline", "status", "--json", "--count", "50")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


@contextmanager
def full_lab(folder: Path) -> Iterator[FullLab]:
    """A whole lab with hosts, up and all green, removed on leaving (see real_lab)."""
    require_local_hosts("prometheus", "prometheus-alertmanager", "prometheus-node-exporter")
    with real_lab(
        FullLab, folder, "full", settings=SHARED_LAB_MONITORING, down_timeout=300, cli_timeout=1200
    ) as lab:
        up = lab.cli("up")
        assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-3000:]
        assert all_green(up.stdout), up.stdout[-3000:]
        url = re.search(r"^microblog: (https://127\.0\.0\.1:\d+/)$", up.stdout, re.M)
        ca = re.search(r"^lab CA: (\S+) \(trust it: curl --cacert ", up.stdout, re.M)
        assert url and ca, up.stdout[-500:]
        lab.url, lab.ca, lab.up_output, lab.up_progress = url[1], ca[1], up.stdout, up.stderr
        yield lab


def eventually(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> float:
    """Seconds until predicate() holds (an OSError counts as not yet); fails the test after
    timeout."""
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
