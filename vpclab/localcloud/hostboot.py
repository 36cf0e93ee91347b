"""Boot a local host: its own sshd and user data, in a network namespace the agent made.

A host is `unshare` (new mount, UTS and PID namespaces) running `view.sh`, which gives the
host its own view of the filesystem and then execs sshd as the namespace's PID 1. The
machine's software is the "local image"; every write lands under the host's folder:

    HOST_DIR/upper/{etc,var,usr}   overlay upper layers (what the host changed)
    HOST_DIR/work/{etc,var,usr}    overlay work directories
    HOST_DIR/{home,root,opt,srv,tmp,log}   bound onto /home, /root, ... and /var/log
    HOST_DIR/console.log           sshd's log and the boot messages, like a console

Stopping a host is SIGKILL to `unshare`: it blocks SIGTERM, and its death ends the whole PID
namespace (`--kill-child`), so no process of the host survives it.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from vpclab.errors import VpclabError
from vpclab.localcloud.netns_socket import connect_in

VIEW_SCRIPT = Path(__file__).with_name("view.sh")
SSHD = "/usr/sbin/sshd"
USER = "ubuntu"
UID = GID = 1000
HOST_KEY = "/etc/ssh/vpclab_host_ed25519_key"
SSHD_DROPIN = "/etc/ssh/sshd_config.d/00-vpclab.conf"
SUDOERS = "/etc/sudoers.d/90-cloud-init-users"
CLOUD_DIR = "/var/lib/cloud/instance"
PREPARED = "first-boot-done"  # in the host folder: the identity is written
OVERLAID = ("etc", "var", "usr")
BOUND = ("home", "root", "opt", "srv", "tmp", "log")
# Folders the view covers: a host folder under one of them would be hidden from itself.
COVERED = ("/etc", "/var", "/usr", "/run", "/dev/shm", "/proc")
HOST_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
}


@dataclass(frozen=True)
class HostSpec:
    netns: str
    host_dir: Path
    hostname: str
    authorized_key: str | None  # the key pair's OpenSSH public key line; None: no key pair
    user_data: bytes | None = None


@dataclass
class BootedHost:
    spec: HostSpec
    process: subprocess.Popen[bytes]
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
            # The host's init first: the kernel ends every process of its PID namespace and
            # unshare reaps it, then dies of the same signal. (Killing unshare first works
            # too, but leaves the init a zombie for the machine's init to collect.)
            if self.sshd_pid is not None and _ppid(self.sshd_pid) == self.pid:
                try:
                    os.kill(self.sshd_pid, signal.SIGKILL)
                    self.process.wait(2)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
            if self.process.poll() is None:
                try:
                    self.process.send_signal(signal.SIGKILL)
                except ProcessLookupError:
                    pass
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            raise VpclabError(
                f"host {self.spec.hostname} (pid {self.pid}) did not stop",
                "check `ps` for a process stuck in the kernel",
            ) from exc
        # PID 1 of the host dies with unshare; wait for it too, so the namespace is empty.
        if self.sshd_pid is not None:
            _wait_gone(self.sshd_pid, None, timeout)
        _pid_file(self.spec.host_dir).unlink(missing_ok=True)

    def user_data_done(self) -> bool:
        return (_upper(self.spec.host_dir, CLOUD_DIR) / "boot-finished").exists()

    def user_data_status(self) -> int | None:
        """The user data's exit status, or None while it runs (or when there was none)."""
        rc = _upper(self.spec.host_dir, CLOUD_DIR) / "user-data.rc"
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
        """argv that runs a command inside the running host (its view, PID and network
        namespaces), as root, without SSH: for the agent's own checks and debugging."""
        if self.sshd_pid is None:
            raise VpclabError(f"host {self.spec.hostname} has no init process to enter")
        return ["nsenter", "-t", str(self.sshd_pid), "-a", *(argv or ("/bin/sh",))]

    def console_output(self) -> str:
        return (self.spec.host_dir / "console.log").read_text(errors="replace")


def log_path(host_dir: Path) -> Path:
    """Where the host's /var/log/cloud-init-output.log is, seen from outside."""
    return host_dir / "log" / "cloud-init-output.log"


