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
# # 04 · The servers and their security groups
#
# ### Objectives
#
# - Create one security group per role, with rules that name other groups as sources.
# - Launch the web, app and monitoring servers in the right subnets, the app without a public
#   IP.
# - See what an over-wide or a missing rule does to real connections.
#
# ### Prerequisites
#
# `03_jenkins` done (Jenkins' security group is a source here).
#
# ### Time
#
# About 45 minutes.
#
# ### Reference docs
#
# - [boto3 EC2 client (every call)](https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/ec2.html)
# - [boto3 `create_security_group`](https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/ec2/client/create_security_group.html)
# - [boto3 `authorize_security_group_ingress`](https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/ec2/client/authorize_security_group_ingress.html)
# - [boto3 `run_instances`](https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/ec2/client/run_instances.html)

# %% [markdown]
# **Why this step exists.** The network is ready; now each role gets its own machine, in
# the subnet that fits how exposed it should be:
#
# | role       | subnet  | public IP | inbound (security group)                          |
# |------------|---------|-----------|---------------------------------------------------|
# | web        | public  | yes       | 443 and 80 from anyone; 22 from the admin range and Jenkins |
# | app        | private | **no**    | 22 and 5000 **only from the web server's group**  |
# | monitoring | public  | yes       | 22 and 9090 from admin (Grafana: SSH tunnel)       |
#
# The web server runs Nginx and is the only way in for users: it forwards each request to
# the app server's private address on port 5000. The app server has no public address, and
# its security group names the *web server's security group* as the source, not an IP
# range. So "only the web server may connect" holds even when addresses change, and a
# rule like `5000 from 0.0.0.0/0` never appears.
#
# Each server gets its own key pair. The private keys stay in the lab's state folder
# (mode 0600); a later step copies the app key to the web server, which becomes the only
# SSH path into the private subnet.

# %%
from vpclab.course import breakit, kit
from vpclab.lab import Lab

lab = Lab("../lab.toml")
ec2 = lab.cloud.ec2
mine = [{"Name": "tag:vpclab:lab", "Values": [lab.spec.name]}]
ports = lab.spec.ports

# What the earlier notebooks built, found again by their tags:
vpc_id = kit.only(ec2.describe_vpcs(Filters=mine)["Vpcs"], "VPC", "01_vpc")["VpcId"]
subnets = {kit.role(s): s["SubnetId"] for s in ec2.describe_subnets(Filters=mine)["Subnets"]}
groups = kit.by_role(ec2.describe_security_groups(Filters=mine)["SecurityGroups"])
jenkins_sg = groups["jenkins"]["GroupId"]
admin = lab.spec.admin_cidr
print("VPC", vpc_id, "| Jenkins security group", jenkins_sg)


def say(already, what):
    """Whether a create cell found its resource (by the lab's tags) or made it."""
    print(f"found {what} (already there)" if already else f"created {what}")


# %% [markdown]
# ## Do the step
#
# As in 01-03, nothing is created twice: each cell (or your function) finds the lab's
# resource by its tags first and creates only what is missing, so a re-run of this notebook
# launches no second server.
#
# **1. The security groups.** One per role, each in the lab VPC (`vpc_id`), named
# `<lab>-<role>` and tagged with `kit.tag_spec(lab, "security-group", role)`. A rule's
# source is either a CIDR (`IpRanges`) or another security group (`UserIdGroupPairs`);
# `allow` below writes one inbound TCP rule in the shape `authorize_security_group_ingress`
# takes. `show_rules(role)` finds a group again by its role tag and prints its inbound rules.


# %%
def allow(port, cidr=None, group=None, why=""):
    """One inbound TCP rule, from a CIDR or from another security group."""
    rule = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port}
    if cidr:
        rule["IpRanges"] = [{"CidrIp": cidr, "Description": why}]
    else:
        rule["UserIdGroupPairs"] = [{"GroupId": group, "Description": why}]
    return rule


