"""A whole lab on the local target, built by the CLI as `make lab` does, for the deployment
tests (see tests/reallab.py: own name, state folder and moto server, all removed after)."""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.reallab import RealLab, real_lab, require_local_hosts


@dataclass
class DeployLab(RealLab):
    url: str = ""

    def get(self, path: str, opener: urllib.request.OpenerDirector | None = None) -> str:
        with (opener or urllib.request.build_opener()).open(self.url + path, timeout=10) as r:
            return r.read().decode()

    def healthz_commit(self) -> str:
        return json.loads(self.get("healthz"))["commit"]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeployLab]:
    """`vpclab up` of a full lab (through scripts), then torn down to the last process."""
    require_local_hosts()
    with real_lab(DeployLab, tmp_path_factory.mktemp("deploy"), "dp") as lab:
        yield lab


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