def boot(spec: HostSpec, *, timeout: float = 10.0) -> BootedHost:
    """Prepare the host's folder (first boot) or reuse it (reboot), then start the host.

    Returns once sshd is PID 1 of the host; use `wait_ssh` for the moment it answers.
    """
    _check_root()
    host_dir = spec.host_dir.resolve()
    _check_host_dir(host_dir)
    stop_stale(host_dir)  # never two hosts on one folder
    if not Path("/run/netns", spec.netns).exists():
        raise VpclabError(
            f"network namespace {spec.netns} does not exist",
            "the agent creates it before booting the host",
        )
    public_key = prepare(spec)
    console = open(host_dir / "console.log", "ab")  # the child inherits it
    console.write(_console_banner(spec.hostname, public_key).encode())
    console.flush()
    argv = [
        "ip",
        "netns",
        "exec",
        spec.netns,
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--uts",
        "--pid",
        "--fork",
        "--mount-proc",
        "--kill-child",
        "/bin/sh",
        str(VIEW_SCRIPT),
        str(host_dir),
        spec.hostname,
        SSHD,
        "-D",
        "-e",
    ]
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
    _pid_file(host_dir).write_text(f"{proc.pid} {_start_time(proc.pid)}\n")
    host.sshd_pid = _wait_for_sshd(host, timeout)
    return host


def stop_stale(host_dir: Path, timeout: float = 10.0) -> bool:
    """Stop a host that an earlier agent booted from `host_dir` and lost track of.

    Trusts the recorded pid only if that process is still the same `unshare` (same start
    time), so a reused pid is never killed. Returns True if a host was stopped.
    """
    pid_file = _pid_file(host_dir.resolve())
    try:
        pid_text, start = pid_file.read_text().split()
        pid = int(pid_text)
    except (FileNotFoundError, ValueError):
        return False
    stopped = False
    if _start_time(pid) == start and _comm(pid) == "unshare":
        try:
            for child in _children(pid):  # the host's init first, as in BootedHost.stop
                os.kill(child, signal.SIGKILL)
            os.kill(pid, signal.SIGKILL)
            stopped = True
        except ProcessLookupError:
            pass
        _wait_gone(pid, start, timeout)
    pid_file.unlink(missing_ok=True)
    return stopped


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


def prepare(spec: HostSpec) -> str:
    """Lay out the host's folder and write its identity into the upper /etc.

    Like cloud-init's per-instance modules, the identity (accounts, sudoers, hostname, hosts,
    host key, sshd settings, authorized key) is written on the first boot only: a reboot
    keeps whatever the host changed since (a user added, a deploy key authorized).
    Returns the host's public key line.
    """
    h = spec.host_dir.resolve()
    key = (spec.authorized_key or "").strip()
    if key and not key.startswith(("ssh-", "ecdsa-", "sk-")):
        raise VpclabError(
            "the authorized key is not an OpenSSH public key line",
            "pass the key pair's public key, e.g. 'ssh-ed25519 AAAA...'",
        )
    h.mkdir(parents=True, exist_ok=True)
    os.chmod(h, 0o755)
    for d in OVERLAID:
        _mkdir_like(h / "upper" / d, Path("/", d))
        (h / "work" / d).mkdir(parents=True, exist_ok=True)
    for d in ("home", "opt", "srv"):
        _mkdir_like(h / d, Path("/", d))
    _mkdir(h / "root", 0o700)
    _mkdir(h / "tmp", 0o1777)
    if not (h / "log").exists():
        _copy_tree_dirs(Path("/var/log"), h / "log")
    # No resolver in the lab: fail lookups at once instead of sending them to the machine's.
    _write(h, "/etc/resolv.conf", "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n", 0o644)

    prepared = h / PREPARED
    if not prepared.exists():
        _write_accounts(h / "upper" / "etc")
        _write(h, SUDOERS, f"{USER} ALL=(ALL) NOPASSWD:ALL\n", 0o440)
        _write(h, "/etc/hostname", f"{spec.hostname}\n", 0o644)
        _write(h, "/etc/hosts", _hosts_file(spec.hostname), 0o644)
        _write(h, "/etc/machine-id", uuid.uuid4().hex + "\n", 0o444)
        _write(h, SSHD_DROPIN, _sshd_settings(), 0o644)
        home = h / "home" / USER
        _mkdir(home, 0o750, UID, GID)
        _mkdir(home / ".ssh", 0o700, UID, GID)
        _write_file(home / ".ssh" / "authorized_keys", f"{key}\n" if key else "", 0o600, UID, GID)
    public_key = _host_key(h, spec.hostname)

    cloud = _upper(h, CLOUD_DIR)
    for sub in ("", "scripts", "sem"):
        _mkdir(cloud / sub, 0o755)
    if spec.user_data is not None and not (cloud / "sem" / "user-data").exists():
        _write_file(cloud / "user-data.txt", spec.user_data, 0o600)
    prepared.write_text(f"{spec.hostname}\n")
    return public_key


