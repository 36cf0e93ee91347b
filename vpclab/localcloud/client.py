"""The agent's client: start it, stop it, read its status, wait until it has caught up.

The agent (see `daemon`) runs detached, one per state folder, and records itself in
`agent.json` (pid, endpoint, region, and a fingerprint of the project's source). `start`
restarts an agent that follows another control plane or runs older code, so `vpclab up`
never waits on an agent that polls the wrong endpoint. An agent of older code hands its
running hosts over to the new one (`handover`) instead of stopping them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from vpclab.errors import VpclabError
from vpclab.localcloud import broker, cleanup, handover, motoserver, netns, procfs
from vpclab.localcloud.files import read_json, write_json
from vpclab.localcloud.status import AgentStatus, LabStatus

AGENT_FILE = "agent.json"
STATUS_FILE = "agent-status.json"
LOG_FILE = "agent.log"
INTERVAL = 0.5
DAEMON = "vpclab.localcloud.daemon"
# A control plane that has not answered for this long is reported, not waited out.
NO_ANSWER_GRACE = 3.0
PACKAGE = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class AgentRecord:
    pid: int
    endpoint: str
    region: str
    fingerprint: str = ""
    started: float = 0.0
    repo_root: str = ""  # the project its internet's git remote serves


@cache
def fingerprint() -> str:
    """A hash of the project's source (every file of the package): an agent started from
    other code is restarted."""
    digest = hashlib.sha1()
    for path in sorted(PACKAGE.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".sh", ".j2", ".toml"):
            digest.update(str(path.relative_to(PACKAGE)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def is_agent(pid: int) -> bool:
    """Whether `pid` is an agent (its command line says so)."""
    if broker.path():  # a jailed kernel's /proc does not show the agent: the grader says
        return broker.is_agent(pid)
    return DAEMON.encode() in procfs.cmdline(pid)


def running(local_dir: Path) -> AgentRecord | None:
    """The agent's record if it is alive, else None."""
    data = read_json(Path(local_dir) / AGENT_FILE)
    try:
        record = AgentRecord(**data) if isinstance(data, dict) else None
    except TypeError:
        return None
    if record and is_agent(record.pid):
        return record
    return None


def project_root() -> Path | None:
    """The checkout vpclab runs from, when there is one: what the internet's git serves."""
    from vpclab.localcloud import internet

    root = PACKAGE.parent
    if (root / ".git").exists() and (root / internet.REQUIREMENTS).exists():
        return root
    return None


def stale_reason(record: AgentRecord, endpoint: str, region: str) -> str | None:
    """Why a running agent must be restarted to serve `endpoint` and `region`, or None."""
    if record.endpoint != endpoint:
        return f"it followed {record.endpoint}"
    if record.region != region:
        return f"it followed region {record.region}"
    if record.fingerprint != fingerprint():
        return "it ran an older version of the project"
    return None


