"""Steps against moto: a clean lab passes, and a second `up` changes nothing."""

from __future__ import annotations

import dataclasses
import stat

import pytest

from vpclab.checklist import Status
from vpclab.errors import UsageError
from vpclab.monitoring.grafana import NOT_ON_LOCAL
from vpclab.steps import BUILT


def test_clean_lab_has_no_fail(readonly_lab):
    results = readonly_lab.verify()
    assert results, "no checks ran"
    assert [r.id for r in results if r.status is Status.FAIL] == []
    assert {r.step for r in results} == set(BUILT)
    # With the data plane off, live probes are SKIP with the reason, never PASS; Grafana SKIPs
    # on the local target whatever the data plane, and says why.
    skipped = [r for r in results if r.status is Status.SKIP]
    grafana = [r for r in skipped if r.id == "monitoring.grafana"]
    assert [r.detail for r in grafana] == [NOT_ON_LOCAL]
    assert all("VPCLAB_DATAPLANE=off" in r.detail for r in skipped if r not in grafana)
    assert all(r.status is Status.PASS for r in results if r not in skipped)


def test_second_up_makes_no_mutating_call(readonly_lab):
    log = readonly_lab.cloud.log
    log.clear()
    readonly_lab.up()
    assert log.calls, "the second up read nothing"
    assert log.mutating == []


def test_verify_only_reads(readonly_lab):
    """Checks only read: a whole verify of a full lab sends no mutating call."""
    log = readonly_lab.cloud.log
    log.clear()
    results = readonly_lab.verify()
    assert {r.step for r in results} == set(BUILT)
    assert log.calls, "verify read nothing"
    assert log.mutating == []


def _not_to_run(monkeypatch, check_id: str) -> None:
    """The control-plane check `check_id` raises if it runs."""
    from vpclab import checks

    step = check_id.split(".")[0]

    def boom(_facts):
        raise AssertionError("a check that was not asked for ran")

    boom.__module__ = f"vpclab.checks.{step}"  # where the checklist's order places it
    patched = [
        dataclasses.replace(c, run=boom) if c.id == check_id else c for c in checks.registered()
    ]
    monkeypatch.setattr(checks, "REGISTRY", patched)


def test_verify_only_runs_the_checks_asked_for(readonly_lab, monkeypatch):
    """A self-check asks for two or three checks of a step: only they run (a read and a live
    probe alike), in checklist order, and an id the step does not have is a one-line error."""
    _not_to_run(monkeypatch, "instances.app_security_group")
    wanted = ["instances.web_to_app_ssh", "instances.web_security_group"]
    results = readonly_lab.verify(step="instances", only=wanted)
    assert [r.id for r in results] == ["instances.web_security_group", "instances.web_to_app_ssh"]
    assert [r.status for r in results] == [Status.PASS, Status.SKIP]  # the data plane is off
    with pytest.raises(AssertionError, match="not asked for"):
        readonly_lab.verify(step="instances")
    assert [r.id for r in readonly_lab.verify(step="nat", only="nat.igw_attached")] == [
        "nat.igw_attached"
    ]
    with pytest.raises(UsageError, match="no check 'nat.igw_attached' in instances") as raised:
        readonly_lab.verify(step="instances", only=["nat.igw_attached"])
    assert "instances.web_to_app_ssh" in raised.value.fix


def test_a_break_it_cell_prints_the_checks_it_names_in_its_order(readonly_lab, monkeypatch):
    from vpclab.course import breakit

    _not_to_run(monkeypatch, "nat.gateway_available")
    text = breakit.lines(readonly_lab, "nat", "nat.app_reaches_internet", "nat.igw_attached")
    assert text.index("nat.app_reaches_internet") < text.index("nat.igw_attached")
    assert "nat.gateway_available" not in text
    with pytest.raises(UsageError, match="no check 'nat.nope' in nat"):
        breakit.lines(readonly_lab, "nat", "nat.nope")


def test_up_through_stops_at_the_step(lab):
    assert lab.up(through="nat") == ["vpc", "nat"]
    state = lab.context().state()
    assert state.nat is not None
    assert state.instances == {} and state.peering is None


def test_layout_matches_the_seed(readonly_lab):
    state = readonly_lab.context().state()
    inst = state.instances
    assert inst["web"]["SubnetId"] == state.subnets["public"]["SubnetId"]
    assert inst["web"].get("PublicIpAddress")
    assert inst["app"]["SubnetId"] == state.subnets["private"]["SubnetId"]
    assert not inst["app"].get("PublicIpAddress")
    assert inst["jenkins"]["VpcId"] == state.default_vpc["VpcId"]
    assert inst["jenkins"]["InstanceType"] == "t3.medium"
    assert state.nat["SubnetId"] == state.subnets["public"]["SubnetId"]


def test_private_keys_are_0600_in_the_state_folder(readonly_lab):
    pems = sorted(readonly_lab.keys_dir.glob("*.pem"))
    assert len(pems) == 4
    for pem in pems:
        assert stat.S_IMODE(pem.stat().st_mode) == 0o600


def test_user_data_is_a_script(readonly_lab):
    ec2 = readonly_lab.cloud.ec2
    app = readonly_lab.context().state().instances["app"]
    data = ec2.describe_instance_attribute(InstanceId=app["InstanceId"], Attribute="userData")
    import base64

    script = base64.b64decode(data["UserData"]["Value"]).decode()
    assert script.startswith("#!/bin/bash") and "role=%s" in script
