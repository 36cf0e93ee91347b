"""The live checks' SSH backend (the one the aws target uses), forced on the local target,
gives the namespace backend's results, healthy and broken; and the user-data check reads
what each local host's user data recorded. A lab through the instances, built by `Lab.up`
with its own name; the module's finalizer removes its hosts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.localcloud import labkit
from tests.localcloud.conftest import lab_name, lid, require_root
from vpclab import remote
from vpclab.checklist import Status
from vpclab.checks import Facts
from vpclab.checks.live import lab_live_checks
from vpclab.facts.user_data import USER_DATA_RESULT
from vpclab.hosts import known_hosts_path
from vpclab.lab import Lab
from vpclab.localcloud import cleanup, client

ROOT = Path(__file__).resolve().parents[2]
STEPS = {"instances", "jenkins", "nat"}


@pytest.fixture(scope="module")
def lab(moto: labkit.MotoServer, local_dir: Path, tmp_path_factory) -> Iterator[Lab]:
    require_root()
    moto.reset()
    name = lab_name("lv")
    spec = tmp_path_factory.mktemp("live") / "lab.toml"
    spec.write_text(
        (ROOT / "lab.toml").read_text().replace('name = "microblog"', f'name = "{name}"', 1)
    )
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ENDPOINT_URL", moto.endpoint)
        env.setenv("VPCLAB_STATE", str(local_dir.parent))
        env.delenv("VPCLAB_DATAPLANE", raising=False)
        env.delenv("VPCLAB_PROBES", raising=False)
        env.delenv("VPCLAB_TARGET", raising=False)
        lab = Lab(spec, "local", say=lambda _line: None)
        try:
            lab.up("instances")
            yield lab
        finally:
            client.stop(local_dir)
            cleanup.force_down(lid(name, local_dir.parent))
            moto.reset()


def both(lab: Lab) -> tuple[list[tuple], list[tuple]]:
    facts = Facts(lab.spec, lab.cloud, lab.spec_path)
    seen = []
    for backend in ("namespaces", "ssh"):
        results = lab_live_checks(facts, STEPS, lab.local_dir, backend=backend)
        seen.append([(r.id, r.status, r.detail) for r in results])
    return seen[0], seen[1]


def test_ssh_backend_gives_the_namespace_backend_results(lab):
    namespaces, ssh = both(lab)
    assert len(namespaces) == 7
    assert [s for _, s, _ in namespaces] == [Status.PASS] * 7, namespaces
    assert ssh == namespaces


def test_both_backends_see_a_revoked_rule_the_same_way(lab):
    """Jenkins loses SSH to web (its SG rule revoked): both backends FAIL that check only."""
    ec2 = lab.cloud.ec2
    groups = lab.context().state().security_groups
    web_sg, jenkins_sg = groups["web"]["GroupId"], groups["jenkins"]["GroupId"]
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [web_sg]}])
    (rule,) = [
        r
        for r in rules["SecurityGroupRules"]
        if not r["IsEgress"] and r.get("ReferencedGroupInfo", {}).get("GroupId") == jenkins_sg
    ]
    ec2.revoke_security_group_ingress(
        GroupId=web_sg, SecurityGroupRuleIds=[rule["SecurityGroupRuleId"]]
    )
    try:
        namespaces, ssh = both(lab)
        assert ssh == namespaces
        failed = [i for i, s, _ in ssh if s is Status.FAIL]
        assert failed == ["jenkins.reaches_web_over_peering"], ssh
    finally:
        ec2.authorize_security_group_ingress(
            GroupId=web_sg,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 22,
                    "ToPort": 22,
                    "UserIdGroupPairs": [{"GroupId": jenkins_sg}],
                }
            ],
        )
    namespaces, ssh = both(lab)
    assert ssh == namespaces and {s for _, s, _ in ssh} == {Status.PASS}


def test_user_data_check_reads_what_each_host_recorded(lab):
    results = {r.id: r for r in lab.verify(through="instances")}
    for check_id in ("instances.user_data", "jenkins.user_data"):
        assert results[check_id].status is Status.PASS, results[check_id]
    assert "web, app, monitoring" in results["instances.user_data"].detail
    app = remote.open_role(lab.context(), "app")
    try:
        app.put_text("failed: line 42\n", USER_DATA_RESULT, 0o644, sudo=True)
        broken = {r.id: r for r in lab.verify(step="instances")}["instances.user_data"]
        assert broken.status is Status.FAIL
        assert broken.detail == "app: failed: line 42"
        assert "cloud-init-output.log" in broken.hint
    finally:
        app.put_text("ok\n", USER_DATA_RESULT, 0o644, sudo=True)
        remote.close(app)
    again = {r.id: r for r in lab.verify(step="instances")}["instances.user_data"]
    assert again.status is Status.PASS


def test_user_data_check_skips_before_the_keys_are_pinned(lab):
    """After step 03 on live hosts (notebooks, grading) Jenkins runs but no host key is
    pinned yet: the check waits for the instances step instead of failing the checkpoint."""
    pinned = known_hosts_path(lab.spec.name, lab.spec_path)
    aside = pinned.with_name("known_hosts.aside")
    pinned.rename(aside)
    try:
        early = {r.id: r for r in lab.verify(through="jenkins")}["jenkins.user_data"]
    finally:
        aside.rename(pinned)
    assert early.status is Status.SKIP, early
    assert "instances step" in early.detail
    again = {r.id: r for r in lab.verify(through="jenkins")}["jenkins.user_data"]
    assert again.status is Status.PASS, again
