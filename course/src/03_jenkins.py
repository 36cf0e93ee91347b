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
# # 03 · Jenkins: deployment tooling, kept apart
#
# ### Objectives
#
# - Import a key pair whose private half stays in the state folder, mode 0600.
# - Launch Jenkins in the default VPC with its own security group.
# - Peer the default VPC with the lab VPC and route both sides.
#
# ### Prerequisites
#
# `02_nat` done (the lab VPC and its route tables).
#
# ### Time
#
# About 40 minutes.
#
# ### Reference docs
#
# - [boto3 EC2 client (every call)](https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/ec2.html)
# - [boto3 `import_key_pair`](https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/ec2/client/import_key_pair.html)
# - [boto3 `run_instances`](https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/ec2/client/run_instances.html)
# - [boto3 `create_vpc_peering_connection`](https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/ec2/client/create_vpc_peering_connection.html)

# %% [markdown]
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

from vpclab.course import breakit, kit
from vpclab.lab import Lab

lab = Lab("../lab.toml")
ec2 = lab.cloud.ec2
mine = [{"Name": "tag:vpclab:lab", "Values": [lab.spec.name]}]
jenkins_only = [*mine, {"Name": "tag:vpclab:role", "Values": ["jenkins"]}]

# What notebooks 01 and 02 built, found again by their tags:
vpc = kit.only(ec2.describe_vpcs(Filters=mine)["Vpcs"], "VPC", "01_vpc")
tables = kit.by_role(ec2.describe_route_tables(Filters=mine)["RouteTables"])
# The default VPC, its subnet in our zone, and its main route table:
default_vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
in_default = [{"Name": "vpc-id", "Values": [default_vpc["VpcId"]]}]
default_subnet = sorted(
    ec2.describe_subnets(Filters=in_default)["Subnets"],
    key=lambda s: (s["AvailabilityZone"] != lab.spec.az, s["CidrBlock"]),
)[0]["SubnetId"]
main_filter = in_default + [{"Name": "association.main", "Values": ["true"]}]
default_table = ec2.describe_route_tables(Filters=main_filter)["RouteTables"][0]["RouteTableId"]
print("lab VPC", vpc["CidrBlock"], "| default VPC", default_vpc["CidrBlock"])


def say(already, what):
    """Whether a create cell found its resource (by the lab's tags) or made it."""
    print(f"found {what} (already there)" if already else f"created {what}")


# %% [markdown]
# ## Do the step
#
# As in 01 and 02, each cell finds the lab's resource by its tags first and runs your code
# only when it is missing, so a re-run of this notebook launches no second Jenkins.
#
# **1. The key pair.** We make the key here and import only its public half: the private
# key never leaves the lab's state folder (mode 0600). `kit.new_key_pair(lab, "jenkins")`
# writes it there and returns the public line, which `import_key_pair` sends as
# `PublicKeyMaterial`. Name it `lab.spec.instance("jenkins").key_name`, kept in `key_name`
# (the server uses it), and tag it with `kit.tag_spec(lab, "key-pair", "jenkins", key_name)`.
# The cell looks for the key pair first; were it to call `new_key_pair` anyway, that
# refuses in one line rather than overwrite a private key whose key pair AWS already holds.

# %%
already = ec2.describe_key_pairs(Filters=jenkins_only)["KeyPairs"]  # find first
if already:
    key_name = already[0]["KeyName"]
else:
    ### BEGIN SOLUTION
    key_name = lab.spec.instance("jenkins").key_name
    ec2.import_key_pair(
        KeyName=key_name,
        PublicKeyMaterial=kit.new_key_pair(lab, "jenkins").encode(),
        TagSpecifications=kit.tag_spec(lab, "key-pair", "jenkins", key_name),
    )
    ### END SOLUTION
pair = kit.only(ec2.describe_key_pairs(Filters=jenkins_only)["KeyPairs"], "key pair", "this cell")
say(already, f"key pair {pair['KeyName']}")

# %% [markdown]
# **2. The security group**, in the default VPC: SSH from the admin range only. The Jenkins
# UI (8080) gets no rule: its login would cross the internet in plain HTTP, so it is reached
# through an SSH tunnel (`ssh -L 8080:127.0.0.1:8080`), and `vpclab up` removes a rule that
# opens it. Keep the group's id in `jenkins_sg`: the server uses it.

