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
# # 03 · Jenkins: deployment tooling, kept apart
#
# **Why this step exists.** Jenkins checks out code, runs the tests and the security scans,
# and holds the SSH key that deploys to production. Two reasons keep it off the production
# hosts:
#
# - **Blast radius.** If the build server is compromised, the attacker gets a CI box, not
#   the live application and its data. If the app is compromised, the deploy key and the
#   pipeline are not on the same machine.
# - **Predictable performance.** A build can eat all the CPU, memory and disk of a small
#   instance. On a separate machine it cannot slow the site down.
#
# So Jenkins gets its own `t3.medium` in the account's **default VPC**
# (172.31.0.0/16), not in the lab VPC.
#
# It still has to reach the web server to deploy. Here the lab uses a **VPC peering
# connection** between the default VPC and the lab VPC, routed on both sides, so Jenkins
# can talk to the web server over private addresses. (Going to the web server's public IP
# would also work; peering keeps the deploy traffic off the internet.) For the same reason
# the lab CIDR must not overlap 172.31.0.0/16: peered networks cannot share addresses.
#
# The step also makes the Jenkins key pair. Its private half is written to the lab's state
# folder with mode 0600 and never goes into git.

# %%
import json

from vpclab.lab import Lab

lab = Lab("../lab.toml")
ec2 = lab.cloud.ec2
mine = [{"Name": "tag:vpclab:lab", "Values": [lab.spec.name]}]

# %% [markdown]
# ## Do the step

# %%
lab.up(through="jenkins")

# %% [markdown]
# ## Look at the result
#
# The lab's summary now lists the Jenkins instance and the peering:

# %%
print(json.dumps(lab.status().to_dict(), indent=2))

# %% [markdown]
# The peering as EC2 describes it: the *requester* is the default VPC, the *accepter* the lab
# VPC. A peering is useless until it is `active` **and** both sides have a route over it.

# %%
pcx = ec2.describe_vpc_peering_connections(Filters=mine)["VpcPeeringConnections"][0]
print("peering status", pcx["Status"]["Code"], "| id", pcx["VpcPeeringConnectionId"])
print(
    "  requester cidr",
    pcx["RequesterVpcInfo"]["CidrBlock"],
    "| vpc",
    pcx["RequesterVpcInfo"]["VpcId"],
)
print(
    "  accepter  cidr",
    pcx["AccepterVpcInfo"]["CidrBlock"],
    "| vpc",
    pcx["AccepterVpcInfo"]["VpcId"],
)

default_vpc = [
    {"Name": "vpc-id", "Values": [pcx["RequesterVpcInfo"]["VpcId"]]},
    {"Name": "association.main", "Values": ["true"]},
]
for route in ec2.describe_route_tables(Filters=default_vpc)["RouteTables"][0]["Routes"]:
    target = route.get("VpcPeeringConnectionId") or route.get("GatewayId")
    print(f"default VPC route {route['DestinationCidrBlock']:<14} -> {target}")

# %% [markdown]
# ## Checkpoint

# %% tags=["checkpoint", "nbval-check-output"]
lab.checkpoint("jenkins")
