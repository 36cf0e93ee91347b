"""`vpclab diagram`: draws Diagram.jpg from the spec with the `diagrams` library (offline)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from vpclab.spec import DEFAULT_VPC_CIDR, LabSpec


def draw(spec: LabSpec, out: Path) -> Path:
    """Render the architecture to `out` (a .jpg). Returns the path written."""
    # Imported here: `diagrams` pulls in graphviz, which only this command needs.
    from diagrams import Cluster, Diagram, Edge
    from diagrams.aws.network import InternetGateway, NATGateway
    from diagrams.onprem.ci import Jenkins
    from diagrams.onprem.client import Users
    from diagrams.onprem.monitoring import Grafana, Prometheus
    from diagrams.onprem.network import Gunicorn, Nginx
    from diagrams.programming.framework import Flask

    ports = spec.ports
    out = out.resolve()
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # diagrams writes beside the working directory first
        try:
            with Diagram(
                f"lab {spec.name}: a Flask microblog in a segmented VPC",
                filename="diagram",
                outformat="jpg",
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
                        web = Nginx(f"web: Nginx :{ports.http}")
                        with Cluster("monitoring server"):
                            prometheus = Prometheus(f"Prometheus :{ports.prometheus}")
                            grafana = Grafana(f"Grafana :{ports.grafana}")
                    with Cluster(f"private subnet {spec.private_subnets[0]}"):
                        app = Gunicorn(f"app: gunicorn :{ports.app}")
                        flask = Flask("microblog")
                users >> Edge(label=f"HTTP :{ports.http}") >> igw >> web
                web >> Edge(label=f"proxy :{ports.app}") >> app
                app - flask
                app >> Edge(label="outbound only", style="dashed") >> nat >> igw
                jenkins >> Edge(label="SSH over peering", color="darkgreen") >> web
                web >> Edge(label="SSH (setup.sh)", color="darkgreen", style="dashed") >> app
                prometheus >> Edge(label="scrape /metrics", style="dotted") >> app
                grafana - prometheus
            out.parent.mkdir(parents=True, exist_ok=True)
            Path(tmp, "diagram.jpg").replace(out)
        finally:
            os.chdir(cwd)
    return out
