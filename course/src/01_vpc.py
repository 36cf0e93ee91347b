# ---
# jupyter:
#   jupytext:
#     formats: notebooks//ipynb,course/src//py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · The VPC: a network of our own
#
# ### Objectives
#
# - Create a VPC and two subnets with boto3, tagged so the lab can find them again.
# - Turn on DNS support and DNS hostnames, and auto-assigned public IPv4 on the public subnet
#   only.
# - Read the result back with `describe_*` calls and tag filters.
#
# ### Prerequisites
#
# `00_overview` read; the lab's spec in `../lab.toml`.
#
# ### Time
#
# About 30 minutes.
#
# ### Reference docs
#
# - [boto3 EC2 client (every call)](https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/ec2.html)
# - [boto3 `create_vpc`](https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/ec2/client/create_vpc.html)
# - [boto3 `create_subnet`](https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/ec2/client/create_subnet.html)
# - [boto3 `modify_subnet_attribute`](https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/ec2/client/modify_subnet_attribute.html)

# %% [markdown]
# **Why this step exists.** The old way to ship the microblog was one EC2 instance in a
# public subnet running everything: Jenkins, gunicorn and the web entry point. Easy, but
# every process on that box faces the internet, and a heavy build slows the live site.
#
# The fix starts with the network, not the servers. We create a *custom VPC* (10.0.0.0/16)
# and cut it into two subnets in one availability zone:
#
# | subnet  | CIDR        | who lives there                   | public IPv4 on launch |
# |---------|-------------|-----------------------------------|-----------------------|
# | public  | 10.0.1.0/24 | the Nginx web server, monitoring  | yes                   |
# | private | 10.0.2.0/24 | the application server            | no                    |
#
# Two VPC settings matter later: **DNS support** (the VPC's resolver answers queries) and
# **DNS hostnames** (instances get `ip-10-0-…` names). With both on, hosts can find each
# other by name instead of by hard-coded address.
#
# A subnet is only "public" once it has a route to an Internet Gateway; that comes in
# notebook 02. Here we only set the public subnet to hand out public IPv4 addresses, so the
# web server gets one without extra clicks.
#
# Every value below comes from `lab.toml`, the lab's single source of truth.

# %%
import json

from vpclab.course import breakit, kit
from vpclab.lab import Lab

lab = Lab("../lab.toml")
print(f"lab {lab.spec.name}: target {lab.target}, region {lab.spec.region}")
print(
    f"VPC {lab.spec.cidr}, public {lab.spec.public_subnets}, "
    f"private {lab.spec.private_subnets}, zone {lab.spec.az}"
)

# %% [markdown]
# ## Do the step
#
# You make the calls. `ec2` is an ordinary boto3 EC2 client pointed at the lab's cloud: the
# same calls (and the same AWS CLI commands, `aws ec2 create-vpc …`) work on real AWS.
#
# **Tags first.** Every resource gets three tags: `Name`, `vpclab:lab` (which lab it belongs
# to) and `vpclab:role` (what it is for: `vpc`, `public`, `private`, …). The checklist, the
# teardown and the later notebooks find resources by these tags, never by remembered ids.
# `kit.tag_spec(lab, resource_type, role)` writes them in the shape a create call takes:
#
# **Find first, then create.** Run a create call twice and AWS makes two VPCs: nothing about
# a VPC (its CIDR, its `Name` tag) has to be unique, and `create_vpc` takes no idempotency
# token. Re-running a notebook must be safe (after a kernel restart, or on a lab that
# `make lab` or `lab.catch_up` already built), so each create cell first looks for the lab's
# resource by its tags, creates only what is missing, and says which it did (`say`). Your
# code goes where the cell creates.

# %%
ec2 = lab.cloud.ec2
mine = [{"Name": "tag:vpclab:lab", "Values": [lab.spec.name]}]  # the lab's resources, by tag


def say(already, what):
    """Whether a create cell found its resource (by the lab's tags) or made it."""
    print(f"found {what} (already there)" if already else f"created {what}")


print(json.dumps(kit.tag_spec(lab, "vpc", "vpc"), indent=1))

# %% [markdown]
# **1. The VPC.** `create_vpc` takes the address range. The new VPC starts `pending`; a
# *waiter* polls `describe_vpcs` until it is `available`. Keep its id in `vpc_id`: the next
# two cells use it. The cell looks for the lab's VPC first (`describe_vpcs` with the lab's
# tag) and runs your code only when there is none.

