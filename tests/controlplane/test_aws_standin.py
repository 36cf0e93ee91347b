"""`vpclab up --target aws --yes` against a stand-in for AWS named the standard way
(AWS_ENDPOINT_URL: plain moto here, as LocalStack would be): it passes preflight, says the
stand-in's addresses are on no wire instead of waiting for console keys, and every instance it
launches carries user data within EC2's 16 KB. A real process, like the student's."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from pathlib import Path

from vpclab.aws import limits
from vpclab.aws.session import LOCAL_CREDENTIALS, new_session
from vpclab.localcloud import motoserver

ROOT = Path(__file__).resolve().parents[2]
NOBLE = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20261101"


def spec_for(tmp_path: Path, image_id: str) -> Path:
    lines = []
    for line in (ROOT / "lab.toml").read_text().splitlines():
        key = line.split("=")[0].strip()
        if key == "ami_id":
            line = f'ami_id = "{image_id}"'  # moto has no Canonical parameters
        elif key == "admin_cidr":
            line = 'admin_cidr = "100.24.5.6/32"'  # never contacted: only lands in SG rules
        lines.append(line)
    path = tmp_path / "lab.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_up_on_aws_through_aws_endpoint_url_passes_preflight_and_waits_for_no_console(tmp_path):
    with motoserver.ephemeral(patched=False) as server:
        session = new_session("us-east-1", **LOCAL_CREDENTIALS)
        ec2 = session.client("ec2", endpoint_url=server.endpoint)
        image = ec2.register_image(Name=NOBLE, RootDeviceName="/dev/sda1", Architecture="x86_64")[
            "ImageId"
        ]
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VPCLAB_"))},
            "AWS_ENDPOINT_URL": server.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "VPCLAB_STATE": str(tmp_path / "state"),
            "VPCLAB_REPO_URL": "https://example.org/microblog.git",
        }
        vpclab = Path(sys.executable).parent / "vpclab"
        spec = spec_for(tmp_path, image)
        started = time.monotonic()
        done = subprocess.run(
            [str(vpclab), "up", "--target", "aws", "--yes", "--spec", str(spec)],
            capture_output=True,
            text=True,
            env=env,
            timeout=400,
        )
        seconds = time.monotonic() - started
        out = done.stdout + done.stderr
        assert done.returncode == 0, out[-3000:]
        assert "target aws: account 123456789012 in us-east-1" in out  # preflight passed
        assert "note: vCPU quota not checked" in out  # moto has no EC2 quotas: said, not hidden
        assert "host keys not pinned: the aws target's control plane is a stand-in" in out
        assert "launched monitoring server" in out
        reservations = ec2.describe_instances()["Reservations"]
        instances = [i for r in reservations for i in r["Instances"]]
        assert len(instances) == 4
        for instance in instances:
            data = ec2.describe_instance_attribute(
                InstanceId=instance["InstanceId"], Attribute="userData"
            )["UserData"]["Value"]
            size = len(base64.b64decode(data))
            assert 0 < size <= limits.USER_DATA_MAX_BYTES, (instance["InstanceId"], size)
    print(f"up --target aws against moto: {seconds:.1f} s")
