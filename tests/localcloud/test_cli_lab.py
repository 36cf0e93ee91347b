"""The CLI end to end on the local target: `up` boots the hosts, `ssh` reaches them with
pinned keys (the private app through the web server), `local down --force` removes them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import labkit
import pytest
from conftest import lab_name, lid, require_root

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


def test_up_ssh_and_force_down(cli_lab):
    spec, env, name = cli_lab
    up = vpclab(spec, env, "up")
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-2000:]
    assert "0 failed, 0 skipped" in up.stdout

    status = json.loads(vpclab(spec, env, "status", "--json").stdout)
    hosts = status["dataplane"].hosts
    assert set(hosts) == {"jenkins", "web", "app", "monitoring"}
    assert all(h.booted for h in hosts.values())
    assert status.web_url.startswith("http://127.0.0.1:")

    web = vpclab(spec, env, "ssh", "web", "hostname")
    assert web.returncode == 0 and web.stdout.strip() == "web", web.stderr
    app = vpclab(spec, env, "ssh", "app", "hostname")  # through the web server
    assert app.returncode == 0 and app.stdout.strip() == "app", app.stderr

    unknown = vpclab(spec, env, "ssh", "db")
    assert unknown.returncode == 2 and "unknown role 'db'" in unknown.stderr

    down = vpclab(spec, env, "local", "down", "--force")
    assert down.returncode == 0, down.stderr
    assert cleanup.lab_namespaces(lid(name, Path(env["VPCLAB_STATE"]))) == []
