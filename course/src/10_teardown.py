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
# # 10 · Teardown: remove everything, and stop paying
#
# **Write your report first.** `11_report` reads its evidence from the live lab (the
# diagram, the security groups, the checklist, the last build, the dashboard): do it
# before this notebook, which removes everything it reads.
#
# ### Objectives
#
# - Read what the lab costs per hour while it exists.
# - Dry-run the teardown, then remove everything tagged with the lab.
# - Prove that nothing tagged with the lab is left.
#
# ### Prerequisites
#
# Any point after `01_vpc`: the teardown removes as much or as little as exists. Once the
# whole lab is built, do `11_report` first.
#
# ### Time
#
# About 15 minutes.
#
# ### Reference docs
#
# - [boto3 EC2 client (every call)](https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/ec2.html)
# - [boto3 `describe_instances`](https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/ec2/client/describe_instances.html)
# - [boto3 `delete_vpc`](https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/ec2/client/delete_vpc.html)

# %% [markdown]
# **Why this step exists.** On AWS a lab bills by the hour for as long as it exists,
# whether anyone uses it or not: each server, the NAT gateway, every public IPv4 address
# and every disk. A lab left running over a weekend costs more than the whole exercise.
# So the last step is to remove it, all of it, and to prove that nothing is left.
#
# Two ideas make that safe:
#
# - **Found by tag, not by memory.** Every resource the lab made carries the tag
#   `vpclab:lab=<name>`. The teardown asks the cloud for everything with that tag, so it
#   also finds what a crashed run or a second attempt left behind, and it never touches
#   anything else in the account (the default VPC stays; only the lab's peering route is
#   taken out of its route table).
# - **Dependency order.** AWS refuses to delete a subnet that still holds a server, or a
#   VPC that still has a gateway. So the teardown first stops what bills by the hour (the
#   servers and the NAT gateway), waits until they are gone, then releases the Elastic IP,
#   detaches and deletes the Internet Gateway, deletes the peering, the route tables, the
#   security groups (rules that name another group first), the subnets, the VPC, and last
#   the key pairs.
#
# This notebook tears down whatever exists, however far you got.

# %%
from vpclab.lab import Lab

lab = Lab("../lab.toml")
ec2 = lab.cloud.ec2
mine = [{"Name": "tag:vpclab:lab", "Values": [lab.spec.name]}]

# %% [markdown]
# ## What the lab costs while it runs
#
# `lab.cost()` reads what exists now and prices it from the dated on-demand price table in
# the repository (`vpclab/data/prices-<region>.toml`). The local target bills nothing: these
# are the prices the same lab has on AWS. `vpclab cost` prints the same table.

# %% tags=["nbval-ignore-output"]
running = lab.cost()
print(f"on-demand prices of {running.region} as of {running.as_of} ({running.currency})")
print("\n".join(running.to_text()))

# %% [markdown]
# ## The plan: a dry run
#
# `dry_run=True` reads the state and prints each action in the order it would run,
# changing nothing. Read it top to bottom and check the order against the list above.

# %% tags=["nbval-ignore-output"]
plan = lab.down(dry_run=True)
print(len(plan), "actions planned; nothing changed yet")

# %% [markdown]
# ## Tear it down
#
# The same actions, for real. The teardown reads the state again at the end and raises,
# naming what is left, if anything tagged for the lab survived. Running it twice is safe:
# the second run finds nothing to do.

# %% tags=["nbval-ignore-output"]
done = lab.down()
print(len(done), "actions done")

# %% [markdown]
# ## Check: nothing tagged with the lab is left
#
# Do not take the teardown's word for it: ask EC2 yourself, one describe call per kind of
# resource, filtered by the lab's tag. Terminated servers and deleted NAT gateways stay
# visible for a while after they are gone (they no longer run or bill), so they are left
# out. The peering is checked by its tags directly: not every EC2 implementation honours a
# tag filter on that call.

# %% tags=["nbval-check-output"]
gone = ("deleted", "rejected", "failed", "expired")
tag = {"Key": "vpclab:lab", "Value": lab.spec.name}
left = {
    "instances": [
        i["InstanceId"]
        for r in ec2.describe_instances(Filters=mine)["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] != "terminated"
    ],
    "NAT gateways": [
        n["NatGatewayId"]
        for n in ec2.describe_nat_gateways(Filter=mine)["NatGateways"]
        if n["State"] not in gone
    ],
    "Elastic IPs": [a["AllocationId"] for a in ec2.describe_addresses(Filters=mine)["Addresses"]],
    "Internet Gateways": [
        g["InternetGatewayId"]
        for g in ec2.describe_internet_gateways(Filters=mine)["InternetGateways"]
    ],
    "VPC peerings": [
        p["VpcPeeringConnectionId"]
        for p in ec2.describe_vpc_peering_connections()["VpcPeeringConnections"]
        if tag in p.get("Tags", []) and p["Status"]["Code"] not in gone
    ],
    "route tables": [
        t["RouteTableId"] for t in ec2.describe_route_tables(Filters=mine)["RouteTables"]
    ],
    "security groups": [
        g["GroupId"] for g in ec2.describe_security_groups(Filters=mine)["SecurityGroups"]
    ],
    "subnets": [s["SubnetId"] for s in ec2.describe_subnets(Filters=mine)["Subnets"]],
    "VPCs": [v["VpcId"] for v in ec2.describe_vpcs(Filters=mine)["Vpcs"]],
    "key pairs": [k["KeyName"] for k in ec2.describe_key_pairs(Filters=mine)["KeyPairs"]],
}
for kind, ids in left.items():
    print(f"{kind:<18} {len(ids)} left {' '.join(ids)}")
assert not any(left.values()), f"still tagged for lab {lab.spec.name}: {left}"
print("nothing tagged for the lab is left")

# %% [markdown]
# ## What the lab stops paying for
#
# The cost read before the teardown is what stopped; read again, the lab costs nothing.
# (`vpclab down` prints the same lines when it finishes.)

# %% tags=["nbval-check-output"]
print(f"stopped paying for {running.summary()}:")
print("\n".join(running.to_text()))
print(f"now: {lab.cost().summary()}")

# %% [markdown]
# ## On the local target: stop the local cloud too
#
# Locally nothing bills, but the local cloud keeps running after the teardown: the moto
# server (the control plane) and, as root, the agent that ran the hosts. In a terminal in
# the kit, `vpclab local stop` stops both. Its state is kept, so `vpclab local start` (or
# the next `vpclab up`) brings back whatever still existed.

# %% [markdown]
# ## Check yourself
#
# 1. Why does the teardown find resources by tag instead of by the ids you created?
# 2. Why can't the VPC be deleted first?
# 3. What bills by the hour even when nobody uses the lab?

# %% [markdown]
# <details><summary>Answers</summary>
#
# 1. Tags also find what a crashed run or a second attempt left behind, and never match
#    anything else in the account.
# 2. AWS refuses to delete a VPC that still holds subnets, gateways or servers; the teardown
#    goes in dependency order.
# 3. Each server, the NAT gateway, every public IPv4 address and every disk.
#
# </details>

# %% [markdown]
# ## Key points
#
# - Stop paying first: servers and the NAT gateway go before the rest.
# - Dependency order, or AWS refuses the delete.
# - Check afterwards: an empty tag search is the proof.
