"""Throwaway moto servers forked from one process that imported moto once (`motofork`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from vpclab.aws.session import LOCAL_CREDENTIALS, new_session
from vpclab.localcloud import motoserver, procfs
from vpclab.localcloud.orphans import AdoptedProcess, ProcRef


def _ec2(endpoint: str):
    return new_session("us-east-1", **LOCAL_CREDENTIALS).client("ec2", endpoint_url=endpoint)


def _vpcs(endpoint: str) -> int:
    return len(_ec2(endpoint).describe_vpcs()["Vpcs"])


def test_servers_are_forked_by_one_forker_and_each_serves_its_own_cloud(tmp_path):
    with (
        motoserver.ephemeral(log=tmp_path / "one.log") as one,
        motoserver.ephemeral(log=tmp_path / "two.log") as two,
    ):
        assert isinstance(one.proc, AdoptedProcess) and isinstance(two.proc, AdoptedProcess)
        parents = {procfs.stat(server.pid).ppid for server in (one, two)}
        assert len(parents) == 1, parents
        (forker,) = parents
        assert b"vpclab.localcloud.motofork" in procfs.cmdline(forker)
        assert procfs.stat(forker).ppid == os.getpid()
        before = _vpcs(two.endpoint)
        _ec2(one.endpoint).create_vpc(CidrBlock="10.48.0.0/16")
        assert (_vpcs(one.endpoint), _vpcs(two.endpoint)) == (before + 1, before)
        assert b"Running on" in (tmp_path / "one.log").read_bytes()  # its own log
    assert (one.proc.poll(), two.proc.poll()) == (-1, -1)
    assert procfs.running(forker)  # kept for the next server


def test_a_forked_server_gets_the_environment_of_the_moment(tmp_path, monkeypatch):
    from moto.ec2.models.amis import AMIS

    with motoserver.ephemeral(log=tmp_path / "first.log"):
        pass  # the forker runs from here on
    monkeypatch.setenv(motoserver.AMIS_ENV, "all")  # read as the server starts (moto_main)
    with motoserver.ephemeral(log=tmp_path / "moto.log") as server:
        assert isinstance(server.proc, AdoptedProcess)
        images = _ec2(server.endpoint).describe_images()["Images"]
    assert len(images) > len(AMIS)


def test_moto_settings_other_than_the_forkers_get_a_new_interpreter(tmp_path, monkeypatch):
    """moto reads some MOTO_* settings as it is imported: the forker's import cannot serve a
    server that wants others."""
    with motoserver.ephemeral(log=tmp_path / "first.log"):
        pass
    monkeypatch.setenv("MOTO_ALLOW_NONEXISTENT_REGION", "true")
    with motoserver.ephemeral(log=tmp_path / "moto.log") as server:
        assert isinstance(server.proc, subprocess.Popen)
        assert procfs.stat(server.pid).ppid == os.getpid()
        assert b"vpclab.localcloud.moto_main" in procfs.cmdline(server.pid)


def test_the_forker_stops_its_servers_when_the_process_that_started_it_ends():
    code = (
        "import os\n"
        "from vpclab.localcloud import motoserver, procfs\n"
        "server = motoserver.start_ephemeral()\n"
        "print(server.pid, procfs.stat(server.pid).ppid, flush=True)\n"
        "os._exit(0)  # no stop, no clean-up of its own\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    server, forker = (
        AdoptedProcess(ProcRef.of(int(pid)) or ProcRef(int(pid), "gone", "gone"))
        for pid in done.stdout.split()
    )
    try:
        deadline = time.monotonic() + 15
        while (server.poll(), forker.poll()) != (-1, -1) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (server.poll(), forker.poll()) == (-1, -1)
    finally:
        for left in (server, forker):
            left.kill()  # only if still the same process (its start time)


def test_a_handle_never_signals_a_process_that_is_not_its_server():
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        live = ProcRef.of(sleeper.pid)
        assert live is not None and AdoptedProcess(live).poll() is None
        # as if the server had ended and its PID been given to this sleeper since
        handle = AdoptedProcess(ProcRef(sleeper.pid, "0", live.comm))
        assert handle.poll() == -1
        handle.terminate()
        handle.kill()
        time.sleep(0.2)
        assert sleeper.poll() is None
    finally:
        sleeper.send_signal(signal.SIGKILL)
        sleeper.wait()


def test_a_server_that_does_not_stop_is_waited_for_then_killed(tmp_path):
    with motoserver.ephemeral(log=tmp_path / "moto.log") as server:
        os.kill(server.pid, signal.SIGSTOP)  # deaf to SIGTERM until continued
        try:
            server.proc.terminate()
            try:
                server.proc.wait(0.3)
            except subprocess.TimeoutExpired:
                pass
            else:
                raise AssertionError("a stopped server ended on SIGTERM")
        finally:
            server.proc.kill()
        assert server.proc.wait(10) == -1


def test_a_forked_server_makes_the_ids_a_new_interpreter_makes(tmp_path):
    """The notebooks' reference outputs hold seeded ids: what the forker loaded beforehand
    (`motofork._warm`) must not move moto's id generator or leave a cloud behind."""

    def ids(server: motoserver.EphemeralServer) -> list[str]:
        server.seed(7)
        ec2 = _ec2(server.endpoint)
        default = [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]]
        vpc = ec2.create_vpc(CidrBlock="10.49.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.49.1.0/24")["Subnet"]["SubnetId"]
        return [*default, vpc, subnet]

    with motoserver.ephemeral(log=tmp_path / "forked.log") as forked:
        assert isinstance(forked.proc, AdoptedProcess)
        by_fork = ids(forked)
    port = motoserver.ports.free_port()
    fresh = motoserver.EphemeralServer(
        motoserver._launch(port, tmp_path / "fresh.log", {}, detached=False), port
    )
    try:
        assert ids(fresh) == by_fork
    finally:
        fresh.stop()
