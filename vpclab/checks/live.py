"""Live checks of the local target: real connections inside the lab's namespaces.

They read the agent's status (which host is where) and probe from the namespace that stands
for the source: `internet` for the student's laptop and the outside world, a role for a
host. Ports come from the spec. Before probing they wait, within a bound, until the data
plane has applied the control plane's latest change, so a check right after a raw boto3
call sees its effect. Without root, off Linux, or without the agent, every one is SKIP with
the reason, never PASS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vpclab.checklist import CheckResult, Status
from vpclab.localcloud import client, internet, netns, probe
from vpclab.localcloud.status import LabStatus
from vpclab.spec import Ports

BLOCKED_TIMEOUT = 1.0  # a security group drops silently: a blocked connect times out
OPEN_TIMEOUT = 2.0
CATCH_UP = 10.0  # at most this long for the data plane to apply the latest change

Probe = Callable[[LabStatus, Ports], tuple[Status, str]]


@dataclass(frozen=True)
class _Live:
    id: str
    title: str
    hint: str
    run: Probe

    @property
    def step(self) -> str:
        return self.id.split(".", 1)[0]


def _missing(role: str) -> tuple[Status, str]:
    return Status.FAIL, f"no running {role} instance in the local data plane"


def _not_yet(role: str) -> tuple[Status, str]:
    """A probe of an earlier step whose target comes with a later step: nothing to test."""
    return Status.SKIP, f"no {role} server yet (the instances step makes it)"


def _hosts_booted(st: LabStatus, _ports: Ports) -> tuple[Status, str]:
    if not st.hosts:
        return Status.FAIL, "no running instance"
    down = sorted(f"{n} ({h.error or 'booting'})" for n, h in st.hosts.items() if not h.booted)
    if down:
        return Status.FAIL, f"not booted: {', '.join(down)}"
    return Status.PASS, f"sshd up on {', '.join(sorted(st.hosts))}"


def _reach(st: LabStatus, source: str, address: str, port: int, what: str) -> tuple[Status, str]:
    if probe.tcp_connect(st.lab_id, source, address, port, OPEN_TIMEOUT):
        return Status.PASS, f"{what}: connected"
    return Status.FAIL, f"{what}: no connection within {OPEN_TIMEOUT:.0f} s"


def _blocked(
    st: LabStatus, source: str, targets: list[str], port: int, what: str
) -> tuple[Status, str]:
    for address in targets:
        if probe.tcp_connect(st.lab_id, source, address, port, BLOCKED_TIMEOUT):
            return Status.FAIL, f"{what}: {address}:{port} accepted a connection"
    return Status.PASS, f"{what}: refused or timed out"


def _internet_to_web_ssh(st: LabStatus, ports: Ports) -> tuple[Status, str]:
    web = st.host("web")
    if web is None:
        return _missing("web")
    if not web.public_ip:
        return Status.FAIL, "web has no public address"
    what = f"internet → web {web.public_ip}:{ports.ssh}"
    return _reach(st, "internet", web.public_ip, ports.ssh, what)


def _internet_to_app(port_of: Callable[[Ports], int]) -> Probe:
    def run(st: LabStatus, ports: Ports) -> tuple[Status, str]:
        app = st.host("app")
        if app is None:
            return _missing("app")
        targets = [app.private_ip] + ([app.public_ip] if app.public_ip else [])
        what = f"internet → app {'/'.join(targets)}"
        return _blocked(st, "internet", targets, port_of(ports), what)

    return run


def _web_to_app_ssh(st: LabStatus, ports: Ports) -> tuple[Status, str]:
    web, app = st.host("web"), st.host("app")
    if web is None or app is None:
        return _missing("web" if web is None else "app")
    what = f"web → app {app.private_ip}:{ports.ssh}"
    return _reach(st, "web", app.private_ip, ports.ssh, what)


def _jenkins_to_web(st: LabStatus, ports: Ports) -> tuple[Status, str]:
    jenkins, web = st.host("jenkins"), st.host("web")
    if jenkins is None:
        return _missing("jenkins")
    if web is None:
        return _not_yet("web")
    what = f"jenkins → web {web.private_ip}:{ports.ssh} (over the peering)"
    return _reach(st, "jenkins", web.private_ip, ports.ssh, what)


def _app_to_internet(st: LabStatus, _ports: Ports) -> tuple[Status, str]:
    app = st.host("app")
    if app is None:
        return _not_yet("app")
    if st.services.state != "up":
        return Status.SKIP, f"the internet services are not up ({st.services.state})"
    address = st.internet.services
    what = f"app → internet git daemon {address}:{internet.GIT_PORT}"
    return _reach(st, "app", address, internet.GIT_PORT, what)


CHECKS = (
    _Live(
        "instances.hosts_booted",
        "Every instance has booted with its own sshd",
        "see the agent log ('vpclab local status') and the host's console.log",
        _hosts_booted,
    ),
    _Live(
        "instances.internet_to_web_ssh",
        "The internet reaches the web server on port 22",
        "the web SG must allow 22 from the admin CIDR, the public subnet must route "
        "0.0.0.0/0 to the IGW, and web needs a public IP",
        _internet_to_web_ssh,
    ),
    _Live(
        "instances.internet_to_app_ssh_blocked",
        "The internet cannot reach the app on 22",
        "the app must have no public IP, sit in the private subnet, and allow 22 only "
        "from the web SG",
        _internet_to_app(lambda p: p.ssh),
    ),
    _Live(
        "instances.internet_to_app_5000_blocked",
        "The internet cannot reach the app on 5000",
        "the app must have no public IP, sit in the private subnet, and allow 5000 only "
        "from the web SG",
        _internet_to_app(lambda p: p.app),
    ),
    _Live(
        "instances.web_to_app_ssh",
        "The web server reaches the app on port 22",
        "the app SG must allow 22 from the web SG",
        _web_to_app_ssh,
    ),
    _Live(
        "jenkins.reaches_web_over_peering",
        "Jenkins reaches the web server's private IP over the VPC peering",
        "the peering must be active, both sides' route tables need a route to the other "
        "VPC via the pcx, and the web SG must allow 22 from the Jenkins SG",
        _jenkins_to_web,
    ),
    _Live(
        "nat.app_reaches_internet",
        "The private app reaches the internet through the NAT",
        "the private route table needs 0.0.0.0/0 via the NAT gateway, and the NAT must sit "
        "in the public subnet",
        _app_to_internet,
    ),
)


def skipped(steps: set[str], reason: str) -> list[CheckResult]:
    """The live checks of the given steps, all SKIP with the reason (never PASS)."""
    return [
        CheckResult(id=c.id, step=c.step, title=c.title, status=Status.SKIP, detail=reason)
        for c in CHECKS
        if c.step in steps
    ]


def live_checks(
    lab: str,
    local_dir: Path,
    steps: set[str],
    ports: Ports,
    endpoint: str | None = None,
    catch_up: float = CATCH_UP,
) -> list[CheckResult]:
    """The live checks of the given steps, run against the lab's local data plane, once the
    agent has applied the latest change of the control plane at `endpoint`."""
    if not any(c.step in steps for c in CHECKS):
        return []
    reason = netns.unsupported_reason()
    if reason:
        return skipped(steps, reason)
    current = (
        client.wait_applied(local_dir, endpoint, catch_up) if endpoint else client.status(local_dir)
    )
    if current is None:
        return skipped(steps, "the local agent is not running ('vpclab local start')")
    lab_status = current.labs.get(lab)
    if lab_status is None:
        return skipped(steps, f"the local agent has nothing of lab {lab!r} yet")
    results = []
    for check in (c for c in CHECKS if c.step in steps):
        try:
            status, detail = check.run(lab_status, ports)
        except Exception as exc:  # a namespace vanished mid-check, for example
            status, detail = Status.SKIP, f"could not probe: {exc}"
        hint = check.hint if status is Status.FAIL else ""
        results.append(
            CheckResult(
                id=check.id,
                step=check.step,
                title=check.title,
                status=status,
                detail=detail,
                hint=hint,
            )
        )
    return results
