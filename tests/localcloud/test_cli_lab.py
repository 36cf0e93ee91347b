"""The CLI end to end on the local target: `up` boots the hosts, `ssh` reaches them with
pinned keys (the private app through the web server), `local down --force` removes them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.localcloud import labkit
from tests.localcloud.conftest import lab_name, lid, require_root
from vpclab.aws import tags
from vpclab.localcloud import cleanup, client

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cli_lab(
    moto: labkit.MotoServer, local_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, dict, str]]:
    require_root()
    moto.reset()
    name = lab_name("cli")
    spec = tmp_path_factory.mktemp("cli") / "lab.toml"
    spec.write_text(
        (ROOT / "lab.toml").read_text().replace('name = "microblog"', f'name = "{name}"', 1)
    )
    env = {**os.environ, "AWS_ENDPOINT_URL": moto.endpoint, "VPCLAB_STATE": str(local_dir.parent)}
    env.pop("VPCLAB_DATAPLANE", None)
    try:
        yield spec, env, name
    finally:
        client.stop(local_dir)
        cleanup.force_down(lid(name, local_dir.parent))
        moto.reset()


def vpclab(spec: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vpclab.cli", *args, "--spec", str(spec)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_up_and_ssh_with_pinned_keys(cli_lab):
    spec, env, name = cli_lab
    # Through the instances: the hosts are what this test is about (later steps deploy).
    up = vpclab(spec, env, "up", "--through", "instances")
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-2000:]
    assert " 0 failed, 0 skipped" in up.stdout

    status = json.loads(vpclab(spec, env, "status", "--json").stdout)
    hosts = status["dataplane"]["hosts"]
    assert set(hosts) == {"jenkins", "web", "app", "monitoring"}
    assert all(h["booted"] for h in hosts.values())
    assert status["web_url"].startswith("https://127.0.0.1:")

    web = vpclab(spec, env, "ssh", "web", "hostname")
    assert web.returncode == 0 and web.stdout.strip() == "web", web.stderr
    app = vpclab(spec, env, "ssh", "app", "hostname")  # through the web server
    assert app.returncode == 0 and app.stdout.strip() == "app", app.stderr

    unknown = vpclab(spec, env, "ssh", "db")
    assert unknown.returncode == 2 and "unknown role 'db'" in unknown.stderr

    local = vpclab(spec, env, "local", "status")
    assert f"id {lid(name, Path(env['VPCLAB_STATE']))}" in local.stdout, local.stdout


def _group(ec2, lab: str, role: str) -> str:
    found = ec2.describe_security_groups(Filters=tags.lab_filter(lab, role))["SecurityGroups"]
    return found[0]["GroupId"]


def test_ssh_to_a_blocked_host_fails_fast_in_one_line(cli_lab):
    spec, env, name = cli_lab
    up = vpclab(spec, env, "up", "--through", "instances")
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-2000:]
    ec2 = labkit.ec2_client(env["AWS_ENDPOINT_URL"])
    app, web = _group(ec2, name, "app"), _group(ec2, name, "web")
    # The call a student writes: no description, though the step gave the rule one.
    natural = [
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "UserIdGroupPairs": [{"GroupId": web}]}
    ]
    ec2.revoke_security_group_ingress(GroupId=app, IpPermissions=natural)
    try:
        started = time.monotonic()
        blocked = vpclab(spec, env, "ssh", "app", "hostname")
        elapsed = time.monotonic() - started
    finally:
        ec2.authorize_security_group_ingress(GroupId=app, IpPermissions=natural)
    lines = blocked.stderr.strip().splitlines()
    assert blocked.returncode == 1 and len(lines) == 1, blocked.stderr
    assert "cannot reach app" in lines[0] and "vpclab verify --step instances" in lines[0]
    assert elapsed < 30, f"took {elapsed:.0f} s"  # it used to hang for over two minutes


def test_local_down_force_removes_the_labs_hosts(cli_lab):
    spec, env, name = cli_lab
    up = vpclab(spec, env, "up", "--through", "instances")
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-2000:]
    down = vpclab(spec, env, "local", "down", "--force")
    assert down.returncode == 0, down.stderr
    assert cleanup.lab_namespaces(lid(name, Path(env["VPCLAB_STATE"]))) == []