def show_rules(role):
    """The role's security group, found by its tag, and its inbound rules, one a line."""
    groups = kit.by_role(ec2.describe_security_groups(Filters=mine)["SecurityGroups"])
    names = {g["GroupId"]: kit.role(g) for g in groups.values()}
    if role not in groups:
        print(f"{role}: no security group tagged for this lab yet")
        return
    for rule in groups[role]["IpPermissions"]:
        sources = [r["CidrIp"] for r in rule.get("IpRanges", [])]
        sources += [
            f"the {names.get(g['GroupId'])} group" for g in rule.get("UserIdGroupPairs", [])
        ]
        print(f"{role:<11} allows tcp {rule['FromPort']:<5} from {', '.join(sources)}")


print(allow(ports.http, cidr="0.0.0.0/0", why="anyone (HTTP)"))

# %% [markdown]
# **1a. The web server's group.** Write `security_group(role, description, rules)`: it
# first looks for the role's group by the lab's tags and returns its id if it is there
# (`say` it was found); otherwise it creates the group (`create_security_group` with
# `GroupName`, `Description`, `VpcId` and `TagSpecifications`), authorizes `rules` on it,
# says so and returns the new group's id. (A second group of the same name in one VPC is
# refused by AWS, with an error that would stop the notebook: finding first avoids it.)
# Then, in the next cell, make the web group, `web_sg`: 22 from the admin range (`admin`)
# and from Jenkins' group (`jenkins_sg`), 443 (HTTPS) and 80 from anyone (Nginx answers 80
# only with a redirect to HTTPS, step 06).


