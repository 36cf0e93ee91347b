"""The "break it and watch" cells of notebooks 01 to 04.

With the data plane off (the reference outputs, the nbval run) each prints one line saying it
needs the hosts. Against a live lab (root), each breaks one thing with the raw API, shows the
effect on the wire and the failing checks, restores, and shows the checks passing again; the
lab's checklist has no FAIL afterwards. The live lab has its own name, state folder and moto
server, is built through the instances step by the CLI, and is removed to its last host and
process by the finalizer.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat
import pytest

from tests.reallab import require_local_hosts
from vpclab.checklist import Status
from vpclab.course import kernel
from vpclab.lab import Lab

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SOURCES = ROOT / "course" / "src"  # the notebooks' jupytext sources
BREAK_IT = ("01_vpc", "02_nat", "03_jenkins", "04_instances")
TAG = "break-it"
CELL_TIMEOUT = 120  # seconds; each cell's attempts are bounded to a few
LATER = "the servers arrive in 04_instances: come back to this cell after it"
ISOLATE = ("AWS_ENDPOINT_URL", "VPCLAB_TARGET", "VPCLAB_DATAPLANE", "VPCLAB_PROBES")


def _tagged(nb: nbformat.NotebookNode) -> list:
    return [c for c in nb.cells if TAG in c.metadata.get("tags", [])]


def _printed(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []))


@pytest.mark.parametrize("stem", BREAK_IT)
def test_break_it_cells_say_they_need_the_hosts_when_off(stem):
    """The stored outputs (data plane off): one line each, and 01-03 say when to come back."""
    cells = _tagged(nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4))
    assert cells, f"{stem} has no {TAG} cell"
    for cell in cells:
        printed = _printed(cell)
        assert re.fullmatch(r"needs the hosts: [^\n]+\n", printed), (stem, printed)
        assert "VPCLAB_DATAPLANE=off" in printed
        if stem != "04_instances":
            assert LATER in printed, printed
        assert "if missing:" in cell.source and "finally:" in cell.source  # always restores


# --- against a live lab ------------------------------------------------------------------------


@dataclass
class LiveLab:
    spec: Path
    folder: Path  # the kernels' working folder: the notebooks open ../lab.toml


def _cli(spec: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vpclab.cli", *args, "--spec", str(spec)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveLab]:
    from vpclab.localcloud import cleanup, names

    require_local_hosts()
    tmp = tmp_path_factory.mktemp("breakit")
    name = f"bk{os.getpid() % 10000}"
    spec = tmp / "lab.toml"
    spec.write_text(
        (ROOT / "lab.toml").read_text().replace('name = "microblog"', f'name = "{name}"', 1)
    )
    folder = tmp / "notebooks"
    folder.mkdir()
    # The CLI and the kernels inherit this environment: this lab's state folder, its own moto
    # server (started by the CLI there), the data plane on.
    with pytest.MonkeyPatch.context() as env:
        for key in ISOLATE:
            env.delenv(key, raising=False)
        env.setenv("VPCLAB_STATE", str(tmp / "state"))
        try:
            built = _cli(spec, "up", "--through", "instances")
            assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
            yield LiveLab(spec, folder)
        finally:
            for args in (("local", "down", "--force"), ("local", "stop")):
                _cli(spec, *args, timeout=120)
            left = cleanup.lab_namespaces(names.lab_id(name, tmp / "state"))
            assert not left, f"namespaces left behind: {left}"


def _run_break_it(stem: str, folder: Path) -> list[str]:
    """The notebook's first code cell (its setup) and its break-it cells, in a fresh kernel
    from `folder`; what each break-it cell printed."""
    nb = jupytext.read(SOURCES / f"{stem}.py")
    setup = next(c for c in nb.cells if c.cell_type == "code")
    nb.cells = [setup, *_tagged(nb)]
    kernel.execute(nb, folder, CELL_TIMEOUT, quiet=False)
    return [_printed(c) for c in nb.cells[1:]]


def _sections(text: str) -> tuple[str, str]:
    """(what the cell printed while broken, what it printed once restored)."""
    broken, _, restored = text.partition("restored:")
    assert restored, text
    return broken, restored


def _status(text: str, check_id: str) -> list[str]:
    return re.findall(rf"^(PASS|FAIL|SKIP) +{re.escape(check_id)}:", text, flags=re.M)


def _broke_and_restored(text: str, *check_ids: str) -> tuple[str, str]:
    broken, restored = _sections(text)
    for check_id in check_ids:
        assert _status(broken, check_id) == ["FAIL"], (check_id, text)
        assert _status(restored, check_id) == ["PASS"], (check_id, text)
    assert "needs the hosts" not in text
    return broken, restored


def test_break_it_cells_against_live_hosts(live: LiveLab):
    started = time.monotonic()
    printed = {stem: _run_break_it(stem, live.folder) for stem in BREAK_IT}

    # 01: the launch setting has no effect on the running web server; the checklist sees it.
    (vpc,) = printed["01_vpc"]
    broken, _ = _broke_and_restored(vpc, "vpc.public_subnet_auto_ip")
    assert re.search(r"^broken: +internet → web:22: connected", broken, flags=re.M), vpc

    # 02: without the NAT route the app's package download fails; with it back, it works.
    (nat,) = printed["02_nat"]
    broken, restored = _broke_and_restored(
        nat, "nat.private_default_route", "nat.app_reaches_internet"
    )
    assert re.search(r"^before: +app: pip download flask: downloaded", broken, flags=re.M), nat
    assert re.search(r"^broken: +app: pip download flask: failed", broken, flags=re.M), nat
    assert re.search(r"app: pip download flask: downloaded", restored), nat

    # 03: without the default VPC's route over the peering, Jenkins cannot reach web:22.
    (peering,) = printed["03_jenkins"]
    broken, restored = _broke_and_restored(
        peering, "jenkins.peering_route_default_vpc", "jenkins.reaches_web_over_peering"
    )
    assert re.search(r"^before: +jenkins → web:22: connected", broken, flags=re.M), peering
    assert re.search(r"^broken: +jenkins → web:22: timed out", broken, flags=re.M), peering
    assert "jenkins → web:22: connected" in restored, peering

    # 04: 5000 open to the world lets Jenkins through (nothing listens yet: refused), the
    # internet still has no way in; revoking web -> app 22 stops SSH to the app.
    opened, revoked = printed["04_instances"]
    broken, restored = _broke_and_restored(opened, "instances.app_security_group")
    assert re.search(r"^before: +jenkins → app:5000: timed out", broken, flags=re.M), opened
    assert re.search(r"^open: +jenkins → app:5000: refused", broken, flags=re.M), opened
    assert re.search(r"^open: +internet → app:5000: (no route|timed out)", broken, flags=re.M), (
        opened
    )
    assert _status(broken, "instances.internet_to_app_5000_blocked") == ["PASS"], opened
    assert "jenkins → app:5000: timed out" in restored, opened

    broken, restored = _broke_and_restored(
        revoked, "instances.app_security_group", "instances.web_to_app_ssh"
    )
    assert re.search(r"^before: +ssh ubuntu@app via web: logged in", broken, flags=re.M), revoked
    assert re.search(r"^revoked: +web → app:22: timed out", broken, flags=re.M), revoked
    assert re.search(r"^revoked: +ssh ubuntu@app via web: failed", broken, flags=re.M), revoked
    assert "ssh ubuntu@app via web: logged in" in restored, revoked

    # Everything was put back: the lab's checklist through the instances has no FAIL.
    results = Lab(live.spec, "local", say=lambda _line: None).verify(through="instances")
    failing = [f"{r.id}: {r.detail}" for r in results if r.status is Status.FAIL]
    assert not failing, failing
    assert not [r for r in results if r.status is Status.SKIP]
    print(f"break-it cells of {', '.join(BREAK_IT)}: {time.monotonic() - started:.1f} s")