def start(
    local_dir: Path,
    endpoint: str,
    region: str,
    repo_root: Path | None = None,
    interval: float = INTERVAL,
    say: Callable[[str], None] | None = None,
) -> int:
    """Start the agent, or keep the running one when it follows this endpoint and region
    with this code. Returns its PID. Needs root on Linux.

    `repo_root` is the project the internet namespace serves (default: this checkout).
    """
    local_dir = Path(local_dir).resolve()
    record = running(local_dir)
    if record:
        why = stale_reason(record, endpoint, region)
        if why is None and repo_root and record.repo_root != str(Path(repo_root).resolve()):
            why = f"it served {record.repo_root or 'no project'}"
        if why is None:
            return record.pid
        if say:
            say(f"restarting the local agent: {why}")
        if (record.endpoint, record.region) != (endpoint, region) or not hand_over(local_dir):
            stop(local_dir)
        elif repo_root is None and record.repo_root:
            repo_root = Path(record.repo_root)  # the adopted labs keep serving their project
    netns.require_support()
    local_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE",)}
    argv = [sys.executable, "-m", DAEMON, "--local-dir", str(local_dir)]
    argv += ["--endpoint", endpoint, "--region", region, "--interval", str(interval)]
    repo_root = repo_root or project_root()
    if repo_root:
        repo_root = Path(repo_root).resolve()
        argv += ["--repo-root", str(repo_root)]
    with open(local_dir / LOG_FILE, "ab") as logf:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(local_dir),
            start_new_session=True,
        )  # its own session: outlives the CLI
    write_json(
        local_dir / AGENT_FILE,
        asdict(
            AgentRecord(
                proc.pid, endpoint, region, fingerprint(), time.time(), str(repo_root or "")
            )
        ),
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            (local_dir / AGENT_FILE).unlink(missing_ok=True)
            raise VpclabError(
                f"the local agent exited at start: {_last_line(local_dir)}",
                f"see {local_dir / LOG_FILE}",
            )
        if (read_json(local_dir / STATUS_FILE) or {}).get("pid") == proc.pid:
            return proc.pid
        time.sleep(0.05)
    raise VpclabError("the local agent did not report within 20 s", f"see {local_dir / LOG_FILE}")


def _last_line(local_dir: Path) -> str:
    try:
        lines = (local_dir / LOG_FILE).read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1] if lines else "no log"


def _last_status(local_dir: Path) -> AgentStatus | None:
    data = read_json(local_dir / STATUS_FILE)
    if not isinstance(data, dict):
        return None
    try:
        return AgentStatus.from_dict(data)
    except (TypeError, KeyError, ValueError):
        return None


def stop(local_dir: Path, timeout: float = 20.0) -> bool:
    """Stop the agent (SIGTERM: it stops every host and removes every namespace it made, the
    ones it adopted too).

    Returns whether it was running. Labs it reported are swept with `force_down` afterwards,
    in case it had to be killed.
    """
    local_dir = Path(local_dir).resolve()
    record = running(local_dir)
    last = _last_status(local_dir)
    if record and not _signal_and_wait(record.pid, signal.SIGTERM, timeout):
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, signal.SIGKILL)
        _reap(record.pid)
    for lab in last.labs.values() if last else ():
        cleanup.force_down(lab.lab_id)
    for name in (AGENT_FILE, STATUS_FILE):
        (local_dir / name).unlink(missing_ok=True)
    handover.discard(local_dir)  # a full stop: nothing is left to adopt
    return record is not None


def _signal_and_wait(pid: int, signum: int, timeout: float) -> bool:
    """Signal the agent and wait until it has exited; False if it still runs after `timeout`."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
    deadline = time.monotonic() + timeout
    while is_agent(pid) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.02)
    return not is_agent(pid)


def hand_over(local_dir: Path, timeout: float = 60.0) -> bool:
    """Make the agent exit for new code, leaving its hosts running for the next agent to
    adopt (SIGUSR1). False, and it still runs, when it did not exit in time."""
    local_dir = Path(local_dir).resolve()
    record = running(local_dir)
    if record is None:
        return False
    # It waits for boots under way before it writes the hand-over: allow for one.
    if not _signal_and_wait(record.pid, signal.SIGUSR1, timeout):
        return False
    (local_dir / AGENT_FILE).unlink(missing_ok=True)  # its status stays: the ports in it
    return True


def _reap(pid: int) -> None:
    # The agent is our child only when this process started it (tests, benchmarks).
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def status(local_dir: Path) -> AgentStatus | None:
    """The agent's last status, or None when it is not running."""
    local_dir = Path(local_dir).resolve()
    record = running(local_dir)
    if not record:
        return None
    current = _last_status(local_dir)
    if current and current.pid == record.pid:
        return current
    return AgentStatus(pid=record.pid, endpoint=record.endpoint, region=record.region)


