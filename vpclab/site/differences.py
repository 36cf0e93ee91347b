"""Every difference between the targets, one row per member of `Site`, with its reason.

A reason is a fact about the target ("the local image has no Jenkins package"), never a
convenience. tests/test_one_site.py checks that each member of `Site` has exactly one row,
so a new difference cannot land without its reason.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Difference:
    member: str  # the Site member that implements it
    local: str
    aws: str
    reason: str


DIFFERENCES: tuple[Difference, ...] = (
    # -- the control plane
    Difference(
        "connect",
        "the state folder's moto server (or AWS_ENDPOINT_URL), static test credentials",
        "the standard credential chain (AWS_ENDPOINT_URL names a stand-in)",
        "the local moto server answers only the user who started it, by the loopback peer's "
        "uid, so it needs no keys; AWS needs the operator's IAM credentials",
    ),
    Difference(
        "stand_in",
        "never: the agent puts the control plane's addresses on the wire",
        "an endpoint of its own (moto, LocalStack) reports addresses that are on no wire",
        "connecting to a stand-in's addresses would reach whatever else owns them",
    ),
    Difference(
        "has_control_plane",
        "the local moto server is up (asked without starting it)",
        "always",
        "the local server is started on demand and may be stopped; AWS always answers",
    ),
    Difference(
        "creator",
        "none",
        "the caller's ARN, tagged on what is made and checked before any change",
        "an AWS account is shared by people and labs; the local control plane is one user's",
    ),
    Difference(
        "operator_cidr",
        "198.51.100.0/24, the lab internet's side (no request)",
        "this machine's public address /32 (one HTTPS request)",
        'admin_cidr = "auto" means where the operator connects from: locally the lab\'s '
        "internet namespace, on AWS this machine's address on the internet",
    ),
    Difference(
        "asks_before_changes",
        "no: `Lab.apply` (the grader's repair) may change without asking",
        "yes: `Lab.apply` is refused, `up` asks",
        "on AWS a change is billed; nothing is billed locally",
    ),
    Difference(
        "before_up",
        "nothing",
        "preflight (vCPU quota, instance types, admin CIDR, what exists) and a confirmation",
        "AWS enforces quotas and limits that moto does not, and bills what it launches",
    ),
    Difference(
        "reports_host_work",
        "a step that only worked on hosts sends one marked read (GetCallerIdentity)",
        "no extra call",
        "the grader reads the step marks from the local control plane's log; no grader reads AWS's",
    ),
    # -- the hosts
    Difference(
        "image_stands_in",
        "a missing AMI parameter means the local image (the machine's own /usr)",
        "a missing AMI parameter is an error in the spec",
        "moto publishes no Canonical SSM parameters, and the local hosts run this machine's "
        "software whatever the image id",
    ),
    Difference(
        "dataplane_off",
        "why not, if namespaces cannot run here (not root, VPCLAB_DATAPLANE=off)",
        "always off: the hosts are EC2 instances",
        "the local hosts are namespaces on this machine and need root",
    ),
    Difference(
        "follow_dataplane",
        "start the agent, wait until the hosts match, pin the keys the agent reports",
        "pin each host's keys from its console output",
        "the local agent makes the hosts and knows their keys first-hand; on AWS the console "
        "output is the only channel not open to a man in the middle",
    ),
    Difference(
        "wait_applied",
        "wait (bounded) until the agent has applied the latest change",
        "nothing",
        "the agent polls the control plane; AWS applies its own changes",
    ),
    Difference(
        "unreachable",
        "why not, without root, the agent or the lab's hosts",
        "only a stand-in's hosts are unreachable",
        "the local hosts exist only while the agent runs them",
    ),
    Difference(
        "where",
        "the agent's view (booted hosts only)",
        "the control plane's instances",
        "locally a host is reachable only once the agent has booted it",
    ),
    Difference(
        "ssh_addresses",
        "the agent's hosts (an error naming why when the data plane is off)",
        "the control plane's instances",
        "as `where`, for the system ssh",
    ),
    Difference(
        "dials_from_lab_internet",
        "yes: SSH to a public host starts in the lab's internet namespace",
        "no: from this machine",
        "the lab's public addresses (198.51.100.0/24) exist only inside the namespaces",
    ),
    Difference(
        "site_on_loopback",
        "yes: the agent publishes the web server's 443 on a localhost port (its web_url), and "
        "the certificate also names 127.0.0.1",
        "no: the web server's public DNS name (or address) serves it",
        "the lab's public addresses exist only inside the namespaces, so a browser on this "
        "machine reaches the site through a localhost port",
    ),
    Difference(
        "connect_from_internet",
        "a socket opened in the lab's internet namespace",
        "a plain socket from this machine",
        "as `dials_from_lab_internet`",
    ),
    Difference(
        "services",
        "the lab internet's git daemon and wheel index",
        "none: VPCLAB_REPO_URL, PyPI and apt",
        "the local lab's traffic stays on this machine: its internet has no route to PyPI, "
        "apt or the repository's host, so it serves the project and its wheels itself",
    ),
    # -- the live checks
    Difference(
        "probe_backend",
        "namespaces (VPCLAB_PROBES=ssh forces the SSH one)",
        "ssh",
        "as root a connection can start in any host's namespace; on AWS only the host itself "
        "can open it",
    ),
    Difference(
        "prober",
        "the agent's view, once it has caught up",
        "the hosts over SSH; nothing on a stand-in",
        "as `probe_backend` and `stand_in`",
    ),
    Difference(
        "internet_target",
        "the lab internet's git daemon, once the agent reports its services up",
        "PyPI (pypi.org:443), as the app host resolves it",
        "the app must reach what it installs from through the NAT: locally the lab's internet "
        "has no route out and serves the project and its wheels itself; on AWS the app "
        "installs its requirements from PyPI",
    ),
    # -- Jenkins, the pipeline and Grafana
    Difference(
        "runs_jenkins",
        "no: the kit's Jenkinsfile runner (`vpclab pipeline run`) plays Jenkins",
        "yes: the user data installs Jenkins LTS; the pipeline step and checks use its API",
        "the local image has no Jenkins package and the lab's internet serves no Jenkins "
        "apt repository or Java",
    ),
    Difference(
        "why_no_grafana",
        "Grafana is not installed (its panels' queries are checked against Prometheus)",
        "installed from Grafana's apt repository",
        "no package registry reachable from the local cloud serves Grafana",
    ),
)


def by_member() -> dict[str, Difference]:
    return {d.member: d for d in DIFFERENCES}
