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
# # 02 · Gateways and routes: who may talk to the internet, and which way
#
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
from vpclab.lab import Lab

lab = Lab("../lab.toml")
ec2 = lab.cloud.ec2
mine = [{"Name": "tag:vpclab:lab", "Values": [lab.spec.name]}]

# %% [markdown]
# ## Do the step
#
# `up` goes through every step up to `nat`. The VPC from notebook 01 is already there, so
# the `vpc` step has nothing to do and prints nothing but its heading.

# %%
lab.up(through="nat")

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
        target = route.get("GatewayId") or route.get("NatGatewayId")
        print(f"    {route['DestinationCidrBlock']:<12} -> {target}")

nat = ec2.describe_nat_gateways(Filter=mine)["NatGateways"][0]
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
# The fix is the step itself: `up` compares the route with the spec and replaces only the
# one that is wrong.

# %%
lab.up(through="nat")

# %% [markdown]
# ## Checkpoint

# %% tags=["checkpoint", "nbval-check-output"]
lab.checkpoint("nat")