# %%
### BEGIN SOLUTION
def security_group(role, description, rules):
    already = kit.by_role(ec2.describe_security_groups(Filters=mine)["SecurityGroups"])
    if role in already:  # find first
        say(True, f"{role} security group {already[role]['GroupId']}")
        return already[role]["GroupId"]
    group_id = ec2.create_security_group(
        GroupName=f"{lab.spec.name}-{role}",
        Description=description,
        VpcId=vpc_id,
        TagSpecifications=kit.tag_spec(lab, "security-group", role),
    )["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=rules)
    say(False, f"{role} security group {group_id}")
    return group_id


### END SOLUTION


# %%
### BEGIN SOLUTION
web_sg = security_group(
    "web",
    "Web server: Nginx reverse proxy",
    [
        allow(ports.ssh, cidr=admin, why="admin"),
        allow(ports.ssh, group=jenkins_sg, why="Jenkins"),
        allow(ports.http, cidr="0.0.0.0/0", why="anyone (HTTP)"),
        allow(ports.https, cidr="0.0.0.0/0", why="anyone (HTTPS)"),
    ],
)
### END SOLUTION
show_rules("web")

# %% [markdown]
# **1b. The app and monitoring groups**, with `security_group` and `allow`. The app server,
# `app_sg`, takes 22 and 5000 **only from the web server's group** (`web_sg`); the
# monitoring server, `monitoring_sg`, takes 22 and 9090 (Prometheus) from the admin range.
# Grafana (3000) gets no rule: its login would cross the internet in plain HTTP, so it is
# reached through an SSH tunnel (`ssh -L 3000:127.0.0.1:3000`), and `vpclab up` removes a
# rule that opens it.

# %%
### BEGIN SOLUTION
app_sg = security_group(
    "app",
    "Application server: reachable only from the web server",
    [
        allow(ports.ssh, group=web_sg, why="web server"),
        allow(ports.app, group=web_sg, why="web server (app port)"),
    ],
)
monitoring_sg = security_group(
    "monitoring",
    "Monitoring server: Prometheus and Grafana",
    [
        allow(ports.ssh, cidr=admin, why="admin"),
        allow(ports.prometheus, cidr=admin, why="admin (Prometheus)"),
    ],
)
### END SOLUTION
show_rules("app")
show_rules("monitoring")

# %% [markdown]
# **2. The key pairs.** Each role gets its own: `kit.new_key_pair(lab, role)` makes it here
# (private half 0600 in the state folder) and returns the public line, which
# `import_key_pair` sends as `PublicKeyMaterial`, named `lab.spec.instance(role).key_name`
# and tagged with `kit.tag_spec(lab, "key-pair", role, key_name)`.
# The loop skips a role whose key pair the lab already has. (`kit.new_key_pair` never
# overwrites a private key whose key pair AWS holds: called again, it stops with a one-line
# message instead.)

# %%
already = kit.by_role(ec2.describe_key_pairs(Filters=mine)["KeyPairs"])  # find first
for role in ("web", "app", "monitoring"):
    if role in already:
        continue
    ### BEGIN SOLUTION
    key_name = lab.spec.instance(role).key_name
    ec2.import_key_pair(
        KeyName=key_name,
        PublicKeyMaterial=kit.new_key_pair(lab, role).encode(),
        TagSpecifications=kit.tag_spec(lab, "key-pair", role, key_name),
    )
    ### END SOLUTION
for role, pair in sorted(kit.by_role(ec2.describe_key_pairs(Filters=mine)["KeyPairs"]).items()):
    if role != "jenkins":  # 03 made Jenkins' own
        say(role in already, f"key pair {pair['KeyName']} ({role})")

# %% [markdown]
# **3a. The web server.** `run_instances`, one instance (`MinCount`, `MaxCount`), with the
# image `kit.image(lab)`, `lab.spec.instance("web").instance_type`, the role's key pair and
# first-boot script (`kit.user_data(lab, "web")`), tagged with
# `kit.tag_spec(lab, "instance", "web")`. Its one network interface (`NetworkInterfaces`)
# sits in the public subnet (`subnets["public"]`) with the web group (`groups["web"]`, found
# again below), **gets** a public IP and goes away with the instance. The instance metadata
# service answers only with a session token (`HttpTokens` `required`).
#
# `servers(role)` below finds the role's `pending` or `running` servers by the lab's tags (a
# terminated one stays listed for a while and does not count); the cell launches only when
# there is none. `run_instances` also takes a `ClientToken`: the same token sent again
# returns the instance the first call launched instead of a second one. That makes a
# *retried* call safe (an answer lost on the network), but a token stays bound to its
# instance after it is terminated, so after a reset it would hand back the dead server:
# finding by tag is what makes a re-run safe. (The library's step does both.)

# %%
groups = kit.by_role(ec2.describe_security_groups(Filters=mine)["SecurityGroups"])


def servers(role):
    """The role's pending or running servers, found by the lab's tags."""
    live = {"Name": "instance-state-name", "Values": ["pending", "running"]}
    tagged = [*mine, {"Name": "tag:vpclab:role", "Values": [role]}, live]
    reservations = ec2.describe_instances(Filters=tagged)["Reservations"]
    return [i for r in reservations for i in r["Instances"]]


def show_server(role, already):
    """The role's server: wait until it runs, then say whether the cell found or made it."""
    server_id = kit.only(servers(role), f"{role} server", "the cell above")["InstanceId"]
    ec2.get_waiter("instance_running").wait(InstanceIds=[server_id])
    server = lab.status().instances[role]
    say(already, f"{role} server {server_id} ({server.state}, public IP {server.public_ip})")


# %%
already = servers("web")  # find first
if not already:
    ### BEGIN SOLUTION
    ec2.run_instances(
        ImageId=kit.image(lab),
        InstanceType=lab.spec.instance("web").instance_type,
        MinCount=1,
        MaxCount=1,
        KeyName=lab.spec.instance("web").key_name,
        UserData=kit.user_data(lab, "web"),
        NetworkInterfaces=[
            {
                "DeviceIndex": 0,
                "SubnetId": subnets["public"],
                "Groups": [groups["web"]["GroupId"]],
                "AssociatePublicIpAddress": True,
                "DeleteOnTermination": True,
            }
        ],
        MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled"},
        TagSpecifications=kit.tag_spec(lab, "instance", "web"),
    )
    ### END SOLUTION
show_server("web", already)

# %% [markdown]
# **3b. The app and monitoring servers**, the same call for each role: the app server in the
# private subnet with **no** public IP, the monitoring server in the public subnet with one.
# The loop skips a role whose server is already there.

# %%
already = {role: servers(role) for role in ("app", "monitoring")}  # find first
for role in ("app", "monitoring"):
    if already[role]:
        continue
    ### BEGIN SOLUTION
    subnet, public_ip = ("private", False) if role == "app" else ("public", True)
    ec2.run_instances(
        ImageId=kit.image(lab),
        InstanceType=lab.spec.instance(role).instance_type,
        MinCount=1,
        MaxCount=1,
        KeyName=lab.spec.instance(role).key_name,
        UserData=kit.user_data(lab, role),
        NetworkInterfaces=[
            {
                "DeviceIndex": 0,
                "SubnetId": subnets[subnet],
                "Groups": [groups[role]["GroupId"]],
                "AssociatePublicIpAddress": public_ip,
                "DeleteOnTermination": True,
            }
        ],
        MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled"},
        TagSpecifications=kit.tag_spec(lab, "instance", role),
    )
    ### END SOLUTION
for role in ("app", "monitoring"):
    show_server(role, already[role])

# %% [markdown]
# With the local data plane on, each launch also boots a real host: a network namespace
# with the private IP the API gave it, its own sshd and the security groups as firewall
# rules. `lab.follow_dataplane()` waits until the hosts match the API (and pins their SSH
# host keys); without the hosts it says why and returns.

# %%
_ = lab.follow_dataplane()

# %% [markdown]
# Stuck? `lab.catch_up("instances")` builds what is missing (and records that it did: no
# credit).
#
# Made a mess (a duplicate, a wrong CIDR)? `lab.reset("instances")` removes this step's
# resources, so you can run this notebook again from the top. It costs no credit; `vpclab
# reset instances` does the same from a terminal.

# %% [markdown]
# ## Look at the result
#
# One line per server. Addresses differ from lab to lab, so they come last; the app server
# should show `None` for its public IP.

# %%
print(f"{'role':<11} {'type':<10} {'state':<8} private IP / public IP / id")
for role, server in lab.status().instances.items():
    print(
        f"{role:<11} {server.type:<10} {server.state:<8} "
        f"{server.private_ip} / {server.public_ip} / {server.id}"
    )

# %% [markdown]
# The app server's inbound rules, from `describe_security_group_rules`. Each rule's source
# is another security group (the web server's), not a CIDR:

# %%
found = ec2.describe_security_groups(Filters=mine)["SecurityGroups"]
groups = {g["GroupId"]: g["GroupName"] for g in found}
app_group = kit.by_role(found)["app"]["GroupId"]  # by its role tag, whatever its name
rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [app_group]}])[
    "SecurityGroupRules"
]
for rule in sorted((r for r in rules if not r["IsEgress"]), key=lambda r: r["FromPort"]):
    source = rule.get("ReferencedGroupInfo", {}).get("GroupId") or rule.get("CidrIpv4")
    print(
        f"allow tcp {rule['FromPort']:<5} from group {groups.get(source, source)}"
        f" | rule {rule['SecurityGroupRuleId']}"
    )

