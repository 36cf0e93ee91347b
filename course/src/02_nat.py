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
# # 02 · Gateways and routes: who may talk to the internet, and which way
#
# ### Objectives
#
# - Attach an Internet Gateway and create a NAT gateway with an Elastic IP in the public
#   subnet.
# - Give each subnet its own route table with the right default route.
# - Recognise the shortcut that turns a private subnet public, and how the checklist catches
#   it.
#
# ### Prerequisites
#
# `01_vpc` done (its VPC and subnets, found here by tag).
#
# ### Time
#
# About 30 minutes.
#
# ### Reference docs
#
# - [boto3 EC2 client (every call)](https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/ec2.html)
# - [boto3 `create_nat_gateway`](https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/ec2/client/create_nat_gateway.html)
# - [boto3 `create_route`](https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/ec2/client/create_route.html)
# - [boto3 `associate_route_table`](https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/ec2/client/associate_route_table.html)

# %% [markdown]
# **Why this step exists.** A subnet's name means nothing to AWS. What makes a subnet
# public or private is its *route table*, the list of "traffic for X goes to Y" rules that
# applies to it:
#
# - **Public subnet:** `0.0.0.0/0 → Internet Gateway (igw-…)`. Traffic flows both ways, so
#   the web server can be reached from outside at its public address.
# - **Private subnet:** `0.0.0.0/0 → NAT gateway (nat-…)`. The NAT gateway sits *in the
#   public subnet* with an Elastic IP. It lets the app server start connections out
#   (`apt`, `pip`, `git clone`) and carries the replies back, but nobody outside can open a
#   connection in. The app server can fetch its updates and still stay unreachable.
#
# A NAT gateway placed in the private subnet would be useless: its own traffic would have
# no route to the Internet Gateway. The checklist looks for that mistake too.

# %%
from vpclab import report
from vpclab.aws.inventory import route_target
from vpclab.course import breakit, kit
from vpclab.lab import Lab

lab = Lab("../lab.toml")
ec2 = lab.cloud.ec2
mine = [{"Name": "tag:vpclab:lab", "Values": [lab.spec.name]}]

# What notebook 01 built, found again by its tags:
vpc_id = kit.only(ec2.describe_vpcs(Filters=mine)["Vpcs"], "VPC", "01_vpc")["VpcId"]
subnets = {kit.role(s): s["SubnetId"] for s in ec2.describe_subnets(Filters=mine)["Subnets"]}
print("VPC", vpc_id, "| subnets", ", ".join(sorted(subnets)))


def say(already, what):
    """Whether a create cell found its resource (by the lab's tags) or made it."""
    print(f"found {what} (already there)" if already else f"created {what}")


# %% [markdown]
# ## Do the step
#
# As in 01, each cell finds the lab's resource by its tags first and runs your code only when
# it is missing: a create call run twice makes two gateways, and a re-run of this notebook
# must be safe.
#
# **1. The Internet Gateway.** Create it, then attach it to the VPC: a gateway that is not
# attached carries nothing. Keep its id in `igw_id` (the public route table needs it); the
# VPC is `vpc_id`, found above.

# %%
already = ec2.describe_internet_gateways(Filters=mine)["InternetGateways"]  # find first
if already:
    igw_id = already[0]["InternetGatewayId"]
