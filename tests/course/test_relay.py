"""The grader's request log: every route by which the library builds a step carries the
step's mark, the relay keeps it with the cell that was running, and the student's own boto3
calls (through the same `lab.cloud` clients) carry none."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vpclab.aws import session
from vpclab.course.relay import Relay
from vpclab.lab import Lab
from vpclab.localcloud.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def lab_and_relay():
    with Sandbox() as sandbox:
        relay = Relay(sandbox.endpoint).start()
        try:
            # Not monkeypatch: it would undo after the sandbox and bring back its endpoint.
            os.environ["AWS_ENDPOINT_URL"] = relay.endpoint  # the sandbox restores it
            spec = sandbox.tmp / "lab.toml"
            shutil.copy(ROOT / "lab.toml", spec)
            yield Lab(spec, say=lambda _line: None), relay
        finally:
            relay.stop()


def test_every_route_of_the_library_is_marked_and_the_student_is_not(lab_and_relay):
    from vpclab.steps import vpc

    lab, relay = lab_and_relay
    relay.where = "01_vpc.ipynb cell 4"
    vpc.apply(lab.context())  # a step's apply, called directly
    assert {m.where for m in relay.built_by_library("vpc")} == {"01_vpc.ipynb cell 4"}

    relay.where = "02_nat.ipynb cell 6"  # the student's own calls: no mark
    lab.cloud.ec2.create_internet_gateway()
    assert relay.built_by_library("nat") == []

    relay.where = "02_nat.ipynb cell 8"  # `!vpclab up` from a cell: another process
    env = {**os.environ, "AWS_ENDPOINT_URL": relay.endpoint}
    argv = [sys.executable, "-m", "vpclab.cli", "up", "--through", "nat"]
    done = subprocess.run(argv, cwd=lab.spec_path.parent, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert {m.where for m in relay.built_by_library("nat")} == {"02_nat.ipynb cell 8"}

    relay.where = "03_jenkins.ipynb cell 5"
    lab.catch_up("jenkins")
    assert {m.where for m in relay.built_by_library("jenkins")} == {"03_jenkins.ipynb cell 5"}


def test_the_graders_repair_is_logged_as_the_graders(lab_and_relay):
    lab, relay = lab_and_relay
    with session.as_grader():
        assert lab.apply(through="nat") == ["vpc", "nat"]
    assert relay.mended("vpc") and relay.mended("nat")
    assert relay.built_by_library("vpc") == [] and relay.built_by_library("nat") == []
    assert session.current_mark() is None  # nothing left marked after the steps
