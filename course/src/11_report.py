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
# # 11 · Report: document the system you built
#
# **Do this notebook before `10_teardown`.** Its evidence is read from the live lab; once
# the lab is torn down, every evidence cell can only say that it is not available.
#
# ### Objectives
#
# - Explain, in your own words, the decisions behind the lab and the trade-offs they make.
# - Describe the network layout, the security boundaries and the deployment flow, backed by
#   evidence read from the running lab.
# - Write a report a colleague could operate the system from.
#
# ### Prerequisites
#
# `09_monitoring`: the whole lab built and running (as root, so the hosts run). Come back to
# `10_teardown` when the report is written.
#
# ### Time
#
# About 60 minutes.
#
# ### Reference docs
#
# - [boto3 `describe_security_groups`](https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/ec2/client/describe_security_groups.html)
# - [boto3 EC2 client (every call)](https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/ec2.html)
# - [Jenkins: pipeline syntax](https://www.jenkins.io/doc/book/pipeline/syntax/)
# - [Prometheus: querying basics](https://prometheus.io/docs/prometheus/latest/querying/basics/)

# %% [markdown]
# **Why this step exists.** A system nobody can explain is a system nobody can safely change.
# The last step of the exercise is the write-up: why the lab looks the way it does, who can
# reach whom, how a commit becomes what users see, and what each choice costs.
#
# The report has five parts. Each one has
#
# 1. **guiding questions**: what a reader needs to learn from that part (you need not answer
#    them one by one; write prose that covers them);
# 2. **evidence cells**, filled from your live lab: run them, and refer to what they show;
# 3. a cell marked **Your answer**: replace its placeholder with your text (double-click it
#    to edit; a few paragraphs each).
#
# Nothing here changes the lab. The prose is graded by hand, so there is no checkpoint.
# When an evidence cell cannot show its evidence (the hosts do not run, no pipeline build
# yet, the lab is torn down) it says so in one line: do the step it names, or write from
# what you remember and say so.

# %%
from IPython.display import Image, display

from vpclab import report
from vpclab.errors import VpclabError
from vpclab.lab import Lab
from vpclab.pipeline.builds import stage_text

lab = Lab("../lab.toml")
ec2 = lab.cloud.ec2
mine = [{"Name": "tag:vpclab:lab", "Values": [lab.spec.name]}]
offline = lab.dataplane_off()
try:
    lab.follow_dataplane()  # the hosts run (when they can), so the live checks can read them
    state = lab.status()
    exists = state.vpc_id or state.instances
    missing = None if exists else "the lab does not exist (not built yet, or torn down)"
except VpclabError as error:  # one line, not a traceback: the rest of the report still runs
    missing = f"the lab cannot be read: {error.line()}"

# %% [markdown]
# ## 1. Decisions
#
# - What does the lab consist of, and why is each job (proxy, app, CI, monitoring) on a
#   server of its own rather than on one machine?
# - Why a custom VPC with a public and a private subnet, instead of the default VPC?
# - Why does Jenkins live in another VPC, joined by a peering?
# - How do you know the lab is what the spec asks for? (The checklist below.)

# %% tags=["evidence"]
if missing:
    print(f"status not available: {missing}")
else:
    print(f"lab {state.lab} on {state.target} ({state.region})")
    print(f"  VPC              {state.vpc_id}")
    print(f"  public subnet    {', '.join(state.public_subnet_ids) or '-'}")
    print(f"  private subnet   {', '.join(state.private_subnet_ids) or '-'}")
    print(f"  NAT gateway      {', '.join(state.natgw_ids) or '-'}")
    print(f"  peering          {state.peering_id or '-'}")
    for role, server in state.instances.items():
        addresses = f"private {server.private_ip or '-'}, public {server.public_ip or '-'}"
        print(f"  {role:<16} {server.type:<10} {server.state:<8} {addresses}")

# %% tags=["evidence"]
if missing:
    print(f"checklist not available: {missing}")
else:
    print(report.to_text(lab.verify()))

# %% [markdown]
# **Your answer: decisions.**
#
# *Replace this paragraph with your text.*

# %% [markdown]
# ## 2. Network layout
#
# - Which subnets exist, with which CIDRs, and which servers sit in each?
# - Follow one user's request from the internet to the app and back: which route table,
#   gateway and address does it use at each hop?
# - How does the app server reach the internet to install packages, and why can nothing on
#   the internet open a connection to it?
# - How does Jenkins reach the web server, and what does the peering need on both sides?

# %% tags=["evidence"]
if missing:
    print(f"live diagram not available: {missing}")
else:
    drawing = lab.diagram()  # the live lab: real addresses, paths, one verdict a step
    print(drawing.summary())
    display(Image(filename=str(drawing.path)))

# %% [markdown]
# **Your answer: network layout.**
#
# *Replace this paragraph with your text.*

