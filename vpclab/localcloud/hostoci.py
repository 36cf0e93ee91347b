"""A local host as an OCI container run by `crun`: the bundle (a skeleton root and its
config.json) and the user-id slice each host gets.

Why crun: it is in Debian, starts in milliseconds (a C binary, no daemon), and supports
ID-mapped mounts, which let a host's root own the machine's files in its view while being an
unprivileged user on the machine. bubblewrap has no ID-mapped mounts; runc is slower to start.

What a host sees, and why each piece:
- its own user namespace: root inside is `uid_base` outside, a slice of 65536 ids high in the
  id space (one slice per host, never shared while the host runs);
- `pivot_root` into a read-only skeleton under /run/vpclab/hosts/<netns>: only the machine's
  /usr, /etc and /var, each the read-only (ID-mapped) lower layer of an overlay whose upper
  layer is in the host's folder, and the host's own /home, /root, /opt, /srv, /tmp, /var/log;
- no checkout, no state folder, no real /run, no block device, /proc/sys and /sys read-only;
- Docker's default capabilities (no CAP_SYS_ADMIN: no mount, no umount) and a seccomp filter
  that refuses the syscalls Docker's default profile refuses to a container like this one.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vpclab.localcloud.hostseccomp import seccomp
from vpclab.localcloud.netns_socket import run_in

RUN_DIR = Path("/run/vpclab")
CRUN_ROOT = RUN_DIR / "crun"  # crun's own state: kept apart from any other crun user
BUNDLES = RUN_DIR / "hosts"
SLOT_DIR = RUN_DIR / "idmap"
HOSTINIT = Path(__file__).with_name("hostinit.sh")
INIT_PATH = "/.vpclab-init.sh"  # in the skeleton root (read-only)
STAGE = "/.vpclab"  # where the overlay layers are staged, hidden once mounted

BAND_START = 1 << 30  # ids 2^30 .. 2^31: far above any real user or rootless range
IDS_PER_HOST = 65536
SLOTS = (1 << 30) // IDS_PER_HOST
MIN_KERNEL = (5, 19)  # overlayfs on ID-mapped layers
MIN_CRUN = (1, 8)

OVERLAID = ("usr", "etc", "var")
OWN = ("home", "root", "opt", "srv", "tmp")  # bound from the host's folder
# Empty folders of the skeleton: mount points, or just there as on a real machine.
SKELETON = ("proc", "sys", "dev", "run", "mnt", "boot", "media", "var", *OVERLAID, *OWN)

DEFAULT_CAPS = (  # Docker's default set
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)
MASKED = (  # Docker's masked paths, plus the staging folder
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
    STAGE,
)
READONLY = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
# The network namespace belongs to the machine's user namespace, so the host's root has no
# network capability in it: let anyone in it bind ports below 1024 (sshd, nginx) and ping.
NETNS_SYSCTLS = {
    "net/ipv4/ip_unprivileged_port_start": "0",
    "net/ipv4/ping_group_range": "0 2147483647",
}


@dataclass(frozen=True)
class HostLayout:
    """What one host's container is made of."""

    netns: str
    hostname: str
    host_dir: Path
    uid_base: int
    args: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    kit: tuple[str, ...] = ()  # read-only views of the kit's folders (the Jenkins host only)

    @property
    def bundle(self) -> Path:
        return bundle_dir(self.netns)


def bundle_dir(netns: str) -> Path:
    return BUNDLES / netns


def container_id(netns: str) -> str:
    return netns


# --- support ---------------------------------------------------------------------------


def _version(text: str) -> tuple[int, ...]:
    found = re.search(r"(\d+)\.(\d+)", text)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


@functools.cache
def unsupported_reason() -> str | None:
    """Why hosts cannot run as containers here (one line), or None. Asked once a process."""
    kernel = _version(os.uname().release)
    if kernel < MIN_KERNEL:
        return (
            f"local hosts need Linux >= {MIN_KERNEL[0]}.{MIN_KERNEL[1]} for ID-mapped overlay "
            f"layers (this is {os.uname().release})"
        )
    crun = shutil.which("crun")
    if crun is None:
        return "the 'crun' command is missing (install the crun package: scripts/bootstrap.sh)"
    out = subprocess.run([crun, "--version"], capture_output=True, text=True).stdout
    found = _version(out.splitlines()[0] if out else "")
    if found < MIN_CRUN:
        return f"crun >= {MIN_CRUN[0]}.{MIN_CRUN[1]} is needed (found {'.'.join(map(str, found))})"
    return None


