"""Grafana on the aws target, validated offline: the monitoring server's user data installs
Grafana from its apt repository and drops in the same provisioning files that are committed
under monitoring/grafana (run here with apt-get, curl and install stood in, paths moved)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

from vpclab.monitoring import grafana
from vpclab.render import render
from vpclab.spec import load_spec
from vpclab.steps.compute import USER_DATA_PACKAGES, grafana_values

ROOT = Path(__file__).resolve().parents[2]


def user_data(role: str, target: str) -> str:
    spec = load_spec(ROOT / "lab.toml")
    ctx = SimpleNamespace(spec=spec, cloud=SimpleNamespace(target=target))
    return render(
        "user-data.sh.j2",
        lab=spec.name,
        role=role,
        packages=USER_DATA_PACKAGES[role],
        **grafana_values(ctx, role),  # type: ignore[arg-type]
    )


def test_only_the_aws_monitoring_server_installs_grafana() -> None:
    aws = user_data("monitoring", "aws")
    assert (
        "deb [signed-by=/etc/apt/keyrings/grafana.asc] https://apt.grafana.com stable main" in aws
    )
    assert "apt_get install grafana" in aws and "GF_SERVER_HTTP_PORT=%s" in aws
    assert "grafana" not in user_data("monitoring", "local")
    assert "grafana" not in user_data("web", "aws")


def test_aws_monitoring_user_data_passes_shellcheck(tmp_path: Path) -> None:
    assert shutil.which("shellcheck"), "shellcheck is a test tool: scripts/bootstrap.sh installs it"
    path = tmp_path / "user-data.sh"
    path.write_text(user_data("monitoring", "aws"))
    result = subprocess.run(["shellcheck", "-s", "bash", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_provisioning_files_land_where_grafana_reads_them(tmp_path: Path) -> None:
    root = tmp_path / "root"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    fakes = {
        "dpkg-query": "exit 1",  # nothing in the image: the packages get installed
        "apt-get": f'echo "apt-get $*" >> {log}',
        "curl": f'echo "curl $*" >> {log}; while [ $# -gt 1 ]; do '
        '[ "$1" = -o ] && : > "$2"; shift; done',
        # No grafana user here: drop the owner and group, keep the rest.
        "install": 'a=(); while [ $# -gt 0 ]; do case "$1" in -o|-g) shift 2;; '
        '*) a+=("$1"); shift;; esac; done; exec /usr/bin/install "${a[@]}"',
    }
    for name, body in fakes.items():
        (bin_dir / name).write_text(f"#!/bin/bash\n{body}\n")
        (bin_dir / name).chmod(0o755)
    text = user_data("monitoring", "aws")
    for top in ("/etc/", "/var/lib/grafana"):
        text = text.replace(f" {top}", f" {root}{top}").replace(f">{top}", f">{root}{top}")
    assert "/run/systemd/system" in text  # systemd only when there is one
    text = text.replace("/run/systemd/system", str(tmp_path / "no-systemd"))
    (root / "etc/apt/sources.list.d").mkdir(parents=True)  # there on every Ubuntu
    script = tmp_path / "user-data.sh"
    script.write_text(text)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    calls = log.read_text()
    assert "curl -fsSL --retry 5 https://apt.grafana.com/gpg.key" in calls
    assert calls.index("https://apt.grafana.com/gpg.key") < calls.index("install grafana")
    spec = load_spec(ROOT / "lab.toml")
    placed = grafana.host_files(spec)
    assert len(placed) == 3
    for path, content in placed.items():
        # The moved paths also moved the provider's folder inside its file: move it back.
        assert (root / path.lstrip("/")).read_text().replace(str(root), "") == content
        relative = path.split("/grafana/", 1)[1]
        assert (ROOT / "monitoring" / "grafana" / relative).read_text() == content
    port = (root / "etc/systemd/system/grafana-server.service.d/vpclab.conf").read_text()
    assert f"GF_SERVER_HTTP_PORT={spec.ports.grafana}" in port
    assert (root / "etc/vpclab/user-data").read_text() == "ok\n"