# %%
already = ec2.describe_vpcs(Filters=mine)["Vpcs"]  # find first: never a second VPC
if already:
    vpc_id = already[0]["VpcId"]
else:
    ### BEGIN SOLUTION
    vpc_id = ec2.create_vpc(
        CidrBlock=lab.spec.cidr, TagSpecifications=kit.tag_spec(lab, "vpc", "vpc")
    )["Vpc"]["VpcId"]
    ec2.get_waiter("vpc_available").wait(VpcIds=[vpc_id])
    ### END SOLUTION
vpc = kit.only(ec2.describe_vpcs(Filters=mine)["Vpcs"], "VPC", "this cell")  # by its tags
say(already, f"VPC {vpc['VpcId']} {vpc['CidrBlock']} ({vpc['State']})")

# %% [markdown]
# **2. DNS.** Two attributes, one call each (the API takes one attribute per call). DNS
# support must be on before DNS hostnames can be. Setting an attribute to a value is safe to
# repeat, so this cell needs no guard.

# %%
### BEGIN SOLUTION
ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": lab.spec.enable_dns_support})
ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": lab.spec.enable_dns_hostnames})
### END SOLUTION
print("DNS support and DNS hostnames set on", vpc["VpcId"])

# %% [markdown]
# **3. The subnets.** One public, one private, both in the spec's availability zone, each
# tagged with its role. Then the public one hands out public IPv4 addresses on launch
# (`modify_subnet_attribute`, `MapPublicIpOnLaunch`); the private one must not. The two are
# made together, so the cell runs your code only when the lab has no subnet yet.

# %%
already = kit.by_role(ec2.describe_subnets(Filters=mine)["Subnets"])  # find first
if not already:
    ### BEGIN SOLUTION
    public_subnet = ec2.create_subnet(
        VpcId=vpc_id,
        CidrBlock=lab.spec.public_subnets[0],
        AvailabilityZone=lab.spec.az,
        TagSpecifications=kit.tag_spec(lab, "subnet", "public"),
    )["Subnet"]["SubnetId"]
    private_subnet = ec2.create_subnet(
        VpcId=vpc_id,
        CidrBlock=lab.spec.private_subnets[0],
        AvailabilityZone=lab.spec.az,
        TagSpecifications=kit.tag_spec(lab, "subnet", "private"),
    )["Subnet"]["SubnetId"]
    ec2.modify_subnet_attribute(
        SubnetId=public_subnet, MapPublicIpOnLaunch={"Value": lab.spec.map_public_ip_on_launch}
    )
    ### END SOLUTION
subnets = kit.by_role(ec2.describe_subnets(Filters=mine)["Subnets"])
for role, subnet in sorted(subnets.items()):
    launch = f"public IP on launch {subnet['MapPublicIpOnLaunch']}"
    say(role in already, f"{role} subnet {subnet['SubnetId']} {subnet['CidrBlock']}, {launch}")

# %% [markdown]
# Stuck? `lab.catch_up("vpc")` builds whatever this step still lacks with the library's own
# step (`vpclab up --through vpc` does the same from a terminal), and records that it did:
# you can go on to the next notebook, but a caught-up step earns no credit.
#
# Made a mess (a duplicate, a wrong CIDR)? `lab.reset("vpc")` removes this step's resources
# (and every later step's, which stand on it), so you can run this notebook again from the
# top. It costs no credit; `vpclab reset vpc` does the same from a terminal.
#
# The library's steps are *idempotent*: they look at what exists (by tags) and only change
# what differs, so running one a second time sends no mutating call at all.

# %% [markdown]
# ## Look at the result
#
# The lab's summary of what it found:

# %%
print(json.dumps(lab.status().to_dict(), indent=2))

# %% [markdown]
# The same facts straight from the EC2 API. `lab.cloud.ec2` is an ordinary boto3 client;
# these are the calls you would make with the AWS CLI (`aws ec2 describe-vpcs …`).

# %%
ec2 = lab.cloud.ec2
mine = [{"Name": "tag:vpclab:lab", "Values": [lab.spec.name]}]

