"""Checks of the `jenkins` step: its key pair, its server in the default VPC, the peering."""

from __future__ import annotations

from vpclab.aws.inventory import default_route_target
from vpclab.checks import Facts, Outcome, check, fail, ok
from vpclab.checks.servers import instance, key_pairs
from vpclab.spec import DEFAULT_VPC_CIDR

UP_JENKINS = "run 'vpclab up --through jenkins'"


@check("jenkins.key_pair", "Jenkins' key pair exists, private key kept 0600", UP_JENKINS)
def jenkins_key(facts: Facts) -> Outcome:
    return key_pairs(facts, ("jenkins",), UP_JENKINS)


@check("jenkins.instance", "Jenkins runs in the default VPC with a public IP", UP_JENKINS)
def jenkinsinstance(facts: Facts) -> Outcome:
    default = facts.state.default_vpc
    inst = facts.state.instances.get("jenkins")
    if inst and default and inst.get("VpcId") != default["VpcId"]:
        return fail(
            f"{inst['InstanceId']} is in {inst.get('VpcId')}, not the default VPC",
            "keep deployment tooling apart: run Jenkins in the default VPC",
        )
    return instance(facts, "jenkins", None, public=True)


@check(
    "jenkins.peering_active",
    "VPC peering between the default VPC and the lab is active",
    UP_JENKINS,
)
def peering_active(facts: Facts) -> Outcome:
    pcx = facts.state.peering
    if pcx is None:
        return fail("no VPC peering tagged for this lab")
    code = pcx["Status"]["Code"]
    if code != "active":
        return fail(
            f"{pcx['VpcPeeringConnectionId']} is {code}",
            "accept it: aws ec2 accept-vpc-peering-connection",
        )
    return ok(f"{pcx['VpcPeeringConnectionId']} active")


@check(
    "jenkins.peering_route_default_vpc",
    "The default VPC routes the lab's CIDR over the peering",
    "add <lab cidr> -> pcx-... to the default VPC's main route table, or run "
    "'vpclab up --through jenkins'",
)
def peering_route_default(facts: Facts) -> Outcome:
    target = default_route_target(facts.state.default_route_table, facts.spec.cidr)
    if not (target or "").startswith("pcx-"):
        return fail(f"{facts.spec.cidr} goes to {target or 'nowhere'} in the default VPC")
    return ok(f"{facts.spec.cidr} -> {target}")


@check(
    "jenkins.peering_route_lab",
    "The lab's route tables route the default VPC over the peering",
    "add 172.31.0.0/16 -> pcx-... to the lab's public and private route tables, "
    "or run 'vpclab up --through jenkins'",
)
def peering_route_lab(facts: Facts) -> Outcome:
    missing = [
        role
        for role in ("public", "private")
        if not (
            default_route_target(facts.state.route_tables.get(role), str(DEFAULT_VPC_CIDR)) or ""
        ).startswith("pcx-")
    ]
    if missing:
        return fail(f"no {DEFAULT_VPC_CIDR} -> pcx route in the {' and '.join(missing)} table")
    return ok(f"{DEFAULT_VPC_CIDR} -> pcx in public and private tables")
