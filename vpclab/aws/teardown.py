"""Teardown in dependency order. Works on a lab left half-built at any point; idempotent.

moto enforces few dependency rules, so the order here is asserted by a test, not by moto.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vpclab.aws.inventory import LabState
from vpclab.aws.session import Cloud


@dataclass(frozen=True)
class Action:
    description: str
    run: Callable[[], None]


def plan(cloud: Cloud, state: LabState, keys_dir: Path) -> list[Action]:
    ec2 = cloud.ec2
    actions: list[Action] = []

    def add(description: str, run: Callable[[], None]) -> None:
        actions.append(Action(description, run))

    instance_ids = [i["InstanceId"] for i in state.instances.values()]
    if instance_ids:

        def terminate() -> None:
            ec2.terminate_instances(InstanceIds=instance_ids)
            ec2.get_waiter("instance_terminated").wait(InstanceIds=instance_ids)

        add(f"terminate instances {', '.join(instance_ids)}", terminate)

    if state.nat:
        nat_id = state.nat["NatGatewayId"]

        def delete_nat() -> None:
            ec2.delete_nat_gateway(NatGatewayId=nat_id)
            ec2.get_waiter("nat_gateway_deleted").wait(NatGatewayIds=[nat_id])

        add(f"delete NAT gateway {nat_id}", delete_nat)

    for eip in state.eips:
        alloc = eip["AllocationId"]
        add(
            f"release Elastic IP {eip.get('PublicIp')}",
            lambda a=alloc: ec2.release_address(AllocationId=a),
        )

    if state.igw:
        igw_id = state.igw["InternetGatewayId"]
        for attachment in state.igw.get("Attachments", []):
            add(
                f"detach {igw_id} from {attachment['VpcId']}",
                lambda v=attachment["VpcId"]: ec2.detach_internet_gateway(
                    InternetGatewayId=igw_id, VpcId=v
                ),
            )
        add(
            f"delete Internet Gateway {igw_id}",
            lambda: ec2.delete_internet_gateway(InternetGatewayId=igw_id),
        )

    if state.peering:
        pcx = state.peering["VpcPeeringConnectionId"]
        # The default VPC is not the lab's: remove only the routes that use the lab's peering.
        for route in (state.default_route_table or {}).get("Routes", []):
            if route.get("VpcPeeringConnectionId") == pcx:
                table_id = state.default_route_table["RouteTableId"]
                add(
                    f"delete route {route['DestinationCidrBlock']} -> {pcx} from {table_id}",
                    lambda t=table_id, d=route["DestinationCidrBlock"]: ec2.delete_route(
                        RouteTableId=t, DestinationCidrBlock=d
                    ),
                )
        add(
            f"delete VPC peering {pcx}",
            lambda: ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx),
        )

    for table in state.route_tables.values():
        table_id = table["RouteTableId"]
        for assoc in table.get("Associations", []):
            if not assoc.get("Main"):
                add(
                    f"disassociate {assoc.get('SubnetId')} from {table_id}",
                    lambda a=assoc["RouteTableAssociationId"]: ec2.disassociate_route_table(
                        AssociationId=a
                    ),
                )
        add(
            f"delete route table {table_id}",
            lambda t=table_id: ec2.delete_route_table(RouteTableId=t),
        )

    groups = list(state.security_groups.values())
    group_ids = {g["GroupId"] for g in groups}
    for group in groups:
        refs = [
            r["SecurityGroupRuleId"]
            for r in ec2.describe_security_group_rules(
                Filters=[{"Name": "group-id", "Values": [group["GroupId"]]}]
            )["SecurityGroupRules"]
            if not r.get("IsEgress") and r.get("ReferencedGroupInfo", {}).get("GroupId")
        ]
        if refs:
            add(
                f"revoke {len(refs)} group-to-group rules of {group['GroupId']}",
                lambda g=group["GroupId"], ids=refs: ec2.revoke_security_group_ingress(
                    GroupId=g, SecurityGroupRuleIds=ids
                ),
            )
    for group_id in sorted(group_ids):
        add(
            f"delete security group {group_id}",
            lambda g=group_id: ec2.delete_security_group(GroupId=g),
        )

    for subnet in state.subnets.values():
        add(
            f"delete subnet {subnet['SubnetId']}",
            lambda s=subnet["SubnetId"]: ec2.delete_subnet(SubnetId=s),
        )
    if state.vpc:
        add(f"delete VPC {state.vpc['VpcId']}", lambda: ec2.delete_vpc(VpcId=state.vpc["VpcId"]))

    for key in state.key_pairs.values():
        name = key["KeyName"]

        def delete_key(n: str = name) -> None:
            ec2.delete_key_pair(KeyName=n)
            for suffix in (".pem", ".pub"):
                (keys_dir / f"{n}{suffix}").unlink(missing_ok=True)

        add(f"delete key pair {name} and its local key files", delete_key)
    return actions