# %% [markdown]
# ## Break it and watch
#
# These cells work on the live servers, so they need the hosts (as root, with the local data
# plane on: `make jupyter`). Without them each cell says so and does nothing.
#
# **The app port, open to the world.** A classic shortcut when "the web server can't reach
# the app": allow 5000 from `0.0.0.0/0`. Watch two connections to the app's port 5000:
#
# - from **Jenkins**, a host that can route to the app (over the peering) but is not the
#   web server: before, the security group drops it and it times out; now it gets through
#   (`refused` only means nothing listens on 5000 yet: the app arrives in a later step).
# - from **the internet**: still nothing (no route, or a timeout), because the app has no
#   public address and nothing routes from outside into the private subnet. That is defence
#   in depth, not a reason to keep the rule: one more mistake (a public IP, a route) and the
#   app is exposed.
#
# The checklist FAILs the app's security group at once. Then the rule is revoked by its id.

# %% tags=["break-it"]
missing = breakit.hosts_missing(lab, "jenkins", "app")
if missing:
    print(f"needs the hosts: {missing}")
else:
    app_sg = kit.by_role(ec2.describe_security_groups(Filters=mine)["SecurityGroups"])["app"]
    world = {"CidrIp": "0.0.0.0/0", "Description": "the world (a mistake)"}
    print("before:  ", breakit.connect(lab, "jenkins", "app", ports.app))
    opened = ec2.authorize_security_group_ingress(
        GroupId=app_sg["GroupId"],
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": ports.app, "ToPort": ports.app, "IpRanges": [world]}
        ],
    )
    try:
        breakit.settle(lab)
        print("open:    ", breakit.connect(lab, "jenkins", "app", ports.app))
        print("open:    ", breakit.connect(lab, "internet", "app", ports.app))
        print(
            breakit.lines(
                lab,
                "instances",
                "instances.app_security_group",
                "instances.internet_to_app_5000_blocked",
            )
        )
    finally:
        ec2.revoke_security_group_ingress(
            GroupId=app_sg["GroupId"],
            SecurityGroupRuleIds=[r["SecurityGroupRuleId"] for r in opened["SecurityGroupRules"]],
        )
    breakit.settle(lab)
    print("restored:", breakit.connect(lab, "jenkins", "app", ports.app))
    print(breakit.lines(lab, "instances", "instances.app_security_group"))

