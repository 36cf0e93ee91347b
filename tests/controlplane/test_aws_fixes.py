"""Smaller things AWS does that moto does not, each fixed and held here: apt waits for the
dpkg lock in every script a host runs; Debian's units are disabled one systemctl call each; a
`deleting` peering counts as gone; the lab's SSM parameters are tagged and `down` deletes
them (and only them)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.controlplane.awsfake import Inject
from vpclab.aws import secrets
from vpclab.aws.inventory import read_state
from vpclab.errors import VpclabError
from vpclab.steps.monitoring import PACKAGED_UNITS, disable_packaged_units

ROOT = Path(__file__).resolve().parents[2]
# What runs on a lab's hosts: user data templates, the deploy scripts, the pipeline's stages.
HOST_SCRIPTS = [
    *sorted((ROOT / "vpclab" / "render" / "templates").glob("*.sh.j2")),
    ROOT / "scripts" / "setup.sh",
    ROOT / "scripts" / "start_app.sh",
    *sorted((ROOT / "scripts" / "ci").glob("*.sh")),
]


def test_every_apt_get_on_a_host_waits_for_the_dpkg_lock():
    calls = []
    for path in HOST_SCRIPTS:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if re.search(r"\bapt-get\b", code) and "kept failing" not in code:
                calls.append((path.name, number, code.strip()))
    assert calls, "no apt-get found: the scan is broken"
    waiting = {"DPkg::Lock::Timeout", "apt[@]"}
    bad = [c for c in calls if not any(w in c[2] for w in waiting) and "apt=(" not in c[2]]
    assert not bad, bad
    start_app = (ROOT / "scripts" / "start_app.sh").read_text()
    assert 'apt=(apt-get -o DPkg::Lock::Timeout="${APT_LOCK_WAIT:-600}")' in start_app


def test_packaged_units_are_disabled_one_systemctl_call_each(tmp_path):
    """A fake systemctl that, like the real one, fails whole when one named unit is missing."""
    log = tmp_path / "systemctl.log"
    fake = tmp_path / "bin" / "systemctl"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/bash\n"
        f'echo "$*" >> {log}\n'
        'case "$1" in\n'
        '  cat) [ "$2" != prometheus-nginx-exporter.service ];;\n'
        '  disable) [ $# -eq 3 ] || { echo "one unit per call" >&2; exit 5; };;\n'
        "esac\n"
    )
    fake.chmod(0o755)
    systemd = tmp_path / "run-systemd"
    systemd.mkdir()
    script = disable_packaged_units().replace("/run/systemd/system", str(systemd))
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}"}
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    disabled = [line for line in log.read_text().splitlines() if line.startswith("disable")]
    assert disabled == [
        f"disable --now {u}" for u in PACKAGED_UNITS if u != "prometheus-nginx-exporter"
    ]
    # A real failure of one unit is reported, not swallowed.
    broken = script.replace('systemctl disable --now "$unit"', "false")
    assert subprocess.run(["sh", "-c", broken], env=env).returncode != 0


def test_a_deleting_peering_counts_as_gone(lab):
    lab.up("jenkins")
    cloud = lab.cloud

    def deleting(parsed: dict) -> bool:
        for peering in parsed.get("VpcPeeringConnections", []):
            peering["Status"] = {"Code": "deleting", "Message": "Deleting"}
        return True

    Inject(cloud).rewrite("DescribeVpcPeeringConnections", deleting)
    state = read_state(cloud, lab.spec.name, lab.spec.az)
    assert state.peering is None and state.tagged.peerings == []
    assert state.tagged.peering_ids  # its routes are still recognised as the lab's


def test_down_deletes_the_labs_tagged_parameters_and_keeps_the_operators(lab, said_lines):
    lab.up("vpc")
    ssm = lab.cloud.client("ssm")
    key = secrets.ensure(ssm, lab.spec.name, "microblog", "SECRET_KEY", said_lines.append)
    assert secrets.ensure(ssm, lab.spec.name, "microblog", "SECRET_KEY", print) == key  # once
    secrets.ensure(ssm, lab.spec.name, "grafana", "admin-password", said_lines.append)
    operators = f"/vpclab/{lab.spec.name}/jenkins/nvd-api-key"
    ssm.put_parameter(Name=operators, Value="nvd-key", Type="SecureString")  # by hand, untagged
    assert secrets.tagged(ssm, lab.spec.name) == [
        f"/vpclab/{lab.spec.name}/grafana/admin-password",
        f"/vpclab/{lab.spec.name}/microblog/SECRET_KEY",
    ]
    plan = lab.down(dry_run=True)
    assert plan and len(secrets.tagged(ssm, lab.spec.name)) == 2  # a dry run deletes nothing
    lab.down()
    assert secrets.tagged(ssm, lab.spec.name) == []
    assert ssm.get_parameter(Name=operators, WithDecryption=True)["Parameter"]["Value"] == "nvd-key"


def test_a_parameter_another_creator_made_is_refused(lab):
    ssm = lab.cloud.client("ssm")
    alice, bob = "arn:aws:iam::1:user/alice", "arn:aws:iam::1:user/bob"
    secrets.ensure(ssm, lab.spec.name, "microblog", "SECRET_KEY", print, creator=alice)
    with pytest.raises(VpclabError, match="made by .*alice"):
        secrets.ensure(ssm, lab.spec.name, "microblog", "SECRET_KEY", print, creator=bob)
    with pytest.raises(VpclabError, match="made by .*alice"):
        secrets.delete_tagged(ssm, lab.spec.name, print, creator=bob)
    assert secrets.tagged(ssm, lab.spec.name)


@pytest.fixture
def said_lines() -> list[str]:
    return []


class UserDataHost:
    """A host whose user data records `results` in turn (None: not yet)."""

    name = "jenkins"

    def __init__(self, *results: str | None) -> None:
        self.results = list(results)

    def run(self, cmd: str, **_: object):
        from vpclab.hosts.ssh import Result

        assert cmd == "cat /etc/vpclab/user-data"
        found = self.results.pop(0) if len(self.results) > 1 else self.results[0]
        return Result(0 if found is not None else 1, found or "", "")


def keys_context(spec_path):
    from vpclab.aws.retry import FakeClock, Pacing
    from vpclab.spec import load_spec
    from vpclab.steps.context import Context

    clock = FakeClock()
    return Context(load_spec(spec_path), None, spec_path, pacing=Pacing.fake(clock)), clock


def test_the_keys_step_waits_for_jenkins_user_data_before_making_its_key(spec_path):
    from vpclab.steps.keys import wait_user_data

    ctx, clock = keys_context(spec_path)
    wait_user_data(ctx, UserDataHost(None, None, "ok\n"), "jenkins")
    assert clock.slept  # it waited, on the pacing's clock

    ctx, _clock = keys_context(spec_path)
    with pytest.raises(VpclabError, match="user data failed: line 12"):
        wait_user_data(ctx, UserDataHost("failed: line 12\n"), "jenkins")

    ctx, clock = keys_context(spec_path)
    with pytest.raises(VpclabError, match="user data to finish"):
        wait_user_data(ctx, UserDataHost(None), "jenkins")
    assert clock.now >= ctx.pacing.state_budget  # bounded
