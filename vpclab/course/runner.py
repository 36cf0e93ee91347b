"""Grade one submission in this process: a fresh lab of its own (a seeded moto server on a
free port, a state folder and a work folder in a temp dir, its own hosts when they can run),
the student's step notebooks run in order with a time limit per cell, each checkpoint taken
from the reference and compared, and the step's checklist read after each notebook.

`vpclab grade` starts one such process per submission (`python -m vpclab.course.runner`),
so each kernel inherits only its own submission's AWS_ENDPOINT_URL, VPCLAB_STATE and cwd."""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from vpclab.course import catchup, kernel, timings
from vpclab.course.overlay import ReferenceStep, differences, load_patterns, overlay
from vpclab.course.scores import CheckLine, Score, StepScore, SubmissionResult
from vpclab.localcloud import cleanup, client, motoserver
from vpclab.localcloud.sandbox import SEED

# Fake credentials: the kernels talk only to their own moto server.
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def submission_notebooks(folder: Path) -> Path:
    """A submission holds its notebooks directly, or in a `notebooks/` folder (as `vpclab
    assign` lays them out)."""
    inner = folder / "notebooks"
    return inner if inner.is_dir() else folder


def lab_environment(endpoint: str, state: Path, hosts: bool) -> dict[str, str]:
    env = {
        **FAKE_AWS,
        "AWS_ENDPOINT_URL": endpoint,
        "VPCLAB_STATE": str(state),
        "VPCLAB_TARGET": "local",  # never a real account
    }
    if not hosts:
        env["VPCLAB_DATAPLANE"] = "off"
    for role in ("AUTHOR", "COMMITTER"):  # 08's break-it commit, in the submission's clone
        env[f"GIT_{role}_NAME"] = "vpclab grader"
        env[f"GIT_{role}_EMAIL"] = "grader@vpclab.invalid"
    return env


def lay_out(folder: Path, spec: Path, fast: bool = False) -> Path:
    """The submission's project folder, with its spec and an empty `notebooks/` to run in:
    a clone of the kit on branch `main` when vpclab runs from a checkout (08 reads its
    Jenkinsfile; with hosts the steps deploy from it and 08's commit lands in it, never in
    the kit), else just the spec; `fast` shortens its monitoring timings."""
    root = client.project_root()
    if root is not None:
        git = ["git", "-c", "advice.detachedHead=false"]
        subprocess.run([*git, "clone", "--quiet", str(root), str(folder)], check=True)
        subprocess.run([*git, "-C", str(folder), "checkout", "-q", "-B", "main"], check=True)
        shutil.rmtree(folder / "notebooks", ignore_errors=True)
    (folder / "notebooks").mkdir(parents=True)
    text = spec.read_text()
    (folder / "lab.toml").write_text(timings.fast_monitoring(text) if fast else text)
    return folder


def _export(env: dict[str, str]) -> None:
    for key in motoserver.DROPPED_ENV:
        os.environ.pop(key, None)
    os.environ.pop("VPCLAB_DATAPLANE", None)
    os.environ.update(env)


def run_notebook(nb: nbformat.NotebookNode, cwd: Path, timeout: float) -> tuple[int, str] | None:
    """Execute in a fresh kernel (this interpreter) from `cwd`. Returns None when every cell
    ran, else (index of the failing cell, what went wrong). The kernel is shut down either way."""
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    running: list[int] = []
    try:
        kernel.execute(nb, cwd, timeout, on_cell_start=running.append)
    except CellTimeoutError:
        return running[-1], f"ran longer than the limit of {timeout:g} s per cell (stopped)"
    except CellExecutionError as exc:
        return running[-1], f"{exc.ename}: {exc.evalue}".strip()
    except DeadKernelError as exc:
        return (running[-1] if running else -1), f"the kernel died: {exc}"
    return None


def _verify(lab, step: str) -> list[CheckLine]:
    return [CheckLine(r.id, r.status, r.detail, r.hint) for r in lab.verify(step=step)]


