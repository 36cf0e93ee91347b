"""`vpclab diagram`: draws the architecture with the `diagrams` library (offline): from the
spec (the committed Diagram.jpg), or from a live lab with its real addresses and checklist."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from vpclab.checklist import CheckResult, Status
from vpclab.outputs import LabOutputs
from vpclab.spec import DEFAULT_VPC_CIDR, LabSpec, Ports


def _web(ports: Ports) -> str:
    return f"web: Nginx :{ports.https}"


def _users_to_web(ports: Ports) -> str:
    """The users' path: HTTPS, the web server's port 80 only redirecting to it."""
    return f"HTTPS :{ports.https} ({ports.http}→{ports.https})"


def draw(spec: LabSpec, out: Path) -> Path:
    """Render the architecture to `out`, in the format its suffix names (.jpg, the default,
    .png, .svg or .dot). Returns the path written."""
    # Imported here: `diagrams` pulls in graphviz, which only this command needs.
    from diagrams import Cluster, Diagram, Edge
    from diagrams.aws.network import InternetGateway, NATGateway
    from diagrams.onprem.ci import Jenkins
    from diagrams.onprem.client import Users
    from diagrams.onprem.monitoring import Grafana, Prometheus
    from diagrams.onprem.network import Gunicorn, Nginx
    from diagrams.programming.framework import Flask

    ports = spec.ports
    fmt = out.suffix.lstrip(".").lower() or "jpg"
    out = out.resolve()
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # diagrams writes beside the working directory first
        try:
            with Diagram(
                f"lab {spec.name}: a Flask microblog in a segmented VPC",
                filename="diagram",
                outformat=fmt,
                show=False,
                direction="LR",
                graph_attr={"fontsize": "20", "pad": "0.4"},
            ):
                users = Users("users / admin")
                with Cluster(f"default VPC {DEFAULT_VPC_CIDR}"):
                    jenkins = Jenkins(f"Jenkins ({spec.instance('jenkins').instance_type})")
                with Cluster(f"lab VPC {spec.cidr} ({spec.az})"):
                    igw = InternetGateway("Internet Gateway")
                    with Cluster(f"public subnet {spec.public_subnets[0]}"):
                        nat = NATGateway("NAT gateway")
                        web = Nginx(_web(ports))
                        with Cluster("monitoring server"):
                            prometheus = Prometheus(f"Prometheus :{ports.prometheus}")
                            grafana = Grafana(f"Grafana :{ports.grafana}")
                    with Cluster(f"private subnet {spec.private_subnets[0]}"):
                        app = Gunicorn(f"app: gunicorn :{ports.app}")
                        flask = Flask("microblog")
                users >> Edge(label=_users_to_web(ports)) >> igw >> web
                web >> Edge(label=f"proxy :{ports.app}") >> app
                app - flask
                app >> Edge(label="outbound only", style="dashed") >> nat >> igw
                jenkins >> Edge(label="SSH over peering", color="darkgreen") >> web
                web >> Edge(label="SSH (setup.sh)", color="darkgreen", style="dashed") >> app
                prometheus >> Edge(label="scrape /metrics", style="dotted") >> app
                grafana - prometheus
            out.parent.mkdir(parents=True, exist_ok=True)
            Path(tmp, f"diagram.{fmt}").replace(out)
        finally:
            os.chdir(cwd)
    return out


# -- the live lab: real addresses, traffic paths and the checklist's verdict per step

BADGE_COLOURS = {"PASS": "#1b7f3b", "FAIL": "#c62828", "SKIP": "#8a8a8a"}
# Which step's checks stand for each traffic path (the path's colour and label badge).
PATH_STEP = {
    "http": "nginx",
    "proxy": "nginx",
    "peering": "jenkins",
    "deploy": "scripts",
    "scrape": "monitoring",
    "egress": "nat",
}


@dataclass(frozen=True)
class StepBadge:
    step: str
    status: str  # PASS, FAIL or SKIP: FAIL if any check fails, PASS if any passes and none fails
    passed: int
    failed: int
    skipped: int

    @property
    def text(self) -> str:
        counts = f"{self.passed}/{self.passed + self.failed} passed"
        return f"{self.step}: {self.status}  ({counts}, {self.skipped} skipped)"


@dataclass(frozen=True)
class Drawing:
    path: Path
    live: bool
    badges: tuple[StepBadge, ...] = ()

    def summary(self) -> str:
        if not self.live:
            return (
                "no lab exists: drawn from the spec (draw again once the lab is up to see it live)"
            )
        return "drawn from the live lab: " + ", ".join(f"{b.step} {b.status}" for b in self.badges)


def badges(results: list[CheckResult], steps: list[str]) -> tuple[StepBadge, ...]:
    """One verdict per step, in step order, from the checklist."""
    out = []
    for step in steps:
        mine = [r for r in results if r.step == step]
        passed = sum(r.status is Status.PASS for r in mine)
        failed = sum(r.status is Status.FAIL for r in mine)
        skipped = sum(r.status is Status.SKIP for r in mine)
        status = "FAIL" if failed else "PASS" if passed else "SKIP"
        out.append(StepBadge(step, status, passed, failed, skipped))
    return tuple(out)


def _addresses(data: LabOutputs, role: str) -> str:
    inst = data.instances.get(role)
    if inst is None:
        return "not launched"
    if not inst.public_ip:
        return f"private {inst.private_ip}\nno public IP"
    wire = data.wire_ip(role)
    return f"private {inst.private_ip}\npublic {inst.public_ip}" + (
        f" (wire {wire})" if wire else ""
    )


def draw_live(
    spec: LabSpec,
    data: LabOutputs,
    results: list[CheckResult],
    steps: list[str],
    out: Path,
    *,
    grafana: bool,
) -> Drawing:
    """Render the lab as it is: each server with its real addresses, the traffic paths
    coloured by their step's verdict, and a badge per step; Grafana when the monitoring
    server runs it. The format follows `out`'s suffix (.jpg, .png, .svg or .dot)."""
    from diagrams import Cluster, Diagram, Edge, Node
    from diagrams.aws.network import InternetGateway, NATGateway
    from diagrams.onprem.ci import Jenkins
    from diagrams.onprem.client import Users
    from diagrams.onprem.monitoring import Grafana, Prometheus
    from diagrams.onprem.network import Gunicorn, Nginx

    verdicts = badges(results, steps)
    by_step = {b.step: b for b in verdicts}
    ports = spec.ports
    fmt = out.suffix.lstrip(".").lower() or "jpg"
    out = out.resolve()

    def path(kind: str, label: str = "", **style: str) -> Edge:
        """An edge coloured by its step's verdict; labelled with it when `label` is given."""
        badge = by_step.get(PATH_STEP[kind])
        status = badge.status if badge else "SKIP"
        return Edge(
            label=f"{label}\n[{PATH_STEP[kind]} {status}]" if label else "",
            color=BADGE_COLOURS[status],
            fontcolor=BADGE_COLOURS[status],
            fontsize="14",
            penwidth="2",
            **style,
        )

    passed = sum(b.status == "PASS" for b in verdicts)
    title = (
        f"lab {data.lab} live on {data.target} ({data.region}): "
        f"{passed} of {len(verdicts)} steps pass"
    )
    nat_ips = ", ".join(data.nat_public_ips) or "no Elastic IP"
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            with Diagram(
                title,
                filename="diagram",
                outformat=fmt,
                show=False,
                direction="LR",
                graph_attr={
                    "fontsize": "24",
                    "pad": "0.5",
                    "nodesep": "0.8",
                    "ranksep": "1.3",
                    "splines": "spline",  # curved edges keep their labels beside them
                },
                node_attr={"fontsize": "14"},
            ):
                users = Users("users (internet)")
                with Cluster("checklist (vpclab verify)", graph_attr={"fontsize": "16"}):
                    for badge in verdicts:
                        Node(
                            badge.text,
                            shape="box",
                            style="rounded,filled",
                            fillcolor=BADGE_COLOURS[badge.status],
                            fontcolor="white",
                            fontsize="16",
                            fixedsize="false",
                            labelloc="c",
                            width="3.6",
                            height="0.6",
                        )
                with Cluster(f"default VPC {DEFAULT_VPC_CIDR}", graph_attr={"fontsize": "16"}):
                    jenkins = Jenkins(f"Jenkins\n{_addresses(data, 'jenkins')}")
                vpc = f"lab VPC {spec.cidr} {data.vpc_id or '(not created)'}"
                with Cluster(vpc, graph_attr={"fontsize": "16"}):
                    igw = InternetGateway("Internet Gateway")
                    with Cluster(f"public subnet {spec.public_subnets[0]}"):
                        nat = NATGateway(f"NAT gateway\nElastic IP {nat_ips}")
                        web = Nginx(f"{_web(ports)}\n{_addresses(data, 'web')}")
                        with Cluster(f"monitoring server\n{_addresses(data, 'monitoring')}"):
                            prometheus = Prometheus(f"Prometheus :{ports.prometheus}")
                            # Only where the Site installs it (`Site.why_no_grafana`).
                            grafana_node = Grafana(f"Grafana :{ports.grafana}") if grafana else None
                    with Cluster(f"private subnet {spec.private_subnets[0]}"):
                        app = Gunicorn(f"app: gunicorn :{ports.app}\n{_addresses(data, 'app')}")
                users >> path("http", _users_to_web(ports)) >> igw >> path("http") >> web
                web >> path("proxy", f"proxy :{ports.app}") >> app
                jenkins >> path("peering", f"SSH :{ports.ssh} over VPC peering") >> web
                web >> path("deploy", f"SSH :{ports.ssh} (setup.sh)", style="dashed") >> app
                (
                    prometheus
                    >> path(
                        "scrape",
                        f"scrape :{ports.app}/metrics, :{ports.node_exporter}",
                        style="dotted",
                    )
                    >> app
                )
                scrape_web = f"scrape :{ports.node_exporter}, :{ports.nginx_exporter}"
                prometheus >> path("scrape", scrape_web, style="dotted") >> web
                if grafana_node is not None:
                    grafana_node - prometheus
                app >> path("egress", "egress only", style="dashed") >> nat
                nat >> path("egress", style="dashed") >> igw
            out.parent.mkdir(parents=True, exist_ok=True)
            Path(tmp, f"diagram.{fmt}").replace(out)
        finally:
            os.chdir(cwd)
    return Drawing(out, live=True, badges=verdicts)
