"""Live checks: real connections, allowed and denied, on both targets.

The connections come from a `Prober` (see `checks.probers`): on the local target from inside
the lab's namespaces, on AWS from the hosts themselves over the pinned SSH paths (and from
this machine for "the internet"). Ports come from the spec. On the local target they first
wait, within a bound, until the data plane has applied the control plane's latest change,
so a check right after a raw boto3 call sees its effect. When nothing can be probed (no
root, off Linux, no agent, a stand-in control plane) every one is SKIP with the reason,
never PASS.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from pathlib import Path

from vpclab import remote
from vpclab.checklist import CheckResult, Status
from vpclab.checks import REGISTRY, Check, wanted
from vpclab.checks.probers import (
    Backend,
    NamespaceProber,
    NotProbed,
    Prober,
    backend_for,
)
from vpclab.localcloud import client, netns
from vpclab.localcloud.status import LabStatus
from vpclab.spec import Ports

BLOCKED_TIMEOUT = 1.0  # a security group drops silently: a blocked connect times out
OPEN_TIMEOUT = 2.0
CATCH_UP = 10.0  # at most this long for the data plane to apply the latest change
PROBES_ENV = "VPCLAB_PROBES"  # force a backend: namespaces or ssh

Probe = Callable[[Prober, Ports], tuple[Status, str]]


def _missing(role: str) -> tuple[Status, str]:
    return Status.FAIL, f"no running {role} instance in the data plane"


def _not_yet(role: str) -> tuple[Status, str]:
    """A probe of an earlier step whose target comes with a later step: nothing to test."""
    return Status.SKIP, f"no {role} server yet (the instances step makes it)"


def _hosts_booted(p: Prober, _ports: Ports) -> tuple[Status, str]:
    machines = p.machines()
    if not machines:
        return Status.FAIL, "no running instance"
    down = sorted(f"{m.name} ({m.error or 'booting'})" for m in machines if not m.booted)
    if down:
        return Status.FAIL, f"not booted: {', '.join(down)}"
    return Status.PASS, f"sshd up on {', '.join(sorted(m.name for m in machines))}"


def _reach(p: Prober, source: str, address: str, port: int, what: str) -> tuple[Status, str]:
    if p.connects(source, address, port, OPEN_TIMEOUT):
        return Status.PASS, f"{what}: connected"
    return Status.FAIL, f"{what}: no connection within {OPEN_TIMEOUT:.0f} s"


def _blocked(
    p: Prober, source: str, targets: list[str], port: int, what: str
) -> tuple[Status, str]:
    for address in targets:
        if p.connects(source, address, port, BLOCKED_TIMEOUT):
            return Status.FAIL, f"{what}: {address}:{port} accepted a connection"
    return Status.PASS, f"{what}: refused or timed out"


def _internet_to_web_ssh(p: Prober, ports: Ports) -> tuple[Status, str]:
    web = p.machine("web")
    if web is None:
        return _missing("web")
    if not web.public_ip:
        return Status.FAIL, "web has no public address"
    what = f"internet → web {web.public_ip}:{ports.ssh}"
    return _reach(p, "internet", web.public_ip, ports.ssh, what)


def _internet_to_app(port_of: Callable[[Ports], int]) -> Probe:
    def run(p: Prober, ports: Ports) -> tuple[Status, str]:
        app = p.machine("app")
        if app is None:
            return _missing("app")
        targets = [app.private_ip] + ([app.public_ip] if app.public_ip else [])
        what = f"internet → app {'/'.join(targets)}"
        return _blocked(p, "internet", targets, port_of(ports), what)

    return run


def _web_to_app_ssh(p: Prober, ports: Ports) -> tuple[Status, str]:
    web, app = p.machine("web"), p.machine("app")
    if web is None or app is None:
        return _missing("web" if web is None else "app")
    what = f"web → app {app.private_ip}:{ports.ssh}"
    return _reach(p, "web", app.private_ip, ports.ssh, what)


def _jenkins_to_web(p: Prober, ports: Ports) -> tuple[Status, str]:
    jenkins, web = p.machine("jenkins"), p.machine("web")
    if jenkins is None:
        return _missing("jenkins")
    if web is None:
        return _not_yet("web")
    what = f"jenkins → web {web.private_ip}:{ports.ssh} (over the peering)"
    return _reach(p, "jenkins", web.private_ip, ports.ssh, what)


def _app_to_internet(p: Prober, _ports: Ports) -> tuple[Status, str]:
    if p.machine("app") is None:
        return _not_yet("app")
    target = p.internet_target()
    what = f"app → internet {target.label} {target.address}:{target.port}"
    return _reach(p, "app", target.address, target.port, what)


CHECKS = tuple(
    Check(check_id, title, hint, probe=probe)
    for check_id, title, hint, probe in (
        (
            "instances.hosts_booted",
            "Every instance has booted with its own sshd",
            "locally see the agent log ('vpclab local status') and the host's console.log; on "
            "AWS the instance's system log (get_console_output)",
            _hosts_booted,
        ),
        (
            "instances.internet_to_web_ssh",
            "The internet reaches the web server on port 22",
            "the web SG must allow 22 from the admin CIDR, the public subnet must route "
            "0.0.0.0/0 to the IGW, and web needs a public IP",
            _internet_to_web_ssh,
        ),
        (
            "instances.internet_to_app_ssh_blocked",
            "The internet cannot reach the app on 22",
            "the app must have no public IP, sit in the private subnet, and allow 22 only "
            "from the web SG",
            _internet_to_app(lambda p: p.ssh),
        ),
        (
            "instances.internet_to_app_5000_blocked",
            "The internet cannot reach the app on 5000",
            "the app must have no public IP, sit in the private subnet, and allow 5000 only "
            "from the web SG",
            _internet_to_app(lambda p: p.app),
        ),
        (
            "instances.web_to_app_ssh",
            "The web server reaches the app on port 22",
            "the app SG must allow 22 from the web SG",
            _web_to_app_ssh,
        ),
        (
            "jenkins.reaches_web_over_peering",
            "Jenkins reaches the web server's private IP over the VPC peering",
            "the peering must be active, both sides' route tables need a route to the other "
            "VPC via the pcx, and the web SG must allow 22 from the Jenkins SG",
            _jenkins_to_web,
        ),
        (
            "nat.app_reaches_internet",
            "The private app reaches the internet through the NAT",
            "the private route table needs 0.0.0.0/0 via the NAT gateway, and the NAT must sit "
            "in the public subnet",
            _app_to_internet,
        ),
    )
)
REGISTRY.extend(CHECKS)  # the checklist's one registry (vpclab.checks)


def skipped(steps: set[str], reason: str, only: Collection[str] | None = None) -> list[CheckResult]:
    """The live checks of the given steps (with `only`, of those ids), all SKIP with the
    reason (never PASS)."""
    return [
        CheckResult(id=c.id, step=c.step, title=c.title, status=Status.SKIP, detail=reason)
        for c in CHECKS
        if c.step in steps and wanted(c, only)
    ]


def probe_all(
    prober: Prober, steps: set[str], ports: Ports, only: Collection[str] | None = None
) -> list[CheckResult]:
    """Run the live checks of the given steps (with `only`, of those ids) with one prober."""
    results = []
    for check in (c for c in CHECKS if c.step in steps and wanted(c, only)):
        try:
            status, detail = check.probe(prober, ports)
        except NotProbed as exc:
            status, detail = Status.SKIP, str(exc)
        except Exception as exc:  # a namespace vanished, a host could not be logged into
            problem = getattr(exc, "problem", None) or exc
            status, detail = Status.SKIP, f"could not probe: {problem}"
        hint = check.hint if status is Status.FAIL else ""
        results.append(CheckResult(check.id, check.step, check.title, status, detail, hint))
    return results


def _local_status(
    lab: str, local_dir: Path, endpoint: str | None, catch_up: float
) -> LabStatus | str:
    """The agent's view of the lab once it has caught up, or why there is none."""
    reason = netns.unsupported_reason()
    if reason:
        return reason
    current = (
        client.wait_applied(local_dir, endpoint, catch_up) if endpoint else client.status(local_dir)
    )
    if current is None:
        return "the local agent is not running ('vpclab local start')"
    lab_status = current.labs.get(lab)
    if lab_status is None:
        return f"the local agent has nothing of lab {lab!r} yet"
    return lab_status


