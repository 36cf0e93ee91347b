"""The deployment tests' lab: the session's shared whole lab (`full_lab`, tests/reallab.py),
built by the CLI as `make lab` does, under its old names."""

from __future__ import annotations

import http.cookiejar
import re
import subprocess
import urllib.parse
import urllib.request

import pytest

from tests.reallab import FullLab

DeployLab = FullLab


@pytest.fixture(scope="module")
def deployed(full_lab: FullLab) -> FullLab:
    return full_lab


def session(lab: DeployLab) -> urllib.request.OpenerDirector:
    """A browser-like session: cookies kept, HTTPS trusting the lab CA."""
    return lab.opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


def post_form(lab: DeployLab, opener, path: str, fields: dict[str, str]) -> str:
    html = lab.get(path, opener)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert token, f"no CSRF token on {path}"
    data = urllib.parse.urlencode({**fields, "csrf_token": token[1]}).encode()
    # Over HTTPS, Flask-WTF also wants a same-origin Referer, which a browser sends (the
    # site's Referrer-Policy is same-origin).
    form = urllib.request.Request(lab.url + path, data=data, headers={"Referer": lab.url + path})
    with opener.open(form, timeout=10) as r:
        return r.read().decode()


def git_mirror(lab: DeployLab) -> str:
    """The bare git repository the lab's internet serves the project from."""
    found = subprocess.run(
        ["find", lab.env["VPCLAB_STATE"], "-type", "d", "-name", "microblog_VPC_deployment.git"],
        capture_output=True,
        text=True,
    ).stdout.split()
    assert found, "no git mirror in the lab's internet"
    return found[0]
