"""The seccomp filter of a local host: allow by default, refuse what Docker's default profile
refuses to a container without CAP_SYS_ADMIN (mounts, namespaces, kernel modules, keyrings,
the clock, reboot...)."""

from __future__ import annotations

from typing import Any

DENIED_SYSCALLS = (
    "acct",
    "add_key",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "get_kernel_syms",
    "init_module",
    "iopl",
    "ioperm",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mount",
    "mount_setattr",
    "move_mount",
    "nfsservctl",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "pivot_root",
    "query_module",
    "quotactl",
    "reboot",
    "request_key",
    "setns",
    "settimeofday",
    "swapoff",
    "swapon",
    "syslog",
    "umount2",
    "unshare",
    "uselib",
    "userfaultfd",
    "vhangup",
)
# clone() with a new-namespace flag (user, mount, pid, net, ipc, uts, cgroup) is refused too.
CLONE_NS_FLAGS = (
    0x10000000,
    0x00020000,
    0x20000000,
    0x40000000,
    0x08000000,
    0x04000000,
    0x02000000,
)
EPERM, ENOSYS = 1, 38


def seccomp() -> dict[str, Any]:
    """Allow by default; refuse what Docker's default profile refuses to such a container."""
    rules: list[dict[str, Any]] = [
        {"names": list(DENIED_SYSCALLS), "action": "SCMP_ACT_ERRNO", "errnoRet": EPERM},
        # glibc falls back to clone() on ENOSYS, where the flags can be checked.
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS},
    ]
    rules += [
        {
            "names": ["clone"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": EPERM,
            "args": [{"index": 0, "value": flag, "valueTwo": flag, "op": "SCMP_CMP_MASKED_EQ"}],
        }
        for flag in CLONE_NS_FLAGS
    ]
    return {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}
