"""A whole lab on the local target, built by the CLI as `make lab` does, for the deployment
tests. It has its own name, state folder and moto server, so it never touches another lab,
and the finalizer removes every host, namespace and process it made."""

from __future__ import annotations

import http.cookiejar
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from vpclab.lab import Lab

ROOT = Path(__file__).resolve().parents[2]


def require_root() -> None:
    from vpclab.localcloud import netns

    reason = netns.unsupported_reason()
    if reason:
        pytest.skip(reason)
    for tool in ("/usr/sbin/sshd", "nginx", "supervisord", "git"):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            pytest.skip(f"{tool} is not installed")


@dataclass
class DeployLab:
    spec: Path
    env: dict[str, str]
    name: str
    url: str = ""

    def cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "vpclab.cli", *args, "--spec", str(self.spec)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def lab(self) -> Lab:
        return Lab(self.spec, "local", say=lambda _line: None)

    def get(self, path: str, opener: urllib.request.OpenerDirector | None = None) -> str:
        with (opener or urllib.request.build_opener()).open(self.url + path, timeout=10) as r:
            return r.read().decode()

    def healthz_commit(self) -> str:
        import json

        return json.loads(self.get("healthz"))["commit"]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeployLab]:
    """`vpclab up` of a full lab (through scripts), then torn down to the last process."""
    require_root()
    name = f"dp{os.getpid() % 10000}{tmp_path_factory.getbasetemp().name[-2:]}"
    name = re.sub(r"[^a-z0-9]", "", name.lower())
    folder = tmp_path_factory.mktemp("deploy")
    spec = folder / "lab.toml"
    spec.write_text(
        (ROOT / "lab.toml").read_text().replace('name = "microblog"', f'name = "{name}"', 1)
    )
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", "VPCLAB_TARGET")}
    env.pop("VPCLAB_DATAPLANE", None)
    env["VPCLAB_STATE"] = str(folder / "state")
    lab = DeployLab(spec, env, name)
    saved = {k: os.environ.get(k) for k in ("VPCLAB_STATE", "AWS_ENDPOINT_URL")}
    os.environ["VPCLAB_STATE"] = env["VPCLAB_STATE"]
    os.environ.pop("AWS_ENDPOINT_URL", None)
    try:
        yield lab
    finally:
        lab.cli("local", "down", "--force", timeout=120)
        lab.cli("local", "stop", timeout=120)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def eventually(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> float:
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


def session() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )


def post_form(lab: DeployLab, opener, path: str, fields: dict[str, str]) -> str:
    html = lab.get(path, opener)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert token, f"no CSRF token on {path}"
    data = urllib.parse.urlencode({**fields, "csrf_token": token[1]}).encode()
    with opener.open(lab.url + path, data=data, timeout=10) as r:
        return r.read().decode()