# %%
already = ec2.describe_security_groups(Filters=jenkins_only)["SecurityGroups"]  # find first
if already:
    jenkins_sg = already[0]["GroupId"]
else:
    ### BEGIN SOLUTION
    jenkins_sg = ec2.create_security_group(
        GroupName=f"{lab.spec.name}-jenkins",
        Description="Jenkins deployment server",
        VpcId=default_vpc["VpcId"],
        TagSpecifications=kit.tag_spec(lab, "security-group", "jenkins"),
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=jenkins_sg,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": lab.spec.ports.ssh,
                "ToPort": lab.spec.ports.ssh,
                "IpRanges": [{"CidrIp": lab.spec.admin_cidr, "Description": "admin"}],
            }
        ],
    )
    ### END SOLUTION
found = ec2.describe_security_groups(Filters=jenkins_only)["SecurityGroups"]
say(already, f"security group {kit.only(found, 'Jenkins security group', 'this cell')['GroupId']}")

# %% [markdown]
# **3. The server.** `run_instances` in the default subnet, with a public IP, the key pair,
# the security group and the first-boot script (`UserData`). Two hardening settings: the
# instance metadata service answers only with a session token (IMDSv2), and the network
# interface goes away with the instance. The subnet is `default_subnet`, the key
# `key_name`, the group `jenkins_sg`; the image is `kit.image(lab)`.
#
# The cell looks first for a Jenkins that is `pending` or `running` (a terminated one stays
# listed for a while and does not count). `run_instances` also takes a `ClientToken`: sent
# again with the same token, the call returns the instance it launched the first time
# instead of a second one. That makes a *retried* call safe (an answer lost on the network),
# but a token stays bound to its instance even after that is terminated, so after a reset
# the same token would hand back the dead server: finding by tag is what makes a re-run
# safe. (The library's step does both, with a new token when the old one names a
# terminated instance.)

# %%
live = {"Name": "instance-state-name", "Values": ["pending", "running"]}
running = ec2.describe_instances(Filters=[*jenkins_only, live])["Reservations"]  # find first
if not running:
    ### BEGIN SOLUTION
    jenkins_id = ec2.run_instances(
        ImageId=kit.image(lab),
        InstanceType=lab.spec.instance("jenkins").instance_type,
        MinCount=1,
        MaxCount=1,
        KeyName=key_name,
        UserData=kit.user_data(lab, "jenkins"),
        NetworkInterfaces=[
            {
                "DeviceIndex": 0,
                "SubnetId": default_subnet,
                "Groups": [jenkins_sg],
                "AssociatePublicIpAddress": True,
                "DeleteOnTermination": True,
            }
        ],
        MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled"},
        TagSpecifications=kit.tag_spec(lab, "instance", "jenkins"),
    )["Instances"][0]["InstanceId"]
    ec2.get_waiter("instance_running").wait(InstanceIds=[jenkins_id])
    ### END SOLUTION
jenkins = lab.status().instances["jenkins"]
say(running, f"Jenkins {jenkins.id} ({jenkins.state})")

# %% [markdown]
# **4. The peering.** The default VPC *requests* it, the lab VPC *accepts* it. Then each side
# needs a route to the other's range over the peering: the default VPC's main table to the
# lab CIDR, and both lab tables to the default VPC's CIDR. The cell above found `vpc`,
# `default_vpc`, `default_table` and the lab's route tables (`tables`, by role). A peering
# that is deleted or was rejected stays listed for a while: the search looks for live ones.

