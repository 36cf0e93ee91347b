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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUDGET = 20 * len(list((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")))  # seconds: < 20 s each


def test_notebooks_pass_nbval():
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
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    elapsed = time.monotonic() - started
    report = proc.stdout[-8000:] + proc.stderr[-4000:]
    assert proc.returncode == 0, f"nbval failed (exit {proc.returncode}):\n{report}"
    assert " passed" in proc.stdout and "skipped" not in proc.stdout, report
    assert elapsed < BUDGET, f"the notebooks took {elapsed:.0f} s"


def test_reference_outputs_are_current():
    """Re-run the command that makes the .ipynb files (into a scratch copy) and compare."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VPCLAB_"))}
    proc = subprocess.run(
        [sys.executable, "course/refresh.py", "--check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
