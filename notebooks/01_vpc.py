# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
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
# `lab.up(through="vpc")` applies every step up to and including `vpc`. Each line it prints
# is one change it made. Resource ids (`vpc-…`, `subnet-…`) change from lab to lab, so they
# always come last on a line.

# %%
lab.up(through="vpc")

# %% [markdown]
# Steps are *idempotent*: they look at what exists (found by the tags `vpclab:lab` and
# `vpclab:role`, never by remembered ids) and only change what differs. Running the step a
# second time should send no mutating API call at all. The lab counts every call, so we can
# see it:

# %%
lab.cloud.log.clear()
lab.up(through="vpc")
print("mutating calls on the second run:", lab.cloud.log.mutating)

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

vpc = ec2.describe_vpcs(Filters=mine)["Vpcs"][0]
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