vpc = kit.only(ec2.describe_vpcs(Filters=mine)["Vpcs"], "VPC", "the create cell above")
dns_support = ec2.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute="enableDnsSupport")
dns_names = ec2.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute="enableDnsHostnames")
print("VPC    cidr", vpc["CidrBlock"], "| id", vpc["VpcId"])
print(
    "       dns support",
    dns_support["EnableDnsSupport"]["Value"],
    "| dns hostnames",
    dns_names["EnableDnsHostnames"]["Value"],
)
for subnet in sorted(ec2.describe_subnets(Filters=mine)["Subnets"], key=lambda s: s["CidrBlock"]):
    print(
        "subnet cidr",
        subnet["CidrBlock"],
        "| zone",
        subnet["AvailabilityZone"],
        "| public IP on launch",
        subnet["MapPublicIpOnLaunch"],
        "| id",
        subnet["SubnetId"],
    )

# %% [markdown]
# ## Break it and watch
#
# **The public subnet stops handing out public addresses.** Turn `MapPublicIpOnLaunch` off on
# the public subnet, the way a console click or a copied template might. The checklist
# catches it at once. On the wire nothing changes yet, and that is the lesson: the attribute
# acts only when an instance *launches*. The web server that already runs keeps its public
# address, and the internet still reaches it; the next server launched into this subnet
# would get none, and nobody outside could reach it. Then the attribute goes back on.
#
# The cell watches the running web server, so it needs the hosts, and the servers arrive in
# `04_instances`: come back to it after that notebook. Until then it says so and does
# nothing.

# %% tags=["break-it"]
missing = breakit.hosts_missing(lab, "web")
if missing:
    print(
        f"needs the hosts: {missing}; the servers arrive in 04_instances:",
        "come back to this cell after it",
    )
else:
    ec2 = lab.cloud.ec2
    public_only = [
        {"Name": "tag:vpclab:lab", "Values": [lab.spec.name]},
        {"Name": "tag:vpclab:role", "Values": ["public"]},
    ]
    subnet = ec2.describe_subnets(Filters=public_only)["Subnets"][0]
    public, saved = subnet["SubnetId"], subnet["MapPublicIpOnLaunch"]
    ec2.modify_subnet_attribute(SubnetId=public, MapPublicIpOnLaunch={"Value": False})
    try:
        breakit.settle(lab)
        print("broken:  ", breakit.connect(lab, "internet", "web", lab.spec.ports.ssh, public=True))
        print(breakit.lines(lab, "vpc", "vpc.public_subnet_auto_ip"))
    finally:
        ec2.modify_subnet_attribute(SubnetId=public, MapPublicIpOnLaunch={"Value": saved})
    print("restored: public IPv4 on launch is back as it was")
    print(breakit.lines(lab, "vpc", "vpc.public_subnet_auto_ip"))

# %% [markdown]
# ## Check yourself
#
# 1. Why is the public subnet not yet "public" at the end of this notebook?
# 2. Why does every create call pass `TagSpecifications`?
# 3. What goes wrong when `MapPublicIpOnLaunch` is off on the public subnet?

# %% [markdown]
# <details><summary>Answers</summary>
#
# 1. A subnet is public only when its route table sends 0.0.0.0/0 to an Internet Gateway. That
#    route comes in `02_nat`; here it only hands out public addresses.
# 2. Later notebooks, the checks and the teardown find the lab's resources by the `vpclab:lab`
#    and `vpclab:role` tags, never by remembered ids.
# 3. New servers there start without a public IPv4 address, so the web server cannot be
#    reached from the internet; the check `vpc.public_subnet_auto_ip` FAILs.
#
# </details>

# %% [markdown]
# ## Key points
#
# - The network comes before the servers: the VPC and its subnets decide who can later reach
#   whom.
# - DNS support and DNS hostnames let hosts find each other by name.
# - Tag everything you create; find it again with a `tag:` filter.
# - Find before you create: a create call run twice makes a duplicate, so re-running a cell
#   is safe only when it looks for the lab's resource first.

# %% [markdown]
# ## Checkpoint
#
# The last cell checks the step against real state and prints the checklist: one line per
# check, `PASS`, `FAIL` or `SKIP`, with what was seen. If anything fails it raises, and the
# message tells you how to fix it. This cell is what gets graded.
#
# Some checks are live probes: they open real connections between the hosts. They need the
# local data plane (root on Linux) or real AWS. Where the hosts do not run, as in the
# automated grading run, those checks say `SKIP` and why; a `SKIP` is never a `PASS`.

# %% tags=["checkpoint", "nbval-check-output"]
lab.checkpoint("vpc")
