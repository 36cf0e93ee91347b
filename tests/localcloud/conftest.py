"""Fixtures of the local data-plane tests: a moto server, an agent per module, test labs.

Every lab a test uses is registered (by its local id: its name plus its state folder), and
the session ends by removing (force_down) and then asserting that nothing of them is left:
no namespace, link, nft table or process. Only our own labs are ever removed.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.localcloud import labkit
from vpclab.localcloud import cleanup, client, names, netns, procfs
from vpclab.localcloud.status import LabStatus

RUN = f"{os.getpid() % 10000}"
TEST_LABS: set[str] = set()  # lab ids
STATE_ROOT: list[Path] = []  # the session's state folder, once made


def lab_name(suffix: str) -> str:
    """A lab name unique to this test run (two runs on one machine never clash)."""
    name = f"lc{RUN}{suffix}"
    if STATE_ROOT:
        TEST_LABS.add(lid(name))
    return name


def lid(name: str, state_root: Path | None = None) -> str:
    """The local id of a test lab (in the session's state folder unless told), registered
    for the session's final sweep."""
    found = names.lab_id(name, state_root or STATE_ROOT[0])
    TEST_LABS.add(found)
    return found


def require_root() -> None:
    reason = netns.unsupported_reason()
    if reason:
        pytest.skip(reason)
    for tool in ("/usr/sbin/sshd", "git"):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            pytest.skip(f"{tool} is not installed")


def leftovers(lab_id: str) -> list[str]:
    found = [f"namespace {n}" for n in cleanup.lab_namespaces(lab_id)]
    found += [
        f"link {link}" for link in netns.link_names_root() if names.id_of_link(link) == lab_id
    ]
    tables = netns.run(["nft", "list", "tables"], check=False)
    found += [f"nft {t}" for t in tables.splitlines() if names.nft_table(lab_id) in t]
    return found


def processes_using(folder: Path) -> list[str]:
    """Processes whose command line names `folder`: the agent, hosts, internet services."""
    found = []
    for pid in procfs.pids():
        if pid == os.getpid():
            continue
        cmdline = procfs.cmdline(pid).replace(b"\0", b" ").decode(errors="replace")
        if str(folder) in cmdline and procfs.running(pid):
            found.append(f"process {pid}: {cmdline.strip()[:120]}")
    return found


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind(local_dir: Path) -> Iterator[None]:
    """After the session: no namespace, link, table or process of any test lab remains."""
    yield
    if netns.unsupported_reason():
        return
    client.stop(local_dir)
    for lab in sorted(TEST_LABS):
        cleanup.force_down(lab)
    remaining = [item for lab in sorted(TEST_LABS) for item in leftovers(lab)]
    remaining += processes_using(local_dir)
    assert not remaining, f"left behind: {remaining}"


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[labkit.MotoServer]:
    server = labkit.moto_server(tmp_path_factory.mktemp("moto") / "moto.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def local_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One state folder for the session: the wheel cache is built once."""
    root = tmp_path_factory.mktemp("state")
    STATE_ROOT[:] = [root]
    return root / "local"


@dataclass
class Cloud:
    moto: labkit.MotoServer
    local_dir: Path
    ec2: object
    keys: Path

    def converge(self, lab: str, timeout: float = 30.0) -> LabStatus:
        st = client.wait_converged(self.local_dir, lab, timeout)
        assert st is not None, f"the agent has nothing of lab {lab}"
        return st

    def lab_status(self, lab: str) -> LabStatus:
        current = client.status(self.local_dir)
        assert current is not None, "the agent is not running"
        return current.labs[lab]


@pytest.fixture(scope="module")
def cloud(
    moto: labkit.MotoServer, local_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cloud]:
    """An empty control plane and a running agent, for one test module."""
    require_root()
    moto.reset()
    local_dir.mkdir(parents=True, exist_ok=True)
    client.start(local_dir, moto.endpoint, labkit.REGION)
    try:
        yield Cloud(
            moto, local_dir, labkit.ec2_client(moto.endpoint), tmp_path_factory.mktemp("keys")
        )
    finally:
        client.stop(local_dir)
        for lab in sorted(TEST_LABS):
            cleanup.force_down(lab)
        moto.reset()


def eventually(predicate, timeout: float = 5.0, interval: float = 0.05) -> float:
    """Seconds until predicate() is true; fails the test after timeout."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            pytest.fail(f"not true after {timeout} s: {getattr(predicate, '__doc__', '')}")
        time.sleep(interval)
    return time.monotonic() - start