# %% [markdown]
# **The web server loses its SSH path to the app.** Revoke the app's rule "22 from the web
# server's group". The web server is the only way into the private subnet, so SSH to the app
# stops: a new connection from the web server to the app's port 22 times out, and so does a
# login through the web server (what `vpclab ssh app` and, later, the deployment do). A
# session that was already open would carry on: a firewall lets established connections be,
# so every attempt here is a new one. Then the rule goes back, as it was authorized.

# %% tags=["break-it"]
missing = breakit.hosts_missing(lab, "web", "app")
if missing:
    print(f"needs the hosts: {missing}")
else:
    by_role = kit.by_role(ec2.describe_security_groups(Filters=mine)["SecurityGroups"])
    app_sg, web_sg = by_role["app"]["GroupId"], by_role["web"]["GroupId"]
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [app_sg]}])
    rule = next(
        r
        for r in rules["SecurityGroupRules"]
        if not r["IsEgress"]
        and r["FromPort"] == ports.ssh
        and r.get("ReferencedGroupInfo", {}).get("GroupId") == web_sg
    )
    print("before:  ", breakit.login(lab, "app"))
    ec2.revoke_security_group_ingress(
        GroupId=app_sg, SecurityGroupRuleIds=[rule["SecurityGroupRuleId"]]
    )
    try:
        breakit.settle(lab)
        print("revoked: ", breakit.connect(lab, "web", "app", ports.ssh))
        print("revoked: ", breakit.login(lab, "app"))
        print(
            breakit.lines(
                lab, "instances", "instances.app_security_group", "instances.web_to_app_ssh"
            )
        )
    finally:
        back = {"GroupId": web_sg, "Description": rule.get("Description", "")}
        ec2.authorize_security_group_ingress(
            GroupId=app_sg,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": ports.ssh,
                    "ToPort": ports.ssh,
                    "UserIdGroupPairs": [back],
                }
            ],
        )
    breakit.settle(lab)
    print("restored:", breakit.login(lab, "app"))
    print(
        breakit.lines(lab, "instances", "instances.app_security_group", "instances.web_to_app_ssh")
    )

# %% [markdown]
# **Now go back.** With the servers running, the "break it and watch" cells of `01_vpc`,
# `02_nat` and `03_jenkins` have something to watch: the public subnet's launch setting, the
# NAT route the app's downloads need, and the peering route Jenkins deploys over. Run each
# (it restores what it breaks), then come back here for the checkpoint.

# %% [markdown]
# ## Check yourself
#
# 1. Why does the app's rule for port 5000 name the web server's security group instead of an
#    address?
# 2. Port 5000 is opened to 0.0.0.0/0 but the internet still cannot reach the app. Is the rule
#    harmless?
# 3. The web server's SSH rule on the app is revoked. What stops working?

# %% [markdown]
# <details><summary>Answers</summary>
#
# 1. The rule keeps meaning "only the web server" when addresses change, and no range wider
#    than that one server is ever opened.
# 2. No. Only the missing public address and route protect the app now; one more mistake
#    exposes it, and hosts that can route to it (Jenkins) already get in.
# 3. Every new SSH connection into the private subnet: the web server is the only way in, so
#    logins and later deploys time out.
#
# </details>

# %% [markdown]
# ## Key points
#
# - Least privilege by group reference: sources are roles, not addresses.
# - The app server has no public IP; the web server is its only door.
# - Firewalls let established sessions be; test with new connections.

# %% [markdown]
# ## Checkpoint

# %% tags=["checkpoint", "nbval-check-output"]
lab.checkpoint("instances")
