"""Run the step notebooks that need the hosts for real, against a throwaway local lab.

    sudo .venv/bin/python course/live.py                  # 05_keys onwards, in order
    sudo .venv/bin/python course/live.py 05_keys 06_nginx # only these
    sudo .venv/bin/python course/live.py --out DIR        # keep the executed notebooks

The nbval run (and `refresh.py`) keep the data plane off, so there every host cell only says
why it skips. This runs the same cells with the hosts, the way a student does with `make
jupyter`. A lab of its own (own name, state folder, moto server, and a git remote serving a
clone of the project on `main`) is built through the instances step with the CLI; then each
notebook's source (`course/src/`) runs in a fresh kernel (`vpclab.course.kernel`), in order,
from the clone's notebooks folder, and its checkpoint must show no FAIL and no SKIP but the
local target's by-design ones (`grafana.LOCAL_SKIPS`). The
monitoring timings are shortened in the lab's spec (`vpclab.course.timings`), as grading
does, so the alert cell's bounded waits stay short. Whatever happens, the lab is torn down
(`vpclab.throwaway`) and its folder removed. Needs root, like the local data plane.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat
from nbclient.exceptions import CellExecutionError

from vpclab.course import kernel
from vpclab.course.timings import FAST_MONITORING
from vpclab.monitoring.grafana import LOCAL_SKIPS
from vpclab.spec import STEPS
from vpclab.throwaway import throwaway_lab

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "course" / "src"  # the notebooks' jupytext sources, NN_name.py
FIRST = "05"  # the first notebook whose doing needs the hosts
LAST_STEP_BEFORE = "instances"
CELL_TIMEOUT = 900  # seconds; a deploy installs the app's requirements


@dataclass
class Ran:
    notebook: str
    seconds: float
    checkpoint: str


def host_notebooks(names: list[str] | None = None) -> list[Path]:
    """The step notebooks from 05 on, in order: not the teardown (it would remove the lab),
    nor the report (no checkpoint; tests/notebooks/test_report.py runs it on a whole lab)."""
    found = sorted(p for p in SOURCES.glob("[0-9][0-9]_*.py") if p.name[:2] >= FIRST)
    found = [p for p in found if p.stem.split("_", 1)[1] in STEPS]
    if names:
        wanted = set(names)
        found = [p for p in found if p.stem in wanted]
        missing = wanted - {p.stem for p in found}
        if missing:
            raise SystemExit(f"no such notebook: {', '.join(sorted(missing))}")
    return found


def execute(
    source: Path, folder: Path, out: Path | None = None
) -> tuple[nbformat.NotebookNode, float]:
    nb = jupytext.read(source)
    started = time.monotonic()
    try:
        kernel.execute(nb, folder, CELL_TIMEOUT, quiet=False)
    finally:
        if out is not None:  # to read the live outputs, a failing cell's too (never committed)
            out.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, out / f"{source.stem}.ipynb")
    return nb, time.monotonic() - started


def checkpoint_text(nb: nbformat.NotebookNode) -> str:
    cell = next(c for c in nb.cells if "checkpoint" in c.metadata.get("tags", []))
    return "".join(o.get("text", "") for o in cell.outputs)


def run(
    names: list[str] | None = None,
    say: Callable[[str], None] = print,
    out: Path | None = None,
) -> list[Ran]:
    """Build a throwaway lab through the instances, run the notebooks, tear it all down.
    Raises when a cell fails or a checkpoint shows a FAIL or a SKIP."""
    from vpclab.localcloud import netns

    reason = netns.unsupported_reason()
    if reason:
        raise SystemExit(f"the notebooks need the hosts: {reason}")
    sources = host_notebooks(names)
    tmp = Path(tempfile.mkdtemp(prefix="vpclab-live-"))
    saved = dict(os.environ)
    for role in ("AUTHOR", "COMMITTER"):  # 08's break-it commit, in the clone
        os.environ.setdefault(f"GIT_{role}_NAME", "vpclab notebooks")
        os.environ.setdefault(f"GIT_{role}_EMAIL", "notebooks@vpclab.invalid")
    ran: list[Ran] = []
    try:
        # The notebooks open ../lab.toml and 08 ../Jenkinsfile: the spec goes in the clone.
        name = f"nblive{os.getpid() % 10000}"
        with throwaway_lab(tmp, name, FAST_MONITORING, spec_in_project=True) as lab:
            started = time.monotonic()
            built = lab.cli("up", "--through", LAST_STEP_BEFORE, timeout=CELL_TIMEOUT)
            if built.returncode != 0:
                raise RuntimeError(
                    f"vpclab up failed:\n{built.stdout[-3000:]}{built.stderr[-3000:]}"
                )
            took = time.monotonic() - started
            say(f"lab {name} built through {LAST_STEP_BEFORE} in {took:.1f} s")
            for source in sources:
                ran.append(_run_one(source, lab.project / "notebooks", out, say))
    finally:
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(tmp, ignore_errors=True)
    return ran


def _run_one(source: Path, folder: Path, out: Path | None, say: Callable[[str], None]) -> Ran:
    """Run one notebook; raise unless its checkpoint is all PASS (and the by-design SKIPs)."""
    nb, seconds = execute(source, folder, out)
    text = checkpoint_text(nb)
    last = text.strip().splitlines()[-1] if text.strip() else "no checkpoint output"
    say(f"{source.stem}: {seconds:.1f} s, checkpoint {last}")
    by_design = tuple(f"SKIP {check}:" for check in LOCAL_SKIPS)
    bad = [
        line
        for line in text.splitlines()
        if (line.startswith(("FAIL", "SKIP")) and not line.startswith(by_design))
        or "needs the hosts" in line
    ]
    skipped = sum(line.startswith(by_design) for line in text.splitlines())
    if bad or not re.fullmatch(rf"\d+ passed, 0 failed, {skipped} skipped", last):
        raise RuntimeError(f"{source.stem}: checkpoint not all PASS:\n{text}")
    return Ran(source.stem, seconds, last)


def main(argv: list[str]) -> int:
    out = None
    if "--out" in argv:
        at = argv.index("--out")
        out = Path(argv[at + 1]).resolve()
        argv = argv[:at] + argv[at + 2 :]
    try:
        ran = run(argv or None, out=out)
    except (RuntimeError, CellExecutionError) as exc:
        print(str(exc)[-6000:], file=sys.stderr)
        return 1
    print(f"all PASS: {', '.join(r.notebook for r in ran)} in {sum(r.seconds for r in ran):.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
