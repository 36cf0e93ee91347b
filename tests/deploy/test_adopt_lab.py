"""New code during a running lab: the next `vpclab up` restarts the agent, which adopts the
lab's hosts as they run (no reboot, no new namespace), and `vpclab verify` stays green."""

from __future__ import annotations

from pathlib import Path

from tests.reallab import FullLab, all_green
from vpclab.localcloud import client, netns, procfs
from vpclab.localcloud.files import read_json, write_json
from vpclab.paths import local_dir


def _identity(where: Path, lab: str) -> dict[str, tuple[int | None, int, int | None]]:
    """Each host's crun pid, init pid and namespace inode."""
    current = client.status(where)
    assert current is not None, "the agent is not running"
    hosts = current.labs[lab].hosts.values()
    return {h.name: (h.pid, procfs.children(h.pid or 0)[0], netns.inode(h.netns)) for h in hosts}


def test_new_code_adopts_the_running_hosts_and_verify_stays_green(full_lab: FullLab):
    where = local_dir(full_lab.spec)
    hosts = _identity(where, full_lab.name)
    assert {"jenkins", "web", "app", "monitoring"} <= set(hosts)
    old = client.running(where).pid
    # What a change under vpclab/ does to the running agent: its code's fingerprint differs.
    record = where / client.AGENT_FILE
    write_json(record, read_json(record) | {"fingerprint": "older-code"})

    up = full_lab.cli("up")
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    assert "restarting the local agent: it ran an older version" in up.stdout + up.stderr
    assert client.running(where).pid != old and not procfs.running(old)
    assert _identity(where, full_lab.name) == hosts  # adopted, not rebuilt
    verify = full_lab.cli("verify")
    assert all_green(verify.stdout), verify.stdout[-3000:]