# %%
up = {"Name": "status-code", "Values": ["pending-acceptance", "provisioning", "active"]}
already = ec2.describe_vpc_peering_connections(Filters=[*mine, up])["VpcPeeringConnections"]
if not already:
    ### BEGIN SOLUTION
    pcx_id = ec2.create_vpc_peering_connection(
        VpcId=default_vpc["VpcId"],
        PeerVpcId=vpc["VpcId"],
        TagSpecifications=kit.tag_spec(lab, "vpc-peering-connection", "peering"),
    )["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx_id)
    ec2.get_waiter("vpc_peering_connection_exists").wait(
        VpcPeeringConnectionIds=[pcx_id],
        Filters=[{"Name": "status-code", "Values": ["active"]}],
    )
    routes = [(default_table, lab.spec.cidr)]  # (route table, the other side's range)
    routes += [(tables[r]["RouteTableId"], default_vpc["CidrBlock"]) for r in ("public", "private")]
    for table_id, cidr in routes:
        ec2.create_route(
            RouteTableId=table_id, DestinationCidrBlock=cidr, VpcPeeringConnectionId=pcx_id
        )
    ### END SOLUTION
found = ec2.describe_vpc_peering_connections(Filters=[*mine, up])["VpcPeeringConnections"]
pcx = kit.only(found, "peering connection", "this cell")
say(already, f"peering {pcx['VpcPeeringConnectionId']} ({pcx['Status']['Code']})")

# %% [markdown]
# Stuck? `lab.catch_up("jenkins")` builds what is missing (and records that it did: no
# credit).
#
# Made a mess (a duplicate, a wrong CIDR)? `lab.reset("jenkins")` removes this step's
# resources (and 04's, which stand on it), so you can run this notebook again from the top.
# It costs no credit; `vpclab reset jenkins` does the same from a terminal.

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
pcx = kit.only(
    ec2.describe_vpc_peering_connections(Filters=mine)["VpcPeeringConnections"],
    "peering connection",
    "the peering cell above",
)
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
# ## Break it and watch
#
# **The peering loses a route.** Delete the default VPC's route to the lab's range over the
# peering. The peering itself stays `active` and looks healthy in the console, but a peering
# carries only what both sides route to it: Jenkins' packets to the web server now have
# nowhere to go, and a new connection from Jenkins to the web server's SSH port times out.
# The checklist names the missing route. Then the route goes back.
#
# The cell connects from the live Jenkins host to the web server, so it needs the hosts, and
# the web server arrives in `04_instances`: come back to it after that notebook. Until then
# it says so and does nothing.

# %% tags=["break-it"]
missing = breakit.hosts_missing(lab, "jenkins", "web")
if missing:
    print(
        f"needs the hosts: {missing}; the servers arrive in 04_instances:",
        "come back to this cell after it",
    )
else:
    routes = ec2.describe_route_tables(RouteTableIds=[default_table])["RouteTables"][0]["Routes"]
    to_lab = next(r for r in routes if r["DestinationCidrBlock"] == lab.spec.cidr)
    ssh = lab.spec.ports.ssh
    print("before:  ", breakit.connect(lab, "jenkins", "web", ssh))
    ec2.delete_route(RouteTableId=default_table, DestinationCidrBlock=lab.spec.cidr)
    try:
        breakit.settle(lab)
        print("broken:  ", breakit.connect(lab, "jenkins", "web", ssh))
        print(
            breakit.lines(
                lab,
                "jenkins",
                "jenkins.peering_route_default_vpc",
                "jenkins.reaches_web_over_peering",
            )
        )
    finally:
        ec2.create_route(
            RouteTableId=default_table,
            DestinationCidrBlock=lab.spec.cidr,
            VpcPeeringConnectionId=to_lab["VpcPeeringConnectionId"],
        )
    breakit.settle(lab)
    print("restored:", breakit.connect(lab, "jenkins", "web", ssh))
    print(
        breakit.lines(
            lab, "jenkins", "jenkins.peering_route_default_vpc", "jenkins.reaches_web_over_peering"
        )
    )

# %% [markdown]
# ## Check yourself
#
# 1. Give two reasons Jenkins does not run on a production server.
# 2. Why must the lab's CIDR not overlap 172.31.0.0/16?
# 3. The peering exists but the default VPC's route to the lab range is deleted. What happens?

# %% [markdown]
# <details><summary>Answers</summary>
#
# 1. Blast radius (a compromised build box does not hold the live app, and the reverse) and
#    performance (a build cannot starve the site of CPU, memory or disk).
# 2. Peered VPCs route by address; two networks sharing addresses cannot be peered.
# 3. Jenkins' packets to the lab have no route, so the deploy path breaks; the check on the
#    peering routes FAILs.
#
# </details>

# %% [markdown]
# ## Key points
#
# - Import only the public key: the private key never leaves the state folder.
# - A peering carries nothing until both sides have a route over it.
# - Jenkins reaches the web server over private addresses, off the internet.

# %% [markdown]
# ## Checkpoint

# %% tags=["checkpoint", "nbval-check-output"]
lab.checkpoint("jenkins")
