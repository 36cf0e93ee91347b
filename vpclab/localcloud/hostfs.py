"""A local host's filesystem: its folder, the view's layers and the identity written into the
upper /etc before the first boot (accounts, sudoers, hostname, host key, sshd settings,
authorized key), like cloud-init's per-instance modules.

    HOST_DIR/upper/{etc,var,usr}   overlay upper layers (what the host changed)
    HOST_DIR/work/{etc,var,usr}    overlay work directories
    HOST_DIR/{home,root,opt,srv,tmp,log}   bound onto /home, /root, ... and /var/log
    HOST_DIR/console.log           sshd's log and the boot messages, like a console
"""

from __future__ import annotations

import os
import stat
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vpclab.errors import VpclabError
from vpclab.keygen import new_ed25519
from vpclab.localcloud.files import atomic_write

USER = "ubuntu"
UID = GID = 1000
HOST_KEY = "/etc/ssh/vpclab_host_ed25519_key"
SSHD_DROPIN = "/etc/ssh/sshd_config.d/00-vpclab.conf"
SUDOERS = "/etc/sudoers.d/90-cloud-init-users"
CLOUD_DIR = "/var/lib/cloud/instance"
PREPARED = "first-boot-done"  # in the host folder: the identity is written
OVERLAID = ("etc", "var", "usr")
# The machine's secrets in the layers a host sees (its SSH host keys, TLS keys, password
# backups): each is a whiteout in the host's upper layer, so the host sees no such file.
SECRET_GLOBS = ("etc/ssh/ssh_host_*", "etc/ssl/private", "etc/shadow-", "etc/gshadow-")
# The image's folders (every host sees them) and the runtime's: a host folder under one of
# them would be visible to every host, or inside the runtime's own state.
COVERED = ("/etc", "/var", "/usr", "/run", "/dev/shm", "/proc")


@dataclass(frozen=True)
class HostSpec:
    netns: str
    host_dir: Path
    hostname: str
    authorized_key: str | None  # the key pair's OpenSSH public key line; None: no key pair
    user_data: bytes | None = None
    kit: bool = False  # a read-only view of the kit (the Jenkins host: see hostoci.mounts)
    aws_config: str | None = None  # ~/.aws/config of every user (`imds.aws_config`)


def log_path(host_dir: Path) -> Path:
    """Where the host's /var/log/cloud-init-output.log is, seen from outside."""
    return host_dir / "log" / "cloud-init-output.log"


def cloud_dir(host_dir: Path) -> Path:
    """The host's /var/lib/cloud/instance, seen from outside."""
    return upper(host_dir, CLOUD_DIR)


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
    if spec.aws_config is not None:
        _aws_config(h, spec.aws_config)
    public_key = _host_key(h, spec.hostname)
    hide_machine_secrets(h)

    cloud = upper(h, CLOUD_DIR)
    for sub in ("", "scripts", "sem"):
        _mkdir(cloud / sub, 0o755)
    if spec.user_data is not None and not (cloud / "sem" / "user-data").exists():
        _write_file(cloud / "user-data.txt", spec.user_data, 0o600)
    prepared.write_text(f"{spec.hostname}\n")
    return public_key


# --- the pieces of a host's identity -----------------------------------------------------


def _aws_config(h: Path, text: str) -> None:
    """The local image's AWS config: the region and the lab's control-plane address, for
    `ubuntu` and (through /etc/skel) every user made later, such as `jenkins`. Written
    where missing only: a user's own edits stay."""
    skel = _upper_with_parents(h, "/etc/skel/.aws")
    if not (skel / "config").exists():
        _mkdir(skel, 0o755)
        _write_file(skel / "config", text, 0o644)
    home = h / "home" / USER / ".aws"
    if (h / "home" / USER).exists() and not (home / "config").exists():
        _mkdir(home, 0o755, UID, GID)
        _write_file(home / "config", text, 0o644, UID, GID)


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
    private = upper(h, HOST_KEY)
    public = private.with_name(private.name + ".pub")
    if private.exists() and public.exists():
        return public.read_text().strip()
    pair = new_ed25519()
    line = f"{pair.public} root@{hostname}"
    _write(h, HOST_KEY, pair.private_pem, 0o600)
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


def console_banner(hostname: str, public_key: str) -> str:
    # The same block cloud-init prints on AWS, so one parser reads both targets.
    return (
        "-----BEGIN SSH HOST KEY KEYS-----\n"
        f"{public_key}\n"
        "-----END SSH HOST KEY KEYS-----\n"
        f"vpclab: booting {hostname}\n"
    )


# --- helpers -------------------------------------------------------------------------------


def check_host_dir(h: Path) -> None:
    for top in COVERED:
        if h == Path(top) or Path(top) in h.parents:
            raise VpclabError(
                f"host folder {h} is under {top}, which every host sees or the runtime owns",
                "keep the state folder elsewhere (set VPCLAB_STATE)",
            )


def upper(h: Path, path: str) -> Path:
    """Where a path of the host's view lives in the host's folder (overlaid trees only)."""
    rel = Path(path).relative_to("/")
    if rel.parts[:2] == ("var", "log"):
        return h / "log" / Path(*rel.parts[2:])
    return h / "upper" / rel


def _write(h: Path, path: str, data: str | bytes, mode: int) -> None:
    _write_file(_upper_with_parents(h, path), data, mode)


def _upper_with_parents(h: Path, path: str) -> Path:
    target = upper(h, path)
    top = h / "upper" / Path(path).parts[1]
    real = Path("/", Path(path).parts[1])
    # Create missing parents with the real directory's owner and mode, so the merged view
    # of e.g. /etc/ssh looks the same as the real one.
    for parent in reversed(target.parent.relative_to(top).parents):
        _mkdir_like(top / parent, real / parent)
    _mkdir_like(target.parent, real / target.parent.relative_to(top))
    return target


def hide_machine_secrets(h: Path, machine_root: Path = Path("/")) -> list[str]:
    """Whiteouts (0/0 character devices, overlayfs' mark) over the machine's secrets, where
    the host has no file of its own. Returns the paths hidden, as the host sees them."""
    hidden = []
    for pattern in SECRET_GLOBS:
        for found in sorted(machine_root.glob(pattern)):
            path = "/" + str(found.relative_to(machine_root))
            target = _upper_with_parents(h, path)
            if not os.path.lexists(target):
                os.mknod(target, stat.S_IFCHR, os.makedev(0, 0))
            hidden.append(path)
    return hidden


def _write_file(path: Path, data: str | bytes, mode: int, uid: int = 0, gid: int = 0) -> None:
    atomic_write(path, data, mode, uid, gid)


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