# --- the pieces of a host's identity -----------------------------------------------------


def _write_accounts(etc: Path) -> None:
    """passwd, group, shadow and gshadow: the machine's own, plus `ubuntu` as uid 1000."""
    passwd = _keep(Path("/etc/passwd"), lambda f: f[0] != USER and f[2] != str(UID))
    passwd.append(f"{USER}:x:{UID}:{GID}:Ubuntu:/home/{USER}:/bin/bash")
    names = {line.split(":")[0] for line in _read_lines(Path("/etc/passwd"))}
    dropped = names - {line.split(":")[0] for line in passwd}

    def group_entry(fields: list[str], member_index: int) -> str:
        members = [m for m in fields[member_index].split(",") if m and m not in dropped]
        if fields[0] in ("sudo", "adm") and USER not in members:
            members.append(USER)
        fields[member_index] = ",".join(members)
        return ":".join(fields)

    groups = [
        group_entry(line.split(":"), 3)
        for line in _keep(Path("/etc/group"), lambda f: f[0] != USER and f[2] != str(GID))
    ]
    groups.append(f"{USER}:x:{GID}:")
    kept_groups = {g.split(":")[0] for g in groups}

    shadow = _keep(Path("/etc/shadow"), lambda f: f[0] not in dropped and f[0] != USER)
    # "*": no password can ever match, yet the account is not "locked" for key logins.
    shadow.append(f"{USER}:*:{int(time.time()) // 86400}:0:99999:7:::")
    gshadow = [
        group_entry(line.split(":"), 3)
        for line in _keep(Path("/etc/gshadow"), lambda f: f[0] in kept_groups and f[0] != USER)
    ]
    gshadow.append(f"{USER}:!::")

    _write_file(etc / "passwd", "\n".join(passwd) + "\n", 0o644)
    _write_file(etc / "group", "\n".join(groups) + "\n", 0o644)
    shadow_gid = _gid("shadow")
    _write_file(etc / "shadow", "\n".join(shadow) + "\n", 0o640, 0, shadow_gid)
    _write_file(etc / "gshadow", "\n".join(gshadow) + "\n", 0o640, 0, shadow_gid)


def _host_key(h: Path, hostname: str) -> str:
    """The host's ed25519 key: made on first boot, kept across reboots, like an instance."""
    private = _upper(h, HOST_KEY)
    public = private.with_name(private.name + ".pub")
    if private.exists() and public.exists():
        return public.read_text().strip()
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    line = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    line = f"{line} root@{hostname}"
    _write(h, HOST_KEY, pem, 0o600)
    _write(h, HOST_KEY + ".pub", line + "\n", 0o644)
    return line


def _sshd_settings() -> str:
    # Read before the machine's sshd_config (first value wins); HostKey names our key only,
    # so the machine's own host keys are never offered.
    return (
        f"HostKey {HOST_KEY}\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "PermitRootLogin no\n"
        "PubkeyAuthentication yes\n"
        "UseDNS no\n"
        "PrintMotd no\n"
    )


