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
# # 04 · The servers and their security groups
#
# **Why this step exists.** The network is ready; now each role gets its own machine, in
# the subnet that fits how exposed it should be:
#
# | role       | subnet  | public IP | inbound (security group)                          |
# |------------|---------|-----------|---------------------------------------------------|
# | web        | public  | yes       | 80 from anyone; 22 from the admin range and Jenkins |
# | app        | private | **no**    | 22 and 5000 **only from the web server's group**  |
# | monitoring | public  | yes       | 22, 9090 (Prometheus), 3000 (Grafana) from admin  |
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
from vpclab.lab import Lab

lab = Lab("../lab.toml")
ec2 = lab.cloud.ec2
mine = [{"Name": "tag:vpclab:lab", "Values": [lab.spec.name]}]

# %% [markdown]
# ## Do the step

# %%
lab.up(through="instances")

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
groups = {
    g["GroupId"]: g["GroupName"]
    for g in ec2.describe_security_groups(Filters=mine)["SecurityGroups"]
}
app_group = next(gid for gid, name in groups.items() if name == f"{lab.spec.name}-app")
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
# ## Checkpoint

# %% tags=["checkpoint", "nbval-check-output"]
lab.checkpoint("instances")
