"""What the `jenkins` and `instances` checks share: a server's placement and its key pairs."""

from __future__ import annotations

import stat

from vpclab.aws import keypairs
from vpclab.checks import Facts, Outcome, fail, ok
from vpclab.facts.pipeline_build import inside_build
from vpclab.paths import keys_dir

UP_INSTANCES = "run 'vpclab up --through instances'"


def key_pairs(facts: Facts, roles: tuple[str, ...], up: str) -> Outcome:
    seen, operator_side = [], False
    for role in roles:
        name = facts.spec.instance(role).key_name
        if role not in facts.state.key_pairs:
            return fail(f"key pair {name} is missing in {facts.spec.region}", up)
        pem = keypairs.private_key_path(keys_dir(facts.spec.name, facts.spec_path), name)
        if not pem.exists() and inside_build():
            # A build's Verify runs on the Jenkins server: the private keys are the operator's.
            seen.append(name)
            operator_side = True
            continue
        if not pem.exists():
            return fail(
                f"the private key {pem.name} is not in the state folder",
                "restore it, or run 'vpclab down' and 'vpclab up' to make new keys",
            )
        mode = stat.S_IMODE(pem.stat().st_mode)
        if mode & 0o077:
            return fail(f"{pem.name} has mode {mode:04o}", f"chmod 600 {pem.name}")
        seen.append(name)
    if operator_side:
        return ok(", ".join(seen) + " (private keys are the operator's: not checked in a build)")
    return ok(", ".join(seen) + " (private keys 0600)")


def instance(facts: Facts, role: str, subnet_id: str | None, public: bool | None) -> Outcome:
    inst = facts.state.instances.get(role)
    if inst is None:
        return fail(f"no running {role} instance tagged for this lab")
    where = f"{inst['InstanceId']} {inst['State']['Name']} {inst['InstanceType']}"
    if inst["State"]["Name"] != "running":
        return fail(where, f"start it: aws ec2 start-instances --instance-ids {inst['InstanceId']}")
    if subnet_id and inst.get("SubnetId") != subnet_id:
        return fail(
            f"{where} is in {inst.get('SubnetId')}, expected {subnet_id}",
            "terminate it and " + UP_INSTANCES,
        )
    public_ip = inst.get("PublicIpAddress")
    if public is True and not public_ip:
        return fail(
            f"{where} has no public IP", "launch it in the public subnet with public IPs on launch"
        )
    if public is False and public_ip:
        return fail(
            f"{where} has a public IP {public_ip}",
            "terminate it and launch it in the private subnet without a public IP",
        )
    return ok(f"{where} {inst.get('PrivateIpAddress')} {public_ip or ''}".rstrip())