# %% [markdown]
# ## 3. Security boundaries
#
# - For each security group: what may come in, from where, and why nothing more?
# - Why do the app's rules name the web server's *group* rather than an address?
# - Which SSH keys exist, who holds each, and what can each one do (`from=`, the forced
#   command on Jenkins' key)?
# - Which paths are closed to the public (`/metrics`, `stub_status`), and where are the
#   secrets kept?
#
# The table reads the lab's groups (by the lab's tag) straight from EC2: each rule's
# protocol and ports, and the address range or group it names.

# %% tags=["evidence"]
groups = ec2.describe_security_groups(Filters=mine)["SecurityGroups"]
names = {g["GroupId"]: g["GroupName"] for g in groups}


def rules(permissions: list[dict]) -> list[tuple[str, str]]:
    """(protocol and ports, peers) of each rule: a group is shown by its name."""
    found = []
    for rule in permissions:
        protocol, low, high = rule["IpProtocol"], rule.get("FromPort"), rule.get("ToPort")
        if protocol == "-1":
            what = "all traffic"
        else:
            what = f"{protocol} {low}" + ("" if low == high else f"-{high}")
        peers = [r["CidrIp"] for r in rule.get("IpRanges", [])]
        peers += [r["CidrIpv6"] for r in rule.get("Ipv6Ranges", [])]
        peers += [names.get(p["GroupId"], p["GroupId"]) for p in rule.get("UserIdGroupPairs", [])]
        found.append((what, ", ".join(peers)))
    return found


if not groups:
    print(f"security groups not available: no group is tagged for lab {lab.spec.name}")
else:
    print(f"{'group':<24} {'way':<4} {'protocol, ports':<16} from / to")
    for group in sorted(groups, key=lambda g: g["GroupName"]):
        for way, key in (("in", "IpPermissions"), ("out", "IpPermissionsEgress")):
            for what, peers in rules(group[key]) or [("(none)", "")]:
                print(f"{group['GroupName']:<24} {way:<4} {what:<16} {peers}")

# %% [markdown]
# **Your answer: security boundaries.**
#
# *Replace this paragraph with your text.*

# %% [markdown]
# ## 4. Deployment flow
#
# - What happens between `git push` and the new version serving users: which stages run,
#   where, and what does each one check?
# - How does the Deploy stage reach the app server, which has no public address?
# - What stops a broken commit from reaching production, and how do you undo a bad release?
# - How do you know, after a deploy, that the app is healthy? (The dashboard below.)

# %% tags=["evidence"]
builds = lab.pipeline_builds(1)  # the last build, from the state folder
if not builds:
    print("last pipeline build not available: no build yet (08_pipeline runs one)")
else:
    print(stage_text(builds[0]))

# %% tags=["evidence"]
if offline:
    print(f"dashboard not available: needs the hosts: {offline}")
elif missing:
    print(f"dashboard not available: {missing}")
elif "monitoring" not in state.instances:
    print("dashboard not available: there is no monitoring server (09_monitoring)")
else:
    try:
        picture = lab.dashboard_png(lab.keys_dir.parent / "dashboard.png")
        display(Image(filename=str(picture)))
    except VpclabError as error:
        print(f"dashboard not available: {error.line()}")

# %% [markdown]
# **Your answer: deployment flow.**
#
# *Replace this paragraph with your text.*

# %% [markdown]
# ## 5. Trade-offs
#
# - What does the lab cost an hour on AWS, and which resource costs most? Is the NAT gateway
#   worth its price here, and what would you use instead?
# - What did you give up for safety (one NAT in one zone, SSH through the web server, a
#   Jenkins that only deploys), and what would you change for a real team?
# - What is still a single point of failure?
#
# `lab.cost()` prices what exists now from the dated on-demand price table in the repository;
# the local target bills nothing.

# %% tags=["evidence"]
running = None if missing else lab.cost()
if running is None or not running.lines:
    print(f"cost not available: {missing or 'nothing of the lab exists to price'}")
else:
    print(f"in {running.region}, {running.summary()}:")
    print("\n".join(running.to_text()))

# %% [markdown]
# **Your answer: trade-offs.**
#
# *Replace this paragraph with your text.*

# %% [markdown]
# ## Hand it in
#
# Save the notebook and hand it in with the others. Your instructor grades the five answers
# by hand; the evidence cells are there to back what you write, so keep their outputs. Then
# go on to `10_teardown`.

# %% [markdown]
# ## Check yourself
#
# 1. Why does the report read its evidence from the live lab rather than from your notes?
# 2. A reader asks why the app's security group names the web server's group. What do you
#    answer?
# 3. Why must this notebook run before `10_teardown`?

# %% [markdown]
# <details><summary>Answers</summary>
#
# 1. The live lab is what actually runs: the checklist, the rules and the build history show
#    what is true now, including any drift from what you meant to build.
# 2. A group follows the servers in it: whatever address the web server gets, it keeps its
#    access, and nothing else gets it, even from inside the VPC.
# 3. The teardown removes every resource tagged for the lab; afterwards there is nothing left
#    to read, and every evidence cell says so.
#
# </details>

# %% [markdown]
# ## Key points
#
# - A report explains *why*, and backs it with evidence read from the system.
# - Security boundaries are the rules that exist, not the ones you meant to write.
# - Every design choice costs something: name the cost next to the choice.
