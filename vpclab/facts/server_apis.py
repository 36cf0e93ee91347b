"""Handles to the lab servers' HTTP APIs, reached the same way by the steps that wait on
them and the checks that read them: Prometheus from the lab's internet, real Jenkins through
the pinned SSH session to its host."""

from __future__ import annotations

from vpclab import remote
from vpclab.aws import jenkins_api
from vpclab.aws.jenkins_api import Jenkins
from vpclab.monitoring.promapi import PrometheusAPI


def prometheus_of(reach: remote.Reach) -> PrometheusAPI:
    """Prometheus' HTTP API on the monitoring server, reached from the lab's internet."""
    at = remote.where(reach, "monitoring")

    def get(path: str) -> str:
        reply = remote.http_get(
            reach, at.public_ip or at.private_ip, reach.spec.ports.prometheus, path
        )
        if reply.status != 200:
            raise OSError(f"HTTP {reply.status} from Prometheus for {path.split('?')[0]}")
        return reply.body

    return PrometheusAPI(get)


def jenkins_of(reach: remote.Reach) -> Jenkins:
    """Real Jenkins' REST API, through a direct-tcpip channel of the pinned SSH session to the
    Jenkins host (so port 8080 need not be open), as admin with the password from SSM."""
    from vpclab.aws import secrets

    ssm = reach.cloud.client("ssm")
    name = secrets.name(reach.spec.name, "jenkins", "admin-password")
    password = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]

    def connect():
        host = remote.shared(reach, "jenkins")
        return host.transport.open_channel(
            "direct-tcpip", ("127.0.0.1", jenkins_api.PORT), ("127.0.0.1", 0), timeout=10
        )

    return Jenkins(connect, password)
