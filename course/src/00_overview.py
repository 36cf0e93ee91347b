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
# # 00 · Overview: what we are building, and how these notebooks work
#
# ### Objectives
#
# - Describe the target layout: a public and a private subnet, the web, app and monitoring
#   servers, and Jenkins in its own VPC.
# - Follow the rhythm every step notebook shares: why, do, look, break it, checkpoint.
# - Know what `lab.catch_up` does for you and what it costs (the step earns no credit).
#
# ### Prerequisites
#
# None: this is the first notebook. Open it from the handout's `notebooks/` folder so that
# `../lab.toml` is found.
#
# ### Time
#
# About 15 minutes.

# %% [markdown]
# ## The problem
#
# The microblog (a small Flask app) used to run on one public EC2 instance together with
# Jenkins. One machine, one security group, everything reachable from the internet, and a
# build that could starve the site of CPU. This lab rebuilds it the way a production team
# would: each job on its own server, and the network deciding who can reach whom.
#
# ## The target architecture
#
# ```
#                    internet
#                       |
#                Internet Gateway
#                       |
#  +--------------- lab VPC 10.0.0.0/16 ------------------------------+
#  |  public subnet 10.0.1.0/24          private subnet 10.0.2.0/24   |
#  |  +-------------+  port 5000         +-----------------+          |
#  |  | web: Nginx  | -----------------> | app: gunicorn   |          |
#  |  +-------------+                    +-----------------+          |
#  |  +-------------+                            | outbound only      |
#  |  | monitoring  |   NAT gateway <------------+                    |
#  |  +-------------+                                                 |
#  +------------------------------------------------------------------+
#           ^ VPC peering (private addresses)
#  +--------+--------- default VPC 172.31.0.0/16 -----+
#  |  Jenkins: build, test, scan, deploy over SSH     |
#  +--------------------------------------------------+
# ```
#
# - Users reach only the **web server**; Nginx passes their requests to the **app server**.
# - The app server has no public address. It can still download packages, through the
#   **NAT gateway**.
# - **Jenkins** lives apart, in the default VPC. It deploys by SSH to the web server, which
#   then runs the start script on the app server.
# - The **monitoring** server scrapes the app's metrics with Prometheus; Grafana draws them.
#
# ## How the notebooks work
#
# One notebook per step, run in order: `01_vpc`, `02_nat`, `03_jenkins`, `04_instances`, …
# Each one
#
# 1. explains why the step exists,
# 2. has **you** do the step: the boto3 calls go in the cells marked `# YOUR CODE HERE`
#    (stuck? `lab.catch_up("<step>")` builds what is missing with the library's own steps,
#    and goes on, but a caught-up step earns no credit),
# 3. shows the result, through the lab's summary and through the raw EC2 API,
# 4. ends with `lab.checkpoint("<step>")`, which prints the step's checklist and raises if
#    any check fails. Your instructor grades these checkpoint cells.
#
# Everything comes from `lab.toml`, the lab's single source of truth. The default target,
# `local`, is a simulated AWS on this machine, so nothing here touches a real account; the
# same notebooks run against real AWS when the target is `aws`. The same checks are
# available from a terminal: `vpclab verify --step nat`.
#
# This notebook changes nothing. It only reads the spec (and, once it exists, the lab):

# %%
from IPython.display import Image

from vpclab.lab import Lab

lab = Lab("../lab.toml")
print("lab", lab.spec.name, "| region", lab.spec.region, "| target", lab.target)
print("steps, in order:", ", ".join(lab.spec.steps))
for role, server in lab.spec.instances.items():
    print(f"{role:<11} {server.instance_type:<10} key pair {server.key_name}")

# %% [markdown]
# ## The lab, drawn
#
# `lab.diagram()` draws the architecture. Before the lab exists it draws the plan, from
# `lab.toml`. Once the lab exists (come back here after `04_instances`, or after
# `vpclab up`), it draws the live lab instead:
#
# - each server with its real private and public addresses;
# - the traffic paths: users → Nginx → app:5000, Jenkins → web → app over SSH, Prometheus'
#   scrapes, and the app's way out through the NAT gateway;
# - each path coloured by its step's verdict in the checklist, and one PASS/FAIL badge a
#   step (grey: the check needs the hosts, and was skipped).
#
# `vpclab diagram` draws the same picture from a terminal.

# %%
drawing = lab.diagram()
print(drawing.summary())
Image(filename=str(drawing.path))

# %% [markdown]
# ## Check yourself
#
# 1. Which server is the only one a user's browser talks to, and how does a request reach the
#    microblog?
# 2. The app server has no public address. How does it still install packages?
# 3. Where do the values the notebooks use (CIDRs, ports, instance types) come from?

# %% [markdown]
# <details><summary>Answers</summary>
#
# 1. The web server. Nginx there accepts HTTPS on port 443 (port 80 only redirects there)
#    and forwards the request to the app server's private address on port 5000.
# 2. Its subnet's default route points at the NAT gateway, which sits in the public subnet:
#    connections it opens go out and replies come back, but nothing from outside can open one
#    in.
# 3. From `lab.toml`, the lab's single source of truth; `lab.spec` reads it.
#
# </details>

# %% [markdown]
# ## Key points
#
# - One job per server: users meet Nginx, the app hides in the private subnet, Jenkins builds
#   elsewhere.
# - Each notebook ends in a graded checkpoint that reads real state, not your variables.
# - A SKIP means a check could not run here; it is never counted as a PASS.