def live_checks(
    lab: str,
    local_dir: Path,
    steps: set[str],
    ports: Ports,
    endpoint: str | None = None,
    catch_up: float = CATCH_UP,
) -> list[CheckResult]:
    """The live checks of the given steps, probed from the lab's local namespaces, once the
    agent has applied the latest change of the control plane at `endpoint`."""
    if not any(c.step in steps for c in CHECKS):
        return []
    found = _local_status(lab, local_dir, endpoint, catch_up)
    if isinstance(found, str):
        return skipped(steps, found)
    return probe_all(NamespaceProber(found), steps, ports)


def lab_live_checks(
    reach: remote.Reach,
    steps: set[str],
    local_dir: Path,
    backend: Backend | str | None = None,
    catch_up: float = CATCH_UP,
    only: Collection[str] | None = None,
) -> list[CheckResult]:
    """The live checks of a lab on its target (with `only`, of those ids), with the target's
    prober unless `backend` (or VPCLAB_PROBES) forces one."""
    if not any(c.step in steps and wanted(c, only) for c in CHECKS):
        return []
    site = reach.cloud.site
    chosen = backend_for(site, backend or os.environ.get(PROBES_ENV) or None)
    prober = site.prober(reach, chosen, local_dir, catch_up)
    if isinstance(prober, str):
        return skipped(steps, prober, only)
    return probe_all(prober, steps, reach.spec.ports, only)
