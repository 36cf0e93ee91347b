"""Live checks of the local target: real connections inside the lab's namespaces.

They read the agent's status (which host is where) and probe from the namespace that stands
for the source: `internet` for the student's laptop and the outside world, a role for a
host. Without root, off Linux, or without the agent, every one is SKIP with the reason,
never PASS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vpclab.checklist import CheckResult, Status
from vpclab.localcloud import agent, internet, netns, probe

BLOCKED_TIMEOUT = 1.0  # a security group drops silently: a blocked connect times out
OPEN_TIMEOUT = 2.0


@dataclass(frozen=True)
class _Live:
    id: str
    title: str
    hint: str
    run: Callable[[str, dict], tuple[Status, str]]

    @property
    def step(self) -> str:
        return self.id.split(".", 1)[0]


def _host(lab_status: dict, role: str) -> dict | None:
    return next((h for h in lab_status["hosts"].values() if h.get("role") == role), None)


def _missing(role: str) -> tuple[Status, str]:
    return Status.FAIL, f"no running {role} instance in the local data plane"


def _not_yet(role: str) -> tuple[Status, str]:
    """A probe of an earlier step whose target comes with a later step: nothing to test."""
    return Status.SKIP, f"no {role} server yet (the instances step makes it)"


def _hosts_booted(lab: str, st: dict) -> tuple[Status, str]:
    hosts = st["hosts"]
    if not hosts:
        return Status.FAIL, "no running instance"
    down = sorted(
        f"{n} ({h.get('error') or 'booting'})" for n, h in hosts.items() if not h["booted"]
    )
    if down:
        return Status.FAIL, f"not booted: {', '.join(down)}"
    return Status.PASS, f"sshd up on {', '.join(sorted(hosts))}"


def _reach(lab: str, source: str, address: str, port: int, what: str) -> tuple[Status, str]:
    if probe.tcp_connect(lab, source, address, port, OPEN_TIMEOUT):
        return Status.PASS, f"{what}: connected"
    return Status.FAIL, f"{what}: no connection within {OPEN_TIMEOUT:.0f} s"


def _blocked(lab: str, source: str, targets: list[str], port: int, what: str) -> tuple[Status, str]:
    for address in targets:
        if probe.tcp_connect(lab, source, address, port, BLOCKED_TIMEOUT):
            return Status.FAIL, f"{what}: {address}:{port} accepted a connection"
    return Status.PASS, f"{what}: refused or timed out"


def _internet_to_web_ssh(lab: str, st: dict) -> tuple[Status, str]:
    web = _host(st, "web")
    if web is None:
        return _missing("web")
    if not web.get("public_ip"):
        return Status.FAIL, "web has no public address"
    return _reach(lab, "internet", web["public_ip"], 22, f"internet → web {web['public_ip']}:22")


def _internet_to_app(port: int) -> Callable[[str, dict], tuple[Status, str]]:
    def run(lab: str, st: dict) -> tuple[Status, str]:
        app = _host(st, "app")
        if app is None:
            return _missing("app")
        targets = [app["private_ip"]] + ([app["public_ip"]] if app.get("public_ip") else [])
        return _blocked(lab, "internet", targets, port, f"internet → app {'/'.join(targets)}")

    return run


def _web_to_app_ssh(lab: str, st: dict) -> tuple[Status, str]:
    web, app = _host(st, "web"), _host(st, "app")
    if web is None or app is None:
        return _missing("web" if web is None else "app")
    return _reach(lab, "web", app["private_ip"], 22, f"web → app {app['private_ip']}:22")


def _jenkins_to_web(lab: str, st: dict) -> tuple[Status, str]:
    jenkins, web = _host(st, "jenkins"), _host(st, "web")
    if jenkins is None:
        return _missing("jenkins")
    if web is None:
        return _not_yet("web")
    return _reach(
        lab,
        "jenkins",
        web["private_ip"],
        22,
        f"jenkins → web {web['private_ip']}:22 (over the peering)",
    )


def _app_to_internet(lab: str, st: dict) -> tuple[Status, str]:
    app = _host(st, "app")
    if app is None:
        return _not_yet("app")
    services = st.get("services", {})
    if services.get("state") != "up":
        return Status.SKIP, f"the internet services are not up ({services.get('state')})"
    address = st["internet"]["services"]
    return _reach(
        lab,
        "app",
        address,
        internet.GIT_PORT,
        f"app → internet git daemon {address}:{internet.GIT_PORT}",
    )


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
        _internet_to_app(22),
    ),
    _Live(
        "instances.internet_to_app_5000_blocked",
        "The internet cannot reach the app on 5000",
        "the app must have no public IP, sit in the private subnet, and allow 5000 only "
        "from the web SG",
        _internet_to_app(5000),
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


def live_checks(lab: str, local_dir: Path, steps: set[str]) -> list[CheckResult]:
    """The live checks of the given steps, run against the lab's local data plane."""
    reason = netns.unsupported_reason()
    if reason:
        return skipped(steps, reason)
    current = agent.status(local_dir)
    if current is None:
        return skipped(steps, "the local agent is not running ('vpclab local start')")
    lab_status = current.get("labs", {}).get(lab)
    if lab_status is None:
        return skipped(steps, f"the local agent has nothing of lab {lab!r} yet")
    results = []
    for check in (c for c in CHECKS if c.step in steps):
        try:
            status, detail = check.run(lab, lab_status)
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
