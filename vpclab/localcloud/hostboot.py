"""Boot a local host: its own sshd and user data, in a network namespace the agent made.

A host is a container run by `crun` (see `hostoci` for what it sees and why): its own user,
mount, PID, UTS, IPC and cgroup namespaces, the network namespace the agent made, and
`hostinit.sh` as PID 1, which starts the user data and then execs sshd. The machine's
software is the "local image", read-only; every write lands under the host's folder.

Stopping a host is SIGKILL to its init: the kernel ends the whole PID namespace, and
`crun run` then removes the container and exits.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from vpclab.errors import VpclabError
from vpclab.localcloud import hostoci, hostprocs, procfs
from vpclab.localcloud.hostfs import (
    HOST_KEY,
    HostSpec,
    check_host_dir,
    cloud_dir,
    console_banner,
    log_path,
    prepare,
)
from vpclab.localcloud.hostprocs import stop_stale
from vpclab.localcloud.netns_socket import connect_in
from vpclab.localcloud.orphans import AdoptedProcess

__all__ = ["HOST_KEY", "BootedHost", "HostSpec", "boot", "log_path", "stop_stale", "wait_ssh"]

SSHD = "/usr/sbin/sshd"


def kit_dirs() -> list[str]:
    """The kit's project folder, its venv and the venv's Python when it is not the machine's
    /usr one: what the Jenkins host needs to run the kit's vpclab (Verify)."""
    found = {Path(__file__).resolve().parents[2], Path(sys.prefix).resolve()}
    base = Path(sys.base_prefix).resolve()
    if base != Path("/usr") and Path("/usr") not in base.parents:
        found.add(base)
    ordered = sorted(found)
    # A folder inside another one is already in view.
    return [str(d) for d in ordered if not any(o in d.parents for o in ordered)]


HOST_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
}


@dataclass
class BootedHost:
    spec: HostSpec
    process: subprocess.Popen[bytes] | AdoptedProcess  # adopted: an earlier agent booted it
    host_public_key: str
    sshd_pid: int | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """Kill the host's PID namespace. Safe to call twice."""
        if self.process.poll() is None:
            # The host's init: the kernel ends every process of its PID namespace, then
            # `crun run` removes the container and exits. (Killing crun alone would leave the
            # host running.)
            init = procfs.stat(self.sshd_pid) if self.sshd_pid is not None else None
            if init is not None and init.ppid == self.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.sshd_pid, signal.SIGKILL)
            else:
                subprocess.run(hostoci.kill_argv(self.spec.netns), capture_output=True)
            try:
                self.process.wait(2)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.process.send_signal(signal.SIGKILL)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            raise VpclabError(
                f"host {self.spec.hostname} (pid {self.pid}) did not stop",
                "check `ps` for a process stuck in the kernel",
            ) from exc
        # The host's PID 1 is reaped by crun; wait for it too, so the namespace is empty.
        if self.sshd_pid is not None:
            hostprocs.wait_gone(self.sshd_pid, None, timeout)
        hostprocs.forget(self.spec.host_dir)
        hostoci.forget(self.spec.netns)  # crun's state (if crun was killed), bundle, ids

    def user_data_done(self) -> bool:
        return (cloud_dir(self.spec.host_dir) / "boot-finished").exists()

    def user_data_status(self) -> int | None:
        """The user data's exit status, or None while it runs (or when there was none)."""
        rc = cloud_dir(self.spec.host_dir) / "user-data.rc"
        try:
            return int(rc.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def wait_user_data(self, timeout: float = 300.0) -> int | None:
        deadline = time.monotonic() + timeout
        while not self.user_data_done():
            if not self.alive():
                raise VpclabError(
                    f"host {self.spec.hostname} died while its user data ran",
                    f"see {self.spec.host_dir / 'console.log'}",
                )
            if time.monotonic() > deadline:
                raise VpclabError(
                    f"user data on {self.spec.hostname} still running after {timeout:.0f} s",
                    f"see {log_path(self.spec.host_dir)}",
                )
            time.sleep(0.05)
        return self.user_data_status()

    def enter_command(self, *argv: str) -> list[str]:
        """argv that runs a command inside the running host as its root (its namespaces,
        capabilities and seccomp filter), without SSH: for the agent's checks and debugging."""
        if self.sshd_pid is None:
            raise VpclabError(f"host {self.spec.hostname} has no init process to enter")
        return hostoci.exec_argv(self.spec.netns, argv or ("/bin/sh",))

    def console_output(self) -> str:
        return (self.spec.host_dir / "console.log").read_text(errors="replace")


def boot(spec: HostSpec, *, timeout: float = 10.0) -> BootedHost:
    """Prepare the host's folder (first boot) or reuse it (reboot), then start the host.

    Returns once sshd is PID 1 of the host and listens on port 22 (a host reported booted
    takes connections at once; `wait_ssh` waits for the banner as a client sees it).
    """
    _check_root()
    host_dir = spec.host_dir.resolve()
    check_host_dir(host_dir)
    stop_stale(host_dir)  # never two hosts on one folder
    if not Path("/run/netns", spec.netns).exists():
        raise VpclabError(
            f"network namespace {spec.netns} does not exist",
            "the agent creates it before booting the host",
        )
    public_key = prepare(spec)
    console = open(host_dir / "console.log", "ab")  # the child inherits it
    console.write(console_banner(spec.hostname, public_key).encode())
    console.flush()
    hostoci.delete_stale(spec.netns)
    layout = hostoci.HostLayout(
        netns=spec.netns,
        hostname=spec.hostname,
        host_dir=host_dir,
        uid_base=hostoci.claim_ids(spec.netns),
        args=(SSHD, "-D", "-e"),
        env=HOST_ENV,
        kit=tuple(kit_dirs()) if spec.kit else (),
    )
    hostoci.write_bundle(layout)
    hostoci.set_netns_sysctls(spec.netns)
    argv = hostoci.run_argv(spec.netns)
    try:
        # A new session: a Ctrl-C meant for the agent's terminal must not reach the host.
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            env=HOST_ENV,
            cwd="/",
            start_new_session=True,
        )
    finally:
        console.close()
    host = BootedHost(spec=spec, process=proc, host_public_key=public_key)
    # Recorded so a later agent (after a crash) can find and stop this host: stop_stale.
    hostprocs.record(host_dir, proc.pid)
    host.sshd_pid = _wait_for_sshd(host, timeout)
    _wait_listening(host, host.sshd_pid, timeout)
    return host


