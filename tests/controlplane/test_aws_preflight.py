"""Target aws against moto: preflight before any change, the confirmation with the cost,
creator tags, admin_cidr = "auto". The aws target's client is pointed at the test's moto
server, and the public-address lookup is a fake: nothing here leaves this machine."""

from __future__ import annotations

import io
import sys

import pytest

from tests.controlplane.awsfake import Inject
from tests.controlplane.conftest import run_cli
from vpclab.aws.guard import NotConfirmed
from vpclab.aws.owner import CREATOR
from vpclab.aws.retry import Pacing
from vpclab.aws.session import LOCAL_CREDENTIALS, Cloud, new_session
from vpclab.aws.tags import tag_spec, tags_of
from vpclab.checklist import Status
from vpclab.cost import estimate, load_prices
from vpclab.errors import VpclabError
from vpclab.lab import Lab

AMI_PARAMETER = "/vpclab/tests/ubuntu-22.04"
OPERATOR_IP = "100.24.5.6"  # never contacted: it only lands in security-group rules


def never_resolve() -> str:
    raise AssertionError("the public-address lookup must not run here")


@pytest.fixture
def aws_cloud(spec_path, moto_endpoint, monkeypatch) -> Cloud:
    """A Cloud of target aws whose endpoint is the test's moto server."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("VPCLAB_REPO_URL", "https://example.org/microblog.git")
    session = new_session("us-east-1", **LOCAL_CREDENTIALS)
    cloud = Cloud("aws", "us-east-1", moto_endpoint, session)
    image = cloud.ec2.register_image(
        Name="ubuntu-22.04-test", RootDeviceName="/dev/sda1", VirtualizationType="hvm"
    )
    cloud.client("ssm").put_parameter(Name=AMI_PARAMETER, Value=image["ImageId"], Type="String")
    monkeypatch.setattr("vpclab.lab.connect", lambda *_a, **_k: cloud)
    monkeypatch.setattr(Lab, "pacing", Pacing.fake())
    monkeypatch.setattr(Lab, "ip_resolver", staticmethod(lambda: OPERATOR_IP))
    edit_spec(spec_path, admin_cidr="auto", ami_ssm_parameter=AMI_PARAMETER)
    cloud.log.clear()
    return cloud


def edit_spec(spec_path, **values: str) -> None:
    text = spec_path.read_text()
    lines = []
    for line in text.splitlines():
        key = line.split("=")[0].strip()
        lines.append(f'{key} = "{values[key]}"' if key in values else line)
    spec_path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def said() -> list[str]:
    return []


@pytest.fixture
def aws_lab(spec_path, aws_cloud, said) -> Lab:
    return Lab(spec_path, "aws", say=said.append)


def test_up_with_yes_builds_a_lab_tagged_with_its_creator(aws_lab, aws_cloud, said):
    aws_lab.up("instances", yes=True)  # the deployment steps after it need real hosts
    results = aws_lab.verify(through="instances")
    assert [r.id for r in results if r.status is Status.FAIL] == []
    arn = aws_cloud.client("sts").get_caller_identity()["Arn"]
    tagged = aws_lab.context().state().tagged
    kinds = [tagged.vpcs, tagged.subnets, tagged.nats, tagged.instances, tagged.security_groups]
    assert all(tags_of(r)[CREATOR] == arn for kind in kinds for r in kind)
    web = aws_lab.context().state().security_groups["web"]
    assert any(
        r["CidrIp"] == f"{OPERATOR_IP}/32" for p in web["IpPermissions"] for r in p["IpRanges"]
    )
    assert any(line.startswith("will create: VPC 10.0.0.0/16") for line in said)
    # A second up creates nothing, so it asks nothing and changes nothing.
    aws_cloud.log.clear()
    aws_lab.up("instances")
    assert aws_cloud.log.mutating == []


def _no_default_vpc(lab, cloud) -> None:
    Inject(cloud).intercept(
        "DescribeVpcs",
        lambda p: {"Vpcs": []} if "is-default" in p["body"].values() else None,
    )


def _ami_missing(lab, cloud) -> None:
    edit_spec(lab.spec_path, ami_ssm_parameter="/vpclab/tests/missing")


def _type_not_offered(lab, cloud) -> None:
    Inject(cloud).intercept(
        "DescribeInstanceTypeOfferings",
        lambda p: {"InstanceTypeOfferings": [{"InstanceType": "t3.micro", "Location": "x"}]},
    )


def _key_pair_clash(lab, cloud) -> None:
    from vpclab.aws.keypairs import generate

    public = generate(lab.spec_path.parent / "other-keys", "microblog-web")
    cloud.ec2.import_key_pair(KeyName="microblog-web", PublicKeyMaterial=public.encode())


def _group_clash(lab, cloud) -> None:
    default = cloud.ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])
    cloud.ec2.create_security_group(
        GroupName="microblog-jenkins",
        Description="someone else's",
        VpcId=default["Vpcs"][0]["VpcId"],
    )


def _documentation_admin(lab, cloud) -> None:
    edit_spec(lab.spec_path, admin_cidr="198.51.100.0/24")


def _world_admin(lab, cloud) -> None:
    edit_spec(lab.spec_path, admin_cidr="0.0.0.0/0")


def _other_creator(lab, cloud) -> None:
    cloud.ec2.create_vpc(
        CidrBlock="10.0.0.0/16",
        TagSpecifications=tag_spec(
            "vpc",
            "microblog",
            "vpc",
            "microblog-vpc",
            {CREATOR: "arn:aws:iam::123456789012:user/bo"},
        ),
    )


def _default_route_taken(lab, cloud) -> None:
    ec2 = cloud.ec2
    default = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    other = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    pcx = ec2.create_vpc_peering_connection(VpcId=default["VpcId"], PeerVpcId=other)
    table = ec2.describe_route_tables(
        Filters=[
            {"Name": "vpc-id", "Values": [default["VpcId"]]},
            {"Name": "association.main", "Values": ["true"]},
        ]
    )["RouteTables"][0]
    ec2.create_route(
        RouteTableId=table["RouteTableId"],
        DestinationCidrBlock="10.0.0.0/16",
        VpcPeeringConnectionId=pcx["VpcPeeringConnection"]["VpcPeeringConnectionId"],
    )


PREFLIGHT = {
    "no_default_vpc": (_no_default_vpc, "no default VPC"),
    "ami_missing": (_ami_missing, "does not resolve"),
    "type_not_offered": (_type_not_offered, "t3.medium is not offered in us-east-1a"),
    "key_pair_clash": (_key_pair_clash, "key pair named 'microblog-web'"),
    "group_clash": (_group_clash, "security group named 'microblog-jenkins'"),
    "documentation_admin": (_documentation_admin, "documentation range"),
    "world_admin": (_world_admin, "whole internet"),
    "other_creator": (_other_creator, "user/bo"),
    "default_route_taken": (_default_route_taken, "vpclab did not create"),
}


@pytest.mark.parametrize("name", sorted(PREFLIGHT))
def test_preflight_failure_is_one_line_and_creates_nothing(spec_path, aws_cloud, name):
    arrange, expected = PREFLIGHT[name]
    lab = Lab(spec_path, "aws", say=lambda _line: None)
    arrange(lab, aws_cloud)
    lab = Lab(spec_path, "aws", say=lambda _line: None)  # the spec as arranged
    aws_cloud.log.clear()
    with pytest.raises(VpclabError) as exc:
        lab.up(yes=True)
    assert expected in exc.value.line()
    assert exc.value.fix and "\n" not in exc.value.line()
    assert aws_cloud.log.calls and aws_cloud.log.mutating == []


def test_world_admin_is_allowed_when_asked_for(spec_path, aws_cloud):
    edit_spec(spec_path, admin_cidr="0.0.0.0/0")
    lab = Lab(spec_path, "aws", say=lambda _line: None)
    assert lab.up(through="vpc", yes=True, allow_world_admin=True) == ["vpc"]


def test_prompt_shows_account_plan_and_cost_and_is_respected(aws_lab, aws_cloud, said):
    questions: list[str] = []
    with pytest.raises(NotConfirmed):
        aws_lab.up(through="nat", ask=lambda q: questions.append(q) or False)
    assert aws_cloud.log.mutating == []
    assert questions == ["create these in account 123456789012 (us-east-1)?"]
    text = "\n".join(said)
    assert "account 123456789012 in us-east-1" in text
    assert "NAT gateway with an Elastic IP" in text
    nat_cost = estimate(aws_lab.spec, ["vpc", "nat"])
    assert f"{nat_cost.hourly:.3f} an hour" in text and nat_cost.as_of in text
    aws_lab.up(through="nat", ask=lambda q: True)
    assert "CreateNatGateway" in aws_cloud.log.mutating


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_cli_without_yes_and_no_terminal_refuses(spec_path, aws_cloud, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, _, err = run_cli(monkeypatch, capsys, "up", "--target", "aws", "--spec", str(spec_path))
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("error:") and "--yes" in last
    assert aws_cloud.log.mutating == []


def test_cli_prompt_answered_on_the_terminal(spec_path, aws_cloud, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))
    code, _, err = run_cli(
        monkeypatch, capsys, "up", "--target", "aws", "--through", "vpc", "--spec", str(spec_path)
    )
    assert code == 1 and "[y/N]" in err and "not confirmed" in err
    assert aws_cloud.log.mutating == []
    monkeypatch.setattr(sys, "stdin", Terminal("y\n"))
    args = ("up", "--target", "aws", "--through", "vpc", "--spec", str(spec_path))
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0 and "CreateVpc" in aws_cloud.log.mutating


def test_cli_yes_skips_the_question(spec_path, aws_cloud, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    args = ("up", "--target", "aws", "--through", "vpc", "--yes", "--spec", str(spec_path))
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0 and "[y/N]" not in err and "will create" in err


def test_down_refuses_another_creators_lab(aws_lab, aws_cloud):
    _other_creator(aws_lab, aws_cloud)
    aws_cloud.log.clear()
    with pytest.raises(VpclabError) as exc:
        aws_lab.down()
    assert "user/bo" in exc.value.problem and aws_cloud.log.mutating == []


def test_local_target_has_no_preflight_prompt_or_lookup(spec_path, monkeypatch):
    monkeypatch.setattr(Lab, "ip_resolver", staticmethod(never_resolve))
    edit_spec(spec_path, admin_cidr="auto")
    lab = Lab(spec_path, "local", say=lambda _line: None)
    lab.up(through="vpc")
    ops = [op for _, op, _ in lab.cloud.log.calls]
    assert "GetCallerIdentity" not in ops and "DescribeInstanceTypeOfferings" not in ops
    assert lab.spec.admin_cidr == "198.51.100.0/24"


def test_cost_estimate_from_the_dated_table(lab):
    prices = load_prices()
    assert prices.as_of and prices.sources and prices.region == "us-east-1"
    full = estimate(lab.spec)
    assert abs(full.hourly - sum(line.hourly for line in full.lines)) < 1e-9
    assert abs(full.monthly - full.hourly * prices.hours_per_month) < 1e-6
    names = " ".join(line.resource for line in full.lines)
    assert "NAT gateway" in names and "jenkins server (t3.medium)" in names
    assert estimate(lab.spec, ["vpc"]).lines == ()
    odd = lab.spec.model_copy(update={"instances": {}, "region": "eu-west-1"})
    assert any("eu-west-1 may differ" in note for note in estimate(odd).notes)


def test_unpriced_instance_type_is_one_line(lab):
    from vpclab.spec import Instance

    spec = lab.spec.model_copy(update={"instances": {"web": Instance(instance_type="x9.huge")}})
    with pytest.raises(VpclabError) as exc:
        estimate(spec)
    assert "x9.huge" in exc.value.problem and exc.value.fix


def test_aws_smoke_runs_up_verify_down_and_prints_the_cost(
    spec_path, aws_cloud, monkeypatch, capsys
):
    import importlib.util

    from tests.controlplane.conftest import ROOT

    loader = importlib.util.spec_from_file_location("aws_smoke", ROOT / "scripts" / "aws_smoke.py")
    smoke = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(smoke)
    # The deployment steps (keys ...) need real hosts: not in moto.
    argv = ["aws_smoke", "--spec", str(spec_path), "--yes", "--through", "instances"]
    monkeypatch.setattr(sys, "argv", argv)
    assert smoke.main() == 0
    out, err = capsys.readouterr()
    assert "aws-smoke passed" in out and "cost at most about USD" in out
    assert "nothing tagged for the lab is left" in err
    assert Lab(spec_path, "aws").context().state().tagged.leftovers() == []


def test_preflight_needs_the_repository_before_anything_bills(aws_lab, aws_cloud, monkeypatch):
    monkeypatch.delenv("VPCLAB_REPO_URL")
    with pytest.raises(VpclabError, match="VPCLAB_REPO_URL") as caught:
        aws_lab.up("jenkins", yes=True)
    assert len(caught.value.line().splitlines()) == 1
    assert aws_cloud.log.mutating == []