# --- user-id slices ----------------------------------------------------------------------


def claim_ids(netns: str) -> int:
    """The first host id of this host's slice, held in /run/vpclab/idmap/<slot> until
    `release_ids`. A slice whose owner's network namespace is gone is taken over."""
    SLOT_DIR.mkdir(parents=True, exist_ok=True)
    start = int.from_bytes(hashlib.sha256(netns.encode()).digest()[:4], "big") % SLOTS
    for i in range(SLOTS):
        slot = (start + i) % SLOTS
        path = SLOT_DIR / str(slot)
        for _ in range(2):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                owner = _read(path)
                if owner == netns:
                    return BAND_START + slot * IDS_PER_HOST
                if owner and Path("/run/netns", owner).exists():
                    break  # in use: next slot
                path.unlink(missing_ok=True)  # stale: try again
                continue
            with os.fdopen(fd, "w") as f:
                f.write(netns)
            return BAND_START + slot * IDS_PER_HOST
    raise RuntimeError("no free user-id slice for a local host")


def release_ids(netns: str) -> None:
    for path in SLOT_DIR.glob("*") if SLOT_DIR.exists() else ():
        if _read(path) == netns:
            path.unlink(missing_ok=True)


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


# --- the bundle --------------------------------------------------------------------------


def write_bundle(layout: HostLayout) -> Path:
    """The skeleton root (empty folders, the machine's top-level links, the init script) and
    config.json. Everything in it is made fresh on each boot; the host's data is elsewhere."""
    bundle = layout.bundle
    if bundle.exists():
        shutil.rmtree(bundle)
    root = bundle / "root"
    root.mkdir(parents=True, mode=0o755)
    for name in SKELETON:
        (root / name).mkdir(exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    os.chmod(root / "root", 0o700)
    for d in ("h", *(f"l/{d}" for d in OVERLAID)):
        (root / STAGE[1:] / d).mkdir(parents=True)
    for name, target in top_links().items():
        os.symlink(target, root / name)
    for d in layout.kit:
        (root / d.lstrip("/")).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(HOSTINIT, root / INIT_PATH[1:])
    os.chmod(root / INIT_PATH[1:], 0o755)
    (bundle / "config.json").write_text(json.dumps(config(layout), indent=1))
    return bundle


def remove_bundle(netns: str) -> None:
    shutil.rmtree(bundle_dir(netns), ignore_errors=True)


def top_links() -> dict[str, str]:
    """The machine's merged-/usr links (/bin -> usr/bin ...), so the skeleton has the same."""
    links = {}
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/", name)
        if path.is_symlink():
            links[name] = os.readlink(path)
    return links


def config(layout: HostLayout) -> dict[str, Any]:
    """The OCI runtime config of one host."""
    idmap = [{"containerID": 0, "hostID": layout.uid_base, "size": IDS_PER_HOST}]
    caps = list(DEFAULT_CAPS)
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": ["/bin/sh", INIT_PATH, *layout.args],
            "env": [f"{k}={v}" for k, v in layout.env.items()],
            "cwd": "/",
            "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
            # sudo is setuid: no_new_privs would break it (root inside is unprivileged anyway).
            "noNewPrivileges": False,
        },
        "root": {"path": "root", "readonly": True},
        "hostname": layout.hostname,
        "mounts": mounts(layout),
        "linux": {
            "uidMappings": idmap,
            "gidMappings": idmap,
            "namespaces": [
                {"type": "pid"},
                {"type": "network", "path": f"/var/run/netns/{layout.netns}"},
                {"type": "ipc"},
                {"type": "uts"},
                {"type": "mount"},
                {"type": "user"},
                {"type": "cgroup"},
            ],
            "maskedPaths": [*MASKED, *state_in_kit(layout)],
            "readonlyPaths": list(READONLY),
            "seccomp": seccomp(),
        },
    }


def state_in_kit(layout: HostLayout) -> list[str]:
    """The state folders inside the kit's view, hidden from it: the default one (`.vpclab`)
    and the kit's top folder that holds this host's own folder (keys, every host's disk)."""
    hidden = []
    for d in map(Path, layout.kit):
        hidden.append(str(d / ".vpclab"))
        if d in layout.host_dir.parents:
            hidden.append(str(d / layout.host_dir.relative_to(d).parts[0]))
    return sorted(set(hidden))