def wait_ssh(netns: str | None, ip: str, timeout: float = 10.0, port: int = 22) -> float:
    """Wait until sshd at ip:port answers with its banner, seen from `netns`.

    Returns the seconds waited. Raises VpclabError on timeout.
    """
    start = time.monotonic()
    deadline = start + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with connect_in(
                netns, (ip, port), timeout=max(0.05, deadline - time.monotonic())
            ) as sock:
                sock.settimeout(max(0.05, deadline - time.monotonic()))
                if sock.recv(8).startswith(b"SSH-"):
                    return time.monotonic() - start
        except OSError as exc:
            last = exc
        time.sleep(0.005)
    raise VpclabError(
        f"no SSH server at {ip}:{port} after {timeout:.0f} s ({last})",
        "see the host's console.log in its folder",
    )


def _check_root() -> None:
    if os.geteuid() != 0:
        raise VpclabError(
            "booting a local host needs root", "run the local target as root, or use --target aws"
        )
    reason = hostoci.unsupported_reason()
    if reason:
        raise VpclabError(reason, "run the local target on a newer machine, or use --target aws")


def _wait_listening(host: BootedHost, sshd_pid: int, timeout: float) -> None:
    """sshd execs before it binds: on a busy machine a client in between is refused."""
    deadline = time.monotonic() + timeout
    while not procfs.listening(sshd_pid, 22):
        if time.monotonic() > deadline or not host.alive():
            host.stop()
            raise VpclabError(
                f"host {host.spec.hostname}: sshd did not listen on port 22 in {timeout:.0f} s",
                f"see {host.spec.host_dir / 'console.log'}",
            )
        time.sleep(0.005)


def _wait_for_sshd(host: BootedHost, timeout: float) -> int:
    """The host's PID 1 in the root PID namespace, once it has become sshd."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not host.alive():
            hostprocs.forget(host.spec.host_dir)
            hostoci.forget(host.spec.netns)
            raise VpclabError(
                f"host {host.spec.hostname} failed to boot (exit status {host.process.returncode})",
                f"see {host.spec.host_dir / 'console.log'}",
            )
        pids = procfs.children(host.pid)
        if pids:
            pid = pids[0]
            if procfs.comm(pid) == "sshd":
                return pid
        time.sleep(0.002)
    host.stop()
    raise VpclabError(
        f"host {host.spec.hostname} did not start sshd in {timeout:.0f} s",
        f"see {host.spec.host_dir / 'console.log'}",
    )
