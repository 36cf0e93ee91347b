"""Each classic mistake is caught by a failing check of the right step, with a hint."""

from __future__ import annotations

import pytest

from vpclab.aws import tags
from vpclab.checklist import Status


def _state(lab):
    return lab.context().state()


def dns_hostnames_off(lab, ec2):
    ec2.modify_vpc_attribute(VpcId=_state(lab).vpc["VpcId"], EnableDnsHostnames={"Value": False})


def public_subnet_no_auto_ip(lab, ec2):
    ec2.modify_subnet_attribute(
        SubnetId=_state(lab).subnets["public"]["SubnetId"], MapPublicIpOnLaunch={"Value": False}
    )


def private_routed_to_igw(lab, ec2):
    state = _state(lab)
    ec2.replace_route(
        RouteTableId=state.route_tables["private"]["RouteTableId"],
        DestinationCidrBlock="0.0.0.0/0",
        GatewayId=state.igw["InternetGatewayId"],
    )


def nat_in_private_subnet(lab, ec2):
    state = _state(lab)
    ec2.delete_nat_gateway(NatGatewayId=state.nat["NatGatewayId"])
    eip = ec2.allocate_address(Domain="vpc")
    ec2.create_nat_gateway(
        SubnetId=state.subnets["private"]["SubnetId"],
        AllocationId=eip["AllocationId"],
        TagSpecifications=tags.tag_spec("natgateway", lab.spec.name, "nat", "misplaced"),
    )


def app_sg_open(port):
    def fault(lab, ec2):
        ec2.authorize_security_group_ingress(
            GroupId=_state(lab).security_groups["app"]["GroupId"],
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": port,
                    "ToPort": port,
                    "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                }
            ],
        )

    return fault


def app_sg_open_all_tcp(lab, ec2):
    ec2.authorize_security_group_ingress(
        GroupId=_state(lab).security_groups["app"]["GroupId"],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 0,
                "ToPort": 65535,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )


def app_with_public_ip(lab, ec2):
    state = _state(lab)
    app = state.instances["app"]
    ec2.terminate_instances(InstanceIds=[app["InstanceId"]])
    ec2.run_instances(
        ImageId=app["ImageId"],
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        NetworkInterfaces=[
            {
                "DeviceIndex": 0,
                "SubnetId": state.subnets["private"]["SubnetId"],
                "Groups": [state.security_groups["app"]["GroupId"]],
                "AssociatePublicIpAddress": True,
            }
        ],
        TagSpecifications=tags.tag_spec("instance", lab.spec.name, "app", "exposed"),
    )


def peering_route_missing_default(lab, ec2):
    state = _state(lab)
    ec2.delete_route(
        RouteTableId=state.default_route_table["RouteTableId"], DestinationCidrBlock=lab.spec.cidr
    )


def peering_route_missing_lab(lab, ec2):
    ec2.delete_route(
        RouteTableId=_state(lab).route_tables["private"]["RouteTableId"],
        DestinationCidrBlock="172.31.0.0/16",
    )


def key_pair_missing(lab, ec2):
    ec2.delete_key_pair(KeyName=lab.spec.instance("web").key_name)


def private_key_file_missing(lab, ec2):
    (lab.keys_dir / f"{lab.spec.instance('jenkins').key_name}.pem").unlink()


FAULTS = {
    "dns_hostnames_off": (dns_hostnames_off, "vpc.dns_hostnames"),
    "public_subnet_no_auto_ip": (public_subnet_no_auto_ip, "vpc.public_subnet_auto_ip"),
    "private_routed_to_igw": (private_routed_to_igw, "nat.private_default_route"),
    "nat_in_private_subnet": (nat_in_private_subnet, "nat.gateway_in_public_subnet"),
    "app_sg_open_5000": (app_sg_open(5000), "instances.app_security_group"),
    "app_sg_open_22": (app_sg_open(22), "instances.app_security_group"),
    "app_sg_open_all_tcp": (app_sg_open_all_tcp, "instances.app_security_group"),
    "app_with_public_ip": (app_with_public_ip, "instances.app_server_private"),
    "peering_route_missing_default": (
        peering_route_missing_default,
        "jenkins.peering_route_default_vpc",
    ),
    "peering_route_missing_lab": (peering_route_missing_lab, "jenkins.peering_route_lab"),
    "key_pair_missing": (key_pair_missing, "instances.key_pairs"),
    "private_key_file_missing": (private_key_file_missing, "jenkins.key_pair"),
}


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_fault_is_caught_by_its_check(built_lab, name):
    inject, check_id = FAULTS[name]
    before = {r.id: r for r in built_lab.verify()}
    assert before[check_id].status is Status.PASS
    inject(built_lab, built_lab.cloud.ec2)
    after = {r.id: r for r in built_lab.verify()}
    result = after[check_id]
    assert result.status is Status.FAIL, result
    assert result.hint, "a failing check must say what to do"
    assert result.step == check_id.split(".")[0]


def test_private_route_to_igw_hint_names_the_nat(built_lab):
    private_routed_to_igw(built_lab, built_lab.cloud.ec2)
    result = {r.id: r for r in built_lab.verify(step="nat")}["nat.private_default_route"]
    assert "Internet Gateway" in result.detail and "NAT" in result.hint
