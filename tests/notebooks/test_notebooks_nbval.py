"""Run the notebooks under nbval, as an instructor's grading run does, inside `make test`.

The nbval run is a child pytest (`pytest --nbval notebooks/`) rather than extra items in
this session, because:
- nbval's cells are plain Items that fixtures never reach, so vpclab.course.nbval_plugin starts
  the shared moto server at configure time and exports AWS_ENDPOINT_URL, VPCLAB_STATE, ...
  into os.environ for the kernels. In a child process that environment cannot leak into
  the rest of the suite (and the rest of the suite cannot leak into the notebooks);
- `--nbval` and its options stay out of pyproject's addopts, so other tests are unaffected;
- the notebooks need their own order and no xdist, whatever this session uses.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
BUDGET = 20 * len(list((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")))  # seconds: < 20 s each


@pytest.fixture(scope="module")
def nbval(tmp_path_factory: pytest.TempPathFactory) -> NbvalRun:
    """One nbval run of every notebook (the only time this suite executes them all)."""
    junit = tmp_path_factory.mktemp("nbval") / "junit.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "AWS_", "VPCLAB_"))}
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval",
            "notebooks",
            "-p",
            "no:randomly",
            "-p",
            "no:xdist",
            "-p",
            "no:cacheprovider",
            "-q",
            "--no-header",
            f"--junitxml={junit}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return NbvalRun(proc, time.monotonic() - started, junit)


@dataclass
class NbvalRun:
    proc: subprocess.CompletedProcess
    elapsed: float
    junit: Path


def test_notebooks_pass_nbval(nbval: NbvalRun):
    proc = nbval.proc
    report = proc.stdout[-8000:] + proc.stderr[-4000:]
    assert proc.returncode == 0, f"nbval failed (exit {proc.returncode}):\n{report}"
    assert " passed" in proc.stdout and "skipped" not in proc.stdout, report
    assert nbval.elapsed < BUDGET, f"the notebooks took {nbval.elapsed:.0f} s"


def test_reference_outputs_are_current(nbval: NbvalRun):
    """The stored outputs are what the notebooks print now: nbval (not --nbval-lax) compared
    every code cell of every notebook with its fresh output and passed it. Their inputs
    match the sources (test_notebook_files.py), so `course/refresh.py --check` would find
    nothing to change; it is not run here, as it would execute the notebooks again."""
    cases = ElementTree.parse(nbval.junit).getroot().iter("testcase")
    passed = Counter(
        c.get("file") or c.get("classname", "") for c in cases if not len(c)
    )  # a case with no child: no failure, error or skip
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = [c for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code"]
        compared = sum(n for name, n in passed.items() if notebook.stem in name)
        assert compared == len(cells), f"{notebook.name}: {compared} of {len(cells)} cells passed"
