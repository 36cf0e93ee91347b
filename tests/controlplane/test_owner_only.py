"""The local control plane answers only its owner: as `nobody` every call (moto's own API
too) is refused. (A lab host reaches it only through its door, with its instance profile's
keys under IAM: tests/controlplane/test_imds.py.)"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from vpclab.aws.session import LOCAL_CREDENTIALS, new_session
from vpclab.localcloud import motoserver, procfs

NOBODY = 65534
# Run as `nobody`: one EC2 read, then moto's reset.
STRANGER = """
import sys, urllib.request, urllib.error
import boto3, botocore
endpoint = sys.argv[1]
ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
try:
    ec2.describe_vpcs()
    print("read: answered")
except botocore.exceptions.ClientError as exc:
    print("read:", exc.response["Error"]["Code"])
try:
    urllib.request.urlopen(urllib.request.Request(endpoint + "/moto-api/reset", method="POST"))
    print("reset: answered")
except urllib.error.HTTPError as exc:
    print("reset:", exc.code)
"""


@pytest.fixture
def server():
    if os.geteuid() != 0:
        pytest.skip("changing to another uid needs root")
    with motoserver.ephemeral() as running:
        yield running


def _ec2(endpoint: str):
    return new_session("us-east-1", **LOCAL_CREDENTIALS).client("ec2", endpoint_url=endpoint)


def _vpcs(endpoint: str) -> int:
    return len(_ec2(endpoint).describe_vpcs()["Vpcs"])


def test_another_local_user_is_refused_everything(server):
    _ec2(server.endpoint).create_vpc(CidrBlock="10.9.0.0/16")
    before = _vpcs(server.endpoint)

    def as_nobody() -> None:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)

    done = subprocess.run(
        [sys.executable, "-c", STRANGER, server.endpoint],
        preexec_fn=as_nobody,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HOME": "/tmp"},
    )
    assert done.stdout.splitlines() == ["read: AuthFailure", "reset: 403"], done.stderr
    assert _vpcs(server.endpoint) == before  # the reset did not happen


def test_the_peer_lookup_asks_the_kernel_for_one_socket_and_agrees_with_proc():
    """The owner check runs on every request: sock_diag finds the client's socket by its
    four-tuple (cheap on a machine with thousands of sockets), and names the same uid as the
    whole /proc/net/tcp table; a connection that does not exist has no owner."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        server_port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", server_port)) as client:
            accepted, _ = listener.accept()
            with accepted:
                client_port = client.getsockname()[1]
                by_kernel = procfs._diag_uid(client_port, server_port)
                assert by_kernel == os.getuid()
                assert procfs._proc_net_tcp_uid(client_port, server_port) == by_kernel
                assert procfs.loopback_client_uid(client_port, server_port) == by_kernel
                # a connection to another port does not exist: it has no owner
                other = server_port % 65535 + 1
                assert procfs._diag_uid(client_port, other) is None
                assert procfs._proc_net_tcp_uid(client_port, other) is None
