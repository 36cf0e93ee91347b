"""scripts/install-packages.sh (what bootstrap.sh installs with) leaves no service of the
packages it installs running or enabled on the real machine.

The test builds a small Debian package whose maintainer scripts do what debhelper's do for a
daemon (enable its systemd unit, add System V links, start it through invoke-rc.d and
deb-systemd-invoke), installs it with the script, checks, then purges it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "install-packages.sh"
PKG = "vpclab-service-probe"
UNIT = f"{PKG}.service"
POLICY = Path("/usr/sbin/policy-rc.d")

POSTINST = """#!/bin/sh
set -e
echo configured > {marks}/postinst-ran
if [ "$1" = configure ]; then
    deb-systemd-helper unmask {unit} >/dev/null || true
    deb-systemd-helper enable {unit} >/dev/null || true
fi
if [ -x /etc/init.d/{pkg} ]; then
    update-rc.d {pkg} defaults >/dev/null
    invoke-rc.d {pkg} start || exit 1
fi
if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
    deb-systemd-invoke start {unit} >/dev/null || true
fi
"""
INIT_SCRIPT = """#!/bin/sh
### BEGIN INIT INFO
# Provides:          {pkg}
# Required-Start:
# Required-Stop:
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: probe
### END INIT INFO
case "$1" in
    start) echo started > {marks}/started ;;
esac
exit 0
"""
UNIT_FILE = """[Unit]
Description=vpclab service probe

[Service]
ExecStart=/bin/sh -c 'echo started > {marks}/started'

[Install]
WantedBy=multi-user.target
"""


def _build(tmp: Path, marks: Path) -> Path:
    tree = tmp / "pkg"
    fill = {"pkg": PKG, "unit": UNIT, "marks": marks}
    files = {
        "DEBIAN/control": (
            f"Package: {PKG}\nVersion: 1.0\nArchitecture: all\nMaintainer: vpclab tests "
            "<tests@invalid>\nDescription: a daemon's maintainer scripts, for a test\n"
        ),
        "DEBIAN/postinst": POSTINST.format(**fill),
        f"etc/init.d/{PKG}": INIT_SCRIPT.format(**fill),
        f"lib/systemd/system/{UNIT}": UNIT_FILE.format(**fill),
    }
    for rel, text in files.items():
        path = tree / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o755 if "init.d" in rel or "postinst" in rel else 0o644)
    deb = tmp / f"{PKG}.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(tree), str(deb)],
                   check=True, capture_output=True)  # fmt: skip
    return deb


def _purge() -> None:
    subprocess.run(["dpkg", "--purge", PKG], capture_output=True)
    if shutil.which("systemctl"):
        subprocess.run(["systemctl", "unmask", UNIT], capture_output=True)
    subprocess.run(["deb-systemd-helper", "purge", UNIT], capture_output=True)
    for link in Path("/etc").glob(f"rc?.d/[SK]??{PKG}"):
        link.unlink()


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("installing a Debian package needs root")
    for tool in ("dpkg-deb", "apt-get", "update-rc.d", "invoke-rc.d", "deb-systemd-helper"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is missing (a Debian machine is needed)")
    tmp_path = tmp_path_factory.mktemp("package")
    marks = tmp_path / "marks"
    marks.mkdir()
    deb = _build(tmp_path, marks)
    policy_before = POLICY.read_bytes() if POLICY.exists() else None
    try:
        done = subprocess.run(
            ["bash", str(SCRIPT), str(deb)], capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr
        # The machine's own policy (or its absence) is back as it was.
        assert (POLICY.read_bytes() if POLICY.exists() else None) == policy_before
        yield marks
    finally:
        _purge()


def test_the_package_installed_and_its_scripts_tried_to_start_it(installed):
    assert (installed / "postinst-ran").exists()
    status = subprocess.run(
        ["dpkg-query", "-W", "-f=${db:Status-Abbrev}", PKG], capture_output=True, text=True
    ).stdout
    assert status.startswith("ii")


def test_no_service_started(installed):
    assert not (installed / "started").exists()


def test_no_service_enabled_at_boot(installed):
    starts = sorted(Path("/etc").glob(f"rc?.d/S??{PKG}"))
    assert starts == [], "System V start links left"
    assert sorted(Path("/etc").glob(f"rc?.d/K??{PKG}")), "update-rc.d disable keeps K links"
    wants = list(Path("/etc/systemd/system").glob(f"*.wants/{UNIT}"))
    assert wants == [], "a systemd unit left enabled"
    if shutil.which("systemctl"):
        state = subprocess.run(
            ["systemctl", "is-enabled", UNIT], capture_output=True, text=True
        ).stdout.strip()
        assert state == "masked"
        assert os.readlink(Path("/etc/systemd/system", UNIT)) == "/dev/null"


def test_without_arguments_or_root_it_says_what_to_do():
    done = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True)
    assert done.returncode == 2 and "usage: install-packages.sh" in done.stderr
    assert "\n" not in done.stderr.strip()
