"""A local host's OCI config and id slices, without booting anything."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from vpclab.localcloud import hostfs, hostoci

HOST_DIR = Path("/srv/state/hosts/lab/web")


def _layout(kit: tuple[str, ...] = ()) -> hostoci.HostLayout:
    return hostoci.HostLayout(
        netns="vpclab-abc123-web",
        hostname="web",
        host_dir=HOST_DIR,
        uid_base=hostoci.BAND_START + 7 * hostoci.IDS_PER_HOST,
        args=("/usr/sbin/sshd", "-D", "-e"),
        env={"PATH": "/usr/bin:/bin"},
        kit=kit,
    )


def test_the_host_has_its_own_user_namespace_and_joins_the_agents_network():
    cfg = hostoci.config(_layout())
    linux = cfg["linux"]
    kinds = {ns["type"]: ns for ns in linux["namespaces"]}
    assert {"user", "mount", "pid", "uts", "ipc", "network"} <= set(kinds)
    assert kinds["network"]["path"] == "/var/run/netns/vpclab-abc123-web"
    assert "path" not in kinds["user"] and "path" not in kinds["mount"]
    want = [{"containerID": 0, "hostID": (1 << 30) + 7 * 65536, "size": 65536}]
    assert linux["uidMappings"] == want and linux["gidMappings"] == want
    assert cfg["root"] == {"path": "root", "readonly": True}
    assert cfg["hostname"] == "web"
    assert cfg["process"]["args"] == [
        "/bin/sh",
        hostoci.INIT_PATH,
        "/usr/sbin/sshd",
        "-D",
        "-e",
    ]


def test_root_inside_has_dockers_capabilities_and_no_admin_ones():
    caps = hostoci.config(_layout())["process"]["capabilities"]
    for kind in ("bounding", "effective", "permitted"):
        assert set(caps[kind]) == set(hostoci.DEFAULT_CAPS)
        for admin in ("CAP_SYS_ADMIN", "CAP_SYS_MODULE", "CAP_SYS_PTRACE", "CAP_NET_ADMIN"):
            assert admin not in caps[kind]
    assert "ambient" not in caps


def test_proc_and_sys_are_read_only_and_kernel_files_masked():
    cfg = hostoci.config(_layout())
    assert "/proc/sys" in cfg["linux"]["readonlyPaths"]
    assert "/proc/sysrq-trigger" in cfg["linux"]["readonlyPaths"]
    for path in ("/proc/kcore", "/proc/keys", "/sys/firmware", hostoci.STAGE):
        assert path in cfg["linux"]["maskedPaths"]
    by_dest = {m["destination"]: m for m in cfg["mounts"]}
    assert "ro" in by_dest["/sys"]["options"]
    assert (
        by_dest["/sys/fs/cgroup"]["type"] == "tmpfs"
        and "ro" in by_dest["/sys/fs/cgroup"]["options"]
    )
    # A fresh /dev (no block device of the machine) and a fresh /run.
    assert by_dest["/dev"]["type"] == "tmpfs" and by_dest["/run"]["type"] == "tmpfs"


def test_only_the_image_and_the_hosts_own_folder_are_mounted():
    mounts = hostoci.config(_layout())["mounts"]
    binds = [m for m in mounts if m["type"] == "bind"]
    for m in binds:
        source = Path(m["source"])
        if source in (Path("/usr"), Path("/etc"), Path("/var")):
            assert "ro" in m["options"] and "idmap" in m["options"], m  # the image
        else:
            assert source == HOST_DIR or HOST_DIR in source.parents, m
            assert "idmap" in m["options"]
    overlays = {m["destination"]: m["options"] for m in mounts if m["type"] == "overlay"}
    assert sorted(overlays) == ["/etc", "/usr", "/var"]
    stage = f"{_layout().bundle}/root{hostoci.STAGE}"
    for dest, options in overlays.items():
        assert f"lowerdir={stage}/l{dest}" in options
        assert f"upperdir={stage}/h/upper{dest}" in options
        assert "userxattr" in options


def test_only_the_kit_host_sees_the_kit_and_read_only():
    plain = {m["destination"] for m in hostoci.config(_layout())["mounts"]}
    assert "/work/kit" not in plain
    kit = hostoci.config(_layout(kit=("/work/kit",)))["mounts"]
    (view,) = [m for m in kit if m["destination"] == "/work/kit"]
    assert view["source"] == "/work/kit"
    assert "ro" in view["options"] and "idmap" not in view["options"]


def test_the_kit_view_hides_the_state_folders():
    layout = hostoci.HostLayout(
        netns="vpclab-abc123-jenkins",
        hostname="jenkins",
        host_dir=Path("/work/kit/state/local/hosts/lab/jenkins"),
        uid_base=hostoci.BAND_START,
        args=("/usr/sbin/sshd",),
        kit=("/work/kit",),
    )
    masked = hostoci.config(layout)["linux"]["maskedPaths"]
    assert "/work/kit/.vpclab" in masked and "/work/kit/state" in masked
    assert (
        "/work/kit/.vpclab" in hostoci.config(_layout(kit=("/work/kit",)))["linux"]["maskedPaths"]
    )
    assert not any(
        m.startswith("/work/kit") for m in hostoci.config(_layout())["linux"]["maskedPaths"]
    )


def test_seccomp_refuses_mounts_namespaces_and_kernel_loading():
    profile = hostoci.config(_layout())["linux"]["seccomp"]
    assert profile["defaultAction"] == "SCMP_ACT_ALLOW"
    denied = {n for rule in profile["syscalls"] if "args" not in rule for n in rule["names"]}
    for name in ("mount", "umount2", "unshare", "setns", "pivot_root", "init_module", "bpf"):
        assert name in denied
    clone_rules = [r for r in profile["syscalls"] if r["names"] == ["clone"]]
    new_user = 0x10000000
    assert any(r["args"][0]["value"] == new_user for r in clone_rules)


def test_id_slices_are_unique_stable_and_stale_ones_reused(tmp_path, monkeypatch):
    monkeypatch.setattr(hostoci, "SLOT_DIR", tmp_path / "idmap")
    netns_dir = tmp_path / "netns"
    netns_dir.mkdir()
    real_path = Path

    def fake_path(*parts: str) -> Path:  # /run/netns/<name> -> our folder
        if parts and parts[0] == "/run/netns":
            return real_path(netns_dir, *parts[1:])
        return real_path(*parts)

    monkeypatch.setattr(hostoci, "Path", fake_path)
    bases = []
    for i in range(50):
        name = f"vpclab-x-h{i}"
        (netns_dir / name).touch()
        bases.append(hostoci.claim_ids(name))
    assert len(set(bases)) == 50
    assert all(b >= 1 << 30 and b + 65536 <= 1 << 31 and b % 65536 == 0 for b in bases)
    assert hostoci.claim_ids("vpclab-x-h3") == bases[3]  # a reboot keeps its slice
    hostoci.release_ids("vpclab-x-h3")
    assert not (tmp_path / "idmap" / str((bases[3] - (1 << 30)) // 65536)).exists()


def test_a_slice_in_use_is_never_shared_and_a_stale_one_is_taken_over(tmp_path, monkeypatch):
    monkeypatch.setattr(hostoci, "SLOT_DIR", tmp_path / "idmap")
    monkeypatch.setattr(hostoci, "SLOTS", 1)  # one slice only: every claim wants it
    netns_dir = tmp_path / "netns"
    netns_dir.mkdir()
    real_path = Path
    monkeypatch.setattr(
        hostoci,
        "Path",
        lambda *p: real_path(netns_dir, *p[1:]) if p and p[0] == "/run/netns" else real_path(*p),
    )
    (netns_dir / "vpclab-x-a").touch()
    base = hostoci.claim_ids("vpclab-x-a")
    with pytest.raises(RuntimeError, match="no free user-id slice"):
        hostoci.claim_ids("vpclab-x-b")
    (netns_dir / "vpclab-x-a").unlink()  # host a's namespace is gone: its slice is stale
    assert hostoci.claim_ids("vpclab-x-b") == base


def test_unsupported_reason_names_the_kernel_and_crun(monkeypatch):
    hostoci.unsupported_reason.cache_clear()
    monkeypatch.setattr(
        os, "uname", lambda: os.uname_result(("Linux", "m", "5.15.0-91-generic", "#1", "x86_64"))
    )
    reason = hostoci.unsupported_reason()
    assert reason and "5.19" in reason and "5.15.0" in reason and "\n" not in reason
    hostoci.unsupported_reason.cache_clear()
    monkeypatch.undo()
    monkeypatch.setattr(hostoci.shutil, "which", lambda _name: None)
    reason = hostoci.unsupported_reason()
    assert reason and "crun" in reason and "bootstrap.sh" in reason
    hostoci.unsupported_reason.cache_clear()


@pytest.mark.skipif(os.geteuid() != 0, reason="a whiteout is a character device: needs root")
def test_machine_secrets_become_whiteouts(tmp_path):
    machine = tmp_path / "machine"
    (machine / "etc/ssh").mkdir(parents=True)
    (machine / "etc/ssl/private").mkdir(parents=True)
    (machine / "etc/ssh/ssh_host_ed25519_key").write_text("secret")
    (machine / "etc/ssh/sshd_config").write_text("public")
    h = tmp_path / "host"
    (h / "upper/etc/ssh").mkdir(parents=True)
    (h / "upper/etc/ssh/ssh_host_rsa_key").write_text("the host's own")  # never replaced
    (machine / "etc/ssh/ssh_host_rsa_key").write_text("secret")
    hidden = hostfs.hide_machine_secrets(h, machine)
    assert hidden == [
        "/etc/ssh/ssh_host_ed25519_key",
        "/etc/ssh/ssh_host_rsa_key",
        "/etc/ssl/private",
    ]
    for path in ("etc/ssh/ssh_host_ed25519_key", "etc/ssl/private"):
        st = os.lstat(h / "upper" / path)
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)
    assert (h / "upper/etc/ssh/ssh_host_rsa_key").read_text() == "the host's own"
    assert not (h / "upper/etc/ssh/sshd_config").exists()