def _check_lab(local_dir: Path, lab: str, st: LabStatus) -> str | None:
    """What the lab still waits for, or None when it is up; raises on a failed host."""
    failed = {n: h.error for n, h in st.hosts.items() if h.error}
    if failed:
        name, why = next(iter(failed.items()))
        raise VpclabError(
            f"lab {lab}: host {name} did not boot: {why}",
            f"see {Path(local_dir) / LOG_FILE} and the host's console.log",
        )
    if st.services.state == "failed":
        raise VpclabError(
            f"lab {lab}: the internet services failed: {st.services.error}",
            f"see {Path(local_dir) / LOG_FILE}",
        )
    down = sorted(n for n, h in st.hosts.items() if not h.booted)
    if st.services.state == "starting":
        down.append("internet services")
    if down:
        return f"not up yet: {', '.join(down)}"
    if st.errors:
        return f"errors: {'; '.join(st.errors)}"
    return None


def wait_converged(local_dir: Path, lab: str, timeout: float = 30.0) -> LabStatus | None:
    """Block until a loop that started after this call has finished with every running
    instance of `lab` booted. Returns the lab's status (None: the lab has nothing here).

    Raises VpclabError on timeout, on a host that failed to boot, and within a few seconds
    when the control plane does not answer (naming its endpoint)."""
    asked = time.time()
    deadline = time.monotonic() + timeout
    pending = "no loop of the agent has finished yet"
    while True:
        current = status(local_dir)
        if current is None:
            raise VpclabError("the local agent is not running", "run 'vpclab local start'")
        if current.loop_started > asked:
            if current.control_plane_error:
                if time.time() - asked > NO_ANSWER_GRACE:
                    raise VpclabError(
                        f"the control plane at {current.endpoint} does not answer "
                        f"({current.control_plane_error})",
                        "start it ('vpclab local start') or fix AWS_ENDPOINT_URL",
                    )
                pending = f"the control plane did not answer ({current.control_plane_error})"
            else:
                lab_status = current.labs.get(lab)
                if lab_status is None:
                    return None
                pending = _check_lab(local_dir, lab, lab_status) or ""
                if not pending:
                    return lab_status
        if time.monotonic() > deadline:
            raise VpclabError(
                f"lab {lab}: the local data plane did not converge in {timeout:.0f} s ({pending})",
                f"see {Path(local_dir) / LOG_FILE}",
            )
        time.sleep(0.05)


def wait_applied(local_dir: Path, endpoint: str, timeout: float = 10.0) -> AgentStatus | None:
    """Block until the agent has applied every change the control plane had made at the
    time of this call, so a checker reads its own writes. Returns the status then, or the
    last one seen after `timeout` (None: no agent).

    The project's moto server counts its changes; the agent records the count it planned
    from. With a control plane that does not count (an external moto), wait for a loop
    that started after this call instead."""
    asked = time.time()
    target = motoserver.mutations(endpoint)
    deadline = time.monotonic() + timeout
    while True:
        current = status(local_dir)
        if current is None:
            return None
        if target is not None and current.applied is not None:
            if current.applied >= target and current.generation > 0:
                return current
        elif current.loop_started > asked and current.generation > 0:
            return current
        if time.monotonic() > deadline:
            return current
        time.sleep(0.02)


def agents() -> dict[int, Path]:
    """Every agent running on this machine (pid -> its state folder), whoever started it."""
    found = {}
    for pid in procfs.pids():
        argv = procfs.cmdline(pid).split(b"\0")
        if DAEMON.encode() in argv and b"--local-dir" in argv:
            at = argv.index(b"--local-dir") + 1
            if at < len(argv):
                found[pid] = Path(argv[at].decode(errors="replace"))
    return found


def stop_all() -> list[int]:
    """Stop every agent on this machine (`vpclab local down --all`). Returns their pids."""
    stopped = []
    for pid, local_dir in agents().items():
        record = running(local_dir)
        if record and record.pid == pid:
            stop(local_dir)
        else:  # not the one its folder records: stop it by its pid alone
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 20
            while is_agent(pid) and time.monotonic() < deadline:
                _reap(pid)
                time.sleep(0.02)
        stopped.append(pid)
    return stopped