def mounts(layout: HostLayout) -> list[dict[str, Any]]:
    root = layout.bundle / "root"
    stage = f"{root}{STAGE}"
    h = layout.host_dir

    def bind(dest: str, source: str | Path, *opts: str) -> dict[str, Any]:
        return {"destination": dest, "type": "bind", "source": str(source), "options": list(opts)}

    def fs(dest: str, kind: str, *opts: str) -> dict[str, Any]:
        return {"destination": dest, "type": kind, "source": kind, "options": list(opts)}

    out = [
        fs("/proc", "proc", "nosuid", "noexec", "nodev"),
        fs("/dev", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"),
        fs(
            "/dev/pts",
            "devpts",
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5",
        ),  # fmt: skip
        fs("/dev/shm", "tmpfs", "nosuid", "noexec", "nodev", "mode=1777", "size=65536k"),
        fs("/dev/mqueue", "mqueue", "nosuid", "noexec", "nodev"),
        fs("/sys", "sysfs", "nosuid", "noexec", "nodev", "ro"),
        fs("/sys/fs/cgroup", "tmpfs", "nosuid", "noexec", "nodev", "ro", "mode=755"),
        fs("/run", "tmpfs", "nosuid", "nodev", "mode=755"),
        # The host's folder, ID-mapped: files the agent wrote as root are root's inside.
        bind(f"{STAGE}/h", h, "bind", "idmap"),
    ]
    out += [bind(f"{STAGE}/l/{d}", f"/{d}", "bind", "ro", "idmap") for d in OVERLAID]
    out += [
        {
            "destination": f"/{d}",
            "type": "overlay",
            "source": "overlay",
            "options": [
                f"lowerdir={stage}/l/{d}",
                f"upperdir={stage}/h/upper/{d}",
                f"workdir={stage}/h/work/{d}",
                "userxattr",  # trusted.* xattrs need root on the machine
            ],
        }
        for d in OVERLAID
    ]
    out += [bind(f"/{d}", h / d, "bind", "idmap") for d in OWN]
    out.append(bind("/var/log", h / "log", "bind", "idmap"))
    # TEMPORARY, until the aws issue's Site lands: the Jenkins host runs the kit's own vpclab
    # (Verify), so it sees the kit's folders, read-only and not ID-mapped (root inside owns
    # nothing there). No other host sees them.
    out += [bind(d, d, "rbind", "ro", "nosuid", "nodev") for d in layout.kit]
    return out


def set_netns_sysctls(netns: str) -> None:
    """Write NETNS_SYSCTLS in the host's network namespace (they are per namespace)."""

    def write() -> None:
        for key, value in NETNS_SYSCTLS.items():
            Path("/proc/sys", key).write_text(value)

    run_in(netns, write)


# --- commands ----------------------------------------------------------------------------


def crun_base() -> list[str]:
    return ["crun", "--cgroup-manager=disabled", f"--root={CRUN_ROOT}"]


def run_argv(netns: str) -> list[str]:
    """`crun run` of the host's bundle, in the foreground: its child is the host's init.

    On a machine with hybrid cgroups (v1 controllers plus a v2 hierarchy that holds one), crun
    refuses to start; hosts need no cgroup of their own, so crun then runs in a private mount
    namespace without the v2 mount.
    """
    run = [*crun_base(), "run", f"--bundle={bundle_dir(netns)}", container_id(netns)]
    if not _hybrid_cgroups():
        return run
    hide = 'umount /sys/fs/cgroup/unified && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", hide, "sh", *run]


def exec_argv(netns: str, argv: tuple[str, ...]) -> list[str]:
    """A command run inside the host as its root: same namespaces, capabilities and filter."""
    return [*crun_base(), "exec", container_id(netns), *argv]


def kill_argv(netns: str) -> list[str]:
    return [*crun_base(), "kill", "--all", container_id(netns), "KILL"]


def delete_stale(netns: str) -> None:
    """Forget a container of this name that a killed crun left behind (its state only)."""
    if (CRUN_ROOT / container_id(netns)).exists():
        subprocess.run(
            [*crun_base(), "delete", "--force", container_id(netns)],
            capture_output=True,
            check=False,
        )


def forget(netns: str) -> None:
    """Everything of a host outside its folder: crun's state, the bundle, the id slice."""
    delete_stale(netns)
    remove_bundle(netns)
    release_ids(netns)


def _hybrid_cgroups() -> bool:
    return os.path.ismount("/sys/fs/cgroup/unified")