def grade_step(
    lab, ref: ReferenceStep, student_dir: Path, work: Path, timeout: float, patterns: list
) -> tuple[StepScore, list[CheckLine]]:
    name = ref.path.name
    source = student_dir / name
    if not source.exists():
        return StepScore(ref.step, name, Score.FAIL, [f"{name} is not in the submission"]), []
    nb = nbformat.read(source, as_version=4)
    at = overlay(nb, ref)
    reasons: list[str] = []
    if at is None:
        reasons.append(
            f"the checkpoint cell ({ref.checkpoint.source.strip()}) was deleted: put it back "
            "as the notebook's last cell"
        )
    expected = list(nbformat.from_dict(ref.checkpoint).outputs)
    problem = run_notebook(nb, work, timeout)
    checks = _verify(lab, ref.step)
    failing = [c for c in checks if c.status == "FAIL"]
    reasons += [f"{c.id}: {c.detail}" + (f" (fix: {c.hint})" if c.hint else "") for c in failing]
    if problem is not None and problem[0] != at:
        index, what = problem
        return StepScore(ref.step, name, Score.ERROR, [f"cell {index + 1}: {what}", *reasons]), (
            checks
        )
    if problem is None and at is not None:
        reasons += differences(expected, nb.cells[at].outputs, patterns)
    elif problem is not None and not failing:
        reasons.append(f"the checkpoint raised: {problem[1].splitlines()[0]}")
    if reasons:
        return StepScore(ref.step, name, Score.FAIL, reasons), checks
    if ref.step in catchup.caught_up_steps(lab.spec.name, lab.spec_path):
        why = f"lab.catch_up built {ref.step}: it passes, but earns no credit"
        return StepScore(ref.step, name, Score.CAUGHT_UP, [why]), checks
    return StepScore(ref.step, name, Score.PASS), checks


def grade_submission(
    submission: Path,
    references: list[ReferenceStep],
    spec: Path,
    sanitize: Path,
    timeout: float,
    hosts: bool,
    fast_monitoring: bool = False,
) -> SubmissionResult:
    from vpclab.lab import Lab

    started = time.monotonic()
    result = SubmissionResult(name=submission.name)
    patterns = load_patterns(sanitize)
    tmp = Path(tempfile.mkdtemp(prefix="vpclab-grade-"))
    try:
        project = lay_out(tmp / "lab", spec, fast=fast_monitoring)
        work = project / "notebooks"
        state = tmp / "state"
        state.mkdir(mode=0o700)
        with motoserver.ephemeral(SEED, tmp / "moto.log") as server:
            _export(lab_environment(server.endpoint, state, hosts))
            lab = Lab(project / "lab.toml", say=lambda _line: None)
            result.dataplane = lab.dataplane_off() or "hosts"
            if result.dataplane == "hosts" and (project / ".git").is_dir():
                # The lab's internet serves this clone: the pipeline deploys its main, and
                # 08's break-it commit lands here, never in the kit.
                client.start(lab.local_dir, server.endpoint, lab.spec.region, repo_root=project)
            try:
                for ref in references:
                    began = time.monotonic()
                    score, checks = grade_step(
                        lab, ref, submission_notebooks(submission), work, timeout, patterns
                    )
                    score.seconds = round(time.monotonic() - began, 1)
                    result.steps.append(score)
                    result.checklist += checks
            finally:
                if result.dataplane == "hosts":
                    client.stop(lab.local_dir)
                    cleanup.force_down(lab.lab_id)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result.seconds = round(time.monotonic() - started, 2)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result.peak_rss_mb = round((own + children) / 1024, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("submission", type=Path)
    parser.add_argument("--reference", type=Path, required=True)
    parser.add_argument("--spec", type=Path, required=True)
    parser.add_argument("--sanitize", type=Path, required=True)
    parser.add_argument("--timeout", type=float, required=True)
    parser.add_argument("--hosts", action="store_true")
    parser.add_argument("--fast-monitoring", action="store_true")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    from vpclab.course.overlay import reference_steps

    result = grade_submission(
        args.submission.resolve(),
        reference_steps(args.reference.resolve()),
        args.spec.resolve(),
        args.sanitize.resolve(),
        args.timeout,
        args.hosts,
        args.fast_monitoring,
    )
    args.out.write_text(json.dumps(result.to_dict(), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