def _hosts_file(hostname: str) -> str:
    return (
        f"127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    )


def _console_banner(hostname: str, public_key: str) -> str:
    # The same block cloud-init prints on AWS, so one parser reads both targets.
    return (
        "-----BEGIN SSH HOST KEY KEYS-----\n"
        f"{public_key}\n"
        "-----END SSH HOST KEY KEYS-----\n"
        f"vpclab: booting {hostname}\n"
    )


# --- helpers -------------------------------------------------------------------------------


def _check_root() -> None:
    if os.geteuid() != 0:
        raise VpclabError(
            "booting a local host needs root", "run the local target as root, or use --target aws"
        )


def _check_host_dir(h: Path) -> None:
    for top in COVERED:
        if h == Path(top) or Path(top) in h.parents:
            raise VpclabError(
                f"host folder {h} is under {top}, which the host's view covers",
                "keep the state folder elsewhere (set VPCLAB_STATE)",
            )


def _upper(h: Path, path: str) -> Path:
    """Where a path of the host's view lives in the host's folder (overlaid trees only)."""
    rel = Path(path).relative_to("/")
    if rel.parts[:2] == ("var", "log"):
        return h / "log" / Path(*rel.parts[2:])
    return h / "upper" / rel


def _write(h: Path, path: str, data: str | bytes, mode: int) -> None:
    target = _upper(h, path)
    top = h / "upper" / Path(path).parts[1]
    real = Path("/", Path(path).parts[1])
    # Create missing parents with the real directory's owner and mode, so the merged view
    # of e.g. /etc/ssh looks the same as the real one.
    for parent in reversed(target.parent.relative_to(top).parents):
        _mkdir_like(top / parent, real / parent)
    _mkdir_like(target.parent, real / target.parent.relative_to(top))
    _write_file(target, data, mode)


def _write_file(path: Path, data: str | bytes, mode: int, uid: int = 0, gid: int = 0) -> None:
    raw = data.encode() if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.vpclab-tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, raw)
        os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _mkdir(path: Path, mode: int, uid: int = 0, gid: int = 0) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, uid, gid)
    os.chmod(path, mode)


def _mkdir_like(path: Path, like: Path) -> None:
    try:
        st = like.stat()
    except FileNotFoundError:
        _mkdir(path, 0o755)
        return
    _mkdir(path, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)


def _copy_tree_dirs(src: Path, dst: Path) -> None:
    """The real /var/log's folders, owners and modes, without a single file."""
    for root, dirs, _files in os.walk(src):
        rel = Path(root).relative_to(src)
        _mkdir_like(dst / rel, Path(root))
        for d in list(dirs):
            if (Path(root) / d).is_symlink():
                dirs.remove(d)


def _read_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip()]


def _keep(path: Path, pred: Callable[[list[str]], bool]) -> list[str]:
    return [line for line in _read_lines(path) if pred(line.split(":"))]


def _gid(group: str) -> int:
    for line in _read_lines(Path("/etc/group")):
        fields = line.split(":")
        if fields[0] == group:
            return int(fields[2])
    return 0


def _pid_file(host_dir: Path) -> Path:
    return host_dir / "host.pid"


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks (field 22 of /proc/PID/stat), or None."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return stat_line.rsplit(")", 1)[1].split()[19]


def _comm(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except FileNotFoundError:
        return None


def _wait_gone(pid: int, start: str | None, timeout: float) -> None:
    """Wait until pid has exited, for a process that is not our child.

    A zombie counts as gone: its reaper is not us. A PID namespace's init becomes a zombie
    only after every other process of the namespace has exited.
    """
    deadline = time.monotonic() + timeout
    while True:
        now = _start_time(pid)
        if now is None or (start is not None and now != start) or _stat_state(pid) == "Z":
            return
        if time.monotonic() > deadline:
            raise VpclabError(
                f"process {pid} of a local host did not exit",
                "check `ps` for a process stuck in the kernel",
            )
        time.sleep(0.005)


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def _ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def _stat_state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def _wait_for_sshd(host: BootedHost, timeout: float) -> int:
    """The host's PID 1 in the root PID namespace, once it has become sshd."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not host.alive():
            raise VpclabError(
                f"host {host.spec.hostname} failed to boot (exit status {host.process.returncode})",
                f"see {host.spec.host_dir / 'console.log'}",
            )
        pids = _children(host.pid)
        if pids:
            pid = pids[0]
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == "sshd":
                    return pid
            except FileNotFoundError:
                pass
        time.sleep(0.002)
    host.stop()
    raise VpclabError(
        f"host {host.spec.hostname} did not start sshd in {timeout:.0f} s",
        f"see {host.spec.host_dir / 'console.log'}",
    )