else:
    ### BEGIN SOLUTION
    igw_id = ec2.create_internet_gateway(
        TagSpecifications=kit.tag_spec(lab, "internet-gateway", "igw")
    )["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    ### END SOLUTION
igw = kit.only(
    ec2.describe_internet_gateways(Filters=mine)["InternetGateways"],
    "Internet Gateway",
    "this cell",
)
attached = ", ".join(a["VpcId"] for a in igw["Attachments"]) or "nothing"
say(already, f"Internet Gateway {igw['InternetGatewayId']}, attached to {attached}")

# %% [markdown]
# **2. The NAT gateway.** It needs a fixed public address, an *Elastic IP*
# (`allocate_address`), and it lives **in the public subnet**. It starts `pending`: wait
# until it is `available` before routing through it. Keep its id in `nat_id` (the private
# route table needs it).
#
# Both are looked for first. A deleted NAT gateway stays listed (`deleted`) for a while, so
# the search asks for live ones only (`live`). An Elastic IP without its NAT gateway (a run
# that stopped half-way) is in `eips`, the lab's free ones: use it rather than allocate a
# second address, which costs money while it is idle. (`create_nat_gateway` also takes a
# `ClientToken`: sent again with the same token, the call returns the gateway it made the
# first time. That makes a retried call safe, but it is no search: the cell still looks
# first.)

# %%
live = [*mine, {"Name": "state", "Values": ["pending", "available"]}]  # not deleted ones
already = ec2.describe_nat_gateways(Filter=live)["NatGateways"]  # find first
addresses = ec2.describe_addresses(Filters=mine)["Addresses"]
eips = [a for a in addresses if not a.get("AssociationId")]  # the lab's free Elastic IPs
if already:
    nat_id = already[0]["NatGatewayId"]
else:
    ### BEGIN SOLUTION
    tags = kit.tag_spec(lab, "elastic-ip", "nat")
    eip = eips[0] if eips else ec2.allocate_address(Domain="vpc", TagSpecifications=tags)
    nat_id = ec2.create_nat_gateway(
        SubnetId=subnets["public"],
        AllocationId=eip["AllocationId"],
        TagSpecifications=kit.tag_spec(lab, "natgateway", "nat"),
    )["NatGateway"]["NatGatewayId"]
    ec2.get_waiter("nat_gateway_available").wait(NatGatewayIds=[nat_id])
    ### END SOLUTION
nat = kit.only(ec2.describe_nat_gateways(Filter=live)["NatGateways"], "NAT gateway", "this cell")
say(already, f"NAT gateway {nat['NatGatewayId']} ({nat['State']})")

# %% [markdown]
# **3. The route tables.** One per subnet: create it in the VPC, add the default route
# (`0.0.0.0/0`), and associate it with its subnet. The public table's default route goes to
# the Internet Gateway (`igw_id`), the private table's to the NAT gateway (`nat_id`); the
# subnets' ids are in `subnets`, by role. The loop skips a table the lab already has.

# %%
already = kit.by_role(ec2.describe_route_tables(Filters=mine)["RouteTables"])  # find first
for role in ("public", "private"):
    if role in already:
        continue
    ### BEGIN SOLUTION
    target = {"GatewayId": igw_id} if role == "public" else {"NatGatewayId": nat_id}
    table_id = ec2.create_route_table(
        VpcId=vpc_id, TagSpecifications=kit.tag_spec(lab, "route-table", role)
    )["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0", **target)
    ec2.associate_route_table(RouteTableId=table_id, SubnetId=subnets[role])
    ### END SOLUTION
tables = kit.by_role(ec2.describe_route_tables(Filters=mine)["RouteTables"])
for role, table in sorted(tables.items()):
    say(role in already, f"{role} route table {table['RouteTableId']}")

# %% [markdown]
# Stuck? `lab.catch_up("nat")` builds what is missing (and records that it did: no credit).
#
# Made a mess (a duplicate, a wrong CIDR)? `lab.reset("nat")` removes this step's resources
# (and 03's and 04's, which stand on it), so you can run this notebook again from the top.
# It costs no credit; `vpclab reset nat` does the same from a terminal.

# %% [markdown]
# ## Look at the result
#
# Both route tables, straight from the API. Besides our default route, each table has a
# `local` route for the VPC's own range: that one is always there, and it is how the web
# server reaches the app server inside the VPC.

# %%
for table in ec2.describe_route_tables(Filters=mine)["RouteTables"]:
    role = next(t["Value"] for t in table["Tags"] if t["Key"] == "vpclab:role")
    print(f"{role} route table, id {table['RouteTableId']}")
    for route in table["Routes"]:
        # A route's target is a gateway, a NAT gateway or a peering, each under its own key.
        print(f"    {route['DestinationCidrBlock']:<14} -> {route_target(route)}")

nat = kit.only(
    ec2.describe_nat_gateways(Filter=live)["NatGateways"],
    "NAT gateway",
    "the NAT gateway cell above",
)
print(
    "NAT gateway",
    nat["State"],
    "| subnet",
    nat["SubnetId"],
    "| id",
    nat["NatGatewayId"],
    "| Elastic IP",
    nat["NatGatewayAddresses"][0]["PublicIp"],
)

# %% [markdown]
# ## A fault, and how the checklist catches it
#
# A tempting shortcut when the app server "can't install anything": point the private
# subnet straight at the Internet Gateway. It looks like it works, yet the private subnet
# has quietly become a public one. Let's make that mistake on purpose, using the raw API
# the way a hurried admin would.

# %%
igw = ec2.describe_internet_gateways(Filters=mine)["InternetGateways"][0]["InternetGatewayId"]
private_only = mine + [{"Name": "tag:vpclab:role", "Values": ["private"]}]
private_table = ec2.describe_route_tables(Filters=private_only)["RouteTables"][0]
saved = next(r for r in private_table["Routes"] if r["DestinationCidrBlock"] == "0.0.0.0/0")
ec2.replace_route(
    RouteTableId=private_table["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", GatewayId=igw
)
print("private subnet now sends 0.0.0.0/0 to", igw)

# %% [markdown]
# `lab.verify(step="nat")` reads the real state again. One check now fails, says what it
# saw, and suggests a fix:

# %%
print(report.to_text(lab.verify(step="nat")))

# %% [markdown]
# The fix: put back the route we saved, the same `replace_route` call with the old target.
# (`vpclab up --through nat` would also repair it: the step compares each route with the
# spec and replaces only the one that is wrong.)

# %%
target_key = next(k for k in ("NatGatewayId", "GatewayId") if saved.get(k))
ec2.replace_route(
    RouteTableId=private_table["RouteTableId"],
    DestinationCidrBlock="0.0.0.0/0",
    **{target_key: saved[target_key]},
)
print("private subnet sends 0.0.0.0/0 to", saved[target_key], "again")

# %% [markdown]
# ## Break it and watch
#
# **The private subnet loses its way out.** Delete the private route table's default route,
# the one to the NAT gateway, as if someone "cleaned up" a route they did not recognise.
# Nothing can reach the app server from outside either way, so nothing looks wrong, until
# the app has to install something: `pip download` on the app server (the first thing its
# install does, from the lab's package index on the internet) now fails, and the checklist
# says why. Then the route goes back, and the download works again.
#
# The cell works on the live app server, so it needs the hosts, and the servers arrive in
# `04_instances`: come back to it after that notebook. Until then it says so and does
# nothing.

# %% tags=["break-it"]
missing = breakit.hosts_missing(lab, "web", "app")
if missing:
    print(
        f"needs the hosts: {missing}; the servers arrive in 04_instances:",
        "come back to this cell after it",
    )
else:
    private_only = mine + [{"Name": "tag:vpclab:role", "Values": ["private"]}]
    table = ec2.describe_route_tables(Filters=private_only)["RouteTables"][0]
    default = next(r for r in table["Routes"] if r["DestinationCidrBlock"] == "0.0.0.0/0")
    print("before:  ", breakit.download(lab))
    ec2.delete_route(RouteTableId=table["RouteTableId"], DestinationCidrBlock="0.0.0.0/0")
    try:
        breakit.settle(lab)
        print("broken:  ", breakit.download(lab))
        print(breakit.lines(lab, "nat", "nat.private_default_route", "nat.app_reaches_internet"))
    finally:
        ec2.create_route(
            RouteTableId=table["RouteTableId"],
            DestinationCidrBlock="0.0.0.0/0",
            NatGatewayId=default["NatGatewayId"],
        )
    breakit.settle(lab)
    print("restored:", breakit.download(lab))
    print(breakit.lines(lab, "nat", "nat.private_default_route", "nat.app_reaches_internet"))

# %% [markdown]
# ## Check yourself
#
# 1. What makes a subnet public or private in AWS?
# 2. Why must the NAT gateway sit in the public subnet?
# 3. You point the private subnet's default route at the Internet Gateway and the app server
#    can install packages. Why is that still wrong?

# %% [markdown]
# <details><summary>Answers</summary>
#
# 1. Its route table: 0.0.0.0/0 to an Internet Gateway makes it public, to a NAT gateway (or
#    nowhere) keeps it private. Its name means nothing.
# 2. Its own traffic leaves through the Internet Gateway; placed in the private subnet, it
#    would have no route out.
# 3. The private subnet has become public: anything there with a public address is reachable
#    from outside. The NAT gateway lets connections out, never in.
#
# </details>

# %% [markdown]
# ## Key points
#
# - Routes, not names, decide exposure.
# - NAT is one-way: outbound connections and their replies only.
# - Deleting the private default route breaks nothing visible until the app needs the
#   internet: the checklist sees it first.

# %% [markdown]
# ## Checkpoint

# %% tags=["checkpoint", "nbval-check-output"]
lab.checkpoint("nat")
