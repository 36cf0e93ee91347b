"""Grade one submission in this process: a fresh lab of its own (a seeded moto server on a
free port, a state folder and a work folder in a temp dir, its own hosts when they can run),
the student's step notebooks run in order with a time limit per cell, each checkpoint taken
from the reference and compared, and the step's checklist read after each notebook.

`vpclab grade` starts one such process per submission (`python -m vpclab.course.runner`),
so each kernel inherits only its own submission's AWS_ENDPOINT_URL, VPCLAB_STATE and cwd."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import nbformat

from vpclab import blanks
from vpclab.aws import session
from vpclab.course import crash, kernel, timings
from vpclab.course.jail import Jail, free_uid
from vpclab.course.overlay import ReferenceStep, differences, load_patterns, overlay
from vpclab.course.relay import Marked, Relay
from vpclab.course.scores import CheckLine, Score, StepScore, SubmissionResult
from vpclab.localcloud import cleanup, client, motoserver
from vpclab.localcloud.sandbox import SEED
from vpclab.served import lay_student_files, one_commit_project
from vpclab.spec import STEPS

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


def lay_out(
    folder: Path,
    spec: Path,
    fast: bool = False,
    clone: bool = True,
    history: bool = True,
    submission: Path | None = None,
) -> Path:
    """The submission's project folder, with its spec and an empty `notebooks/` to run in:
    a clone of the kit on branch `main` when vpclab runs from a checkout (08 reads its
    Jenkinsfile; with hosts the steps deploy from it and 08's commit lands in it, never in
    the kit), else (or without `clone`) the spec and the Jenkinsfile. Without `history` (a
    jailed kernel must not see the kit's history, nor its solutions) the clone is one commit
    of the kit's files without `vpclab.served.NOT_HANDED_OUT`. `fast` shortens its
    monitoring timings. The `submission`'s own project files (see `lay_student_files`)
    replace the kit's."""
    root = client.project_root()
    if root is not None and clone and history:
        git = ["git", "-c", "advice.detachedHead=false"]
        subprocess.run([*git, "clone", "--quiet", str(root), str(folder)], check=True)
        subprocess.run([*git, "-C", str(folder), "checkout", "-q", "-B", "main"], check=True)
        shutil.rmtree(folder / "notebooks", ignore_errors=True)
    elif root is not None and clone:
        one_commit_project(root, folder, submission)
    (folder / "notebooks").mkdir(parents=True)
    jenkinsfile = spec.parent / "Jenkinsfile"
    if not (folder / "Jenkinsfile").exists() and jenkinsfile.is_file():
        shutil.copyfile(jenkinsfile, folder / "Jenkinsfile")
    text = spec.read_text()
    (folder / "lab.toml").write_text(timings.fast_monitoring(text) if fast else text)
    if submission is not None:
        lay_student_files(submission, folder)
    return folder


def _export(env: dict[str, str]) -> None:
    for key in motoserver.DROPPED_ENV:
        os.environ.pop(key, None)
    os.environ.pop("VPCLAB_DATAPLANE", None)
    os.environ.update(env)


def run_notebook(
    nb: nbformat.NotebookNode,
    cwd: Path,
    timeout: float,
    on_cell: Callable[[int], None] | None = None,
    jail: Jail | None = None,
) -> list[str]:
    """Execute every cell in a fresh kernel (this interpreter) from `cwd`, as nbgrader does:
    a cell that raises or runs past `timeout` is recorded and the next one runs. Returns
    what went wrong, one line per cell; the kernel is shut down either way. Raises
    `kernel.KernelNotStarted` when the kernel never answered (no cell ran)."""
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    running: list[int] = []

    def started(index: int) -> None:
        running.append(index)
        if on_cell is not None:
            on_cell(index)

    try:
        kernel.execute(nb, cwd, timeout, on_cell_start=started, keep_going=True, jail=jail)
    except CellTimeoutError:  # the kernel ignored the interrupt
        return [f"cell {running[-1] + 1}: ran longer than the limit of {timeout:g} s per cell"]
    except (CellExecutionError, DeadKernelError) as exc:
        where = f"cell {running[-1] + 1}" if running else "the kernel"
        return [f"{where}: the kernel died or stopped: {str(exc).splitlines()[0]}"]
    problems = []
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.output_type != "error":
                continue
            if out.ename == "KeyboardInterrupt":
                what = f"ran longer than the limit of {timeout:g} s per cell (stopped)"
            else:
                what = f"{out.ename}: {out.evalue}".strip().splitlines()[0]
            problems.append(f"cell {index + 1}: {what}")
    return problems


def _verify(lab, step: str) -> list[CheckLine]:
    return [CheckLine(r.id, r.status, r.detail, r.hint) for r in lab.verify(step=step)]


def score_of(
    checks: list[CheckLine], checkpoint: list[str], built: list[Marked]
) -> tuple[Score, list[str]]:
    """The step's score from the grader's own checklist run, the checkpoint comparison and
    the request log: a SKIP is never a PASS, and a step the library built earns no credit."""
    failing = [c for c in checks if c.status == "FAIL"]
    reasons = [f"{c.id}: {c.detail}" + (f" (fix: {c.hint})" if c.hint else "") for c in failing]
    if failing:
        return Score.FAIL, reasons + checkpoint
    if built:
        cells = sorted({m.where for m in built})
        why = f"the library built this step ({', '.join(cells)}): it passes, but earns no credit"
        return Score.CAUGHT_UP, [why]
    if checkpoint:
        return Score.FAIL, checkpoint
    if not checks or all(c.status == "SKIP" for c in checks):
        return Score.SKIPPED, ["every check SKIPs (no hosts to test): a SKIP is never a PASS"]
    return Score.PASS, []


def grade_step(
    lab,
    ref: ReferenceStep,
    student_dir: Path,
    work: Path,
    timeout: float,
    patterns: list,
    relay: Relay,
    jail: Jail | None = None,
) -> tuple[StepScore, list[CheckLine]]:
    name = ref.path.name
    source = student_dir / name
    if not source.exists():
        why = f"{name} is not in the submission: its checks and checkpoint earn nothing"
        return StepScore(ref.step, name, Score.MISSING, [why]), []
    nb = nbformat.read(source, as_version=4)
    at = overlay(nb, ref)
    checkpoint: list[str] = []
    if at is None:
        checkpoint.append(
            f"the checkpoint cell ({ref.checkpoint.source.strip()}) was deleted: put it back "
            "as the notebook's last cell"
        )
    expected = list(nbformat.from_dict(ref.checkpoint).outputs)

    def on_cell(index: int) -> None:
        relay.where = f"{name} cell {index + 1}"

    try:
        errors = run_notebook(nb, work, timeout, on_cell, jail)
    except kernel.KernelNotStarted as exc:  # the grader's trouble: no cell ran, nothing to judge
        relay.where = f"after {name}"
        why = f"{name} did not run, through no fault of the submission ({exc}): grade it again"
        return StepScore(ref.step, name, Score.ERROR, [why]), []
    relay.where = f"after {name}"
    try:
        checks = _verify(lab, ref.step)
    except Exception as exc:  # noqa: BLE001 - any failure to read the lab is this step's ERROR
        why = f"the step's checks could not be read: {type(exc).__name__}: {exc}"
        return StepScore(ref.step, name, Score.ERROR, [why], errors=errors), []
    if at is not None:
        checkpoint += checkpoint_problems(expected, nb.cells[at].outputs, patterns)
    score, reasons = score_of(checks, checkpoint, relay.built_by_library(ref.step))
    graded = StepScore(ref.step, name, score, reasons, errors=errors)
    graded.checkpoint_ok = not checkpoint
    return graded, checks


def checkpoint_problems(expected: list, outputs: list, patterns: list) -> list[str]:
    """Why the checkpoint cell earns nothing: it raised, or printed other than the reference."""
    raised = [o for o in outputs if o.output_type == "error"]
    if raised:
        first = (raised[0].get("evalue") or "").strip().splitlines()[:1]
        return [f"the checkpoint cell raised {raised[0].get('ename')}: {''.join(first)}"]
    return differences(expected, outputs, patterns)


def mend(lab, step: str) -> list[str]:
    """The grader's own catch-up before `step`'s notebook: the library brings every earlier
    step to the reference state (marked as the grader's, never charged to the student)."""
    earlier = STEPS[: STEPS.index(step)]
    enabled = [s for s in lab.built_steps() if s in earlier]
    if not enabled:
        return []
    # The reference's files for the repair: a student's mistake in an earlier file costs
    # that step only (the student's files stay in their project, untouched).
    with session.as_grader(), blanks.reference_files():
        return lab.apply(through=enabled[-1])


def grade_submission(
    submission: Path,
    references: list[ReferenceStep],
    spec: Path,
    sanitize: Path,
    timeout: float,
    hosts: bool,
    fast_monitoring: bool = False,
    hide: list[Path] | None = None,
) -> SubmissionResult:
    """`hide`: jail the kernel (a throwaway uid, see `jail`) with these paths hidden; None
    runs it as this process' user."""
    from vpclab.lab import Lab

    started = time.monotonic()
    result = SubmissionResult(name=submission.name)
    patterns = load_patterns(sanitize)
    tmp = Path(tempfile.mkdtemp(prefix="vpclab-grade-"))
    environment = dict(os.environ)  # the lab's settings are exported for its kernels only
    try:
        # Hosts need a clone (the lab's git remote serves it); a jailed kernel a clone
        # without the kit's history.
        project = lay_out(
            tmp / "lab",
            spec,
            fast_monitoring,
            clone=hide is None or hosts,
            history=hide is None,
            submission=submission,
        )
        work = project / "notebooks"
        state = tmp / "state"
        state.mkdir(mode=0o700)
        jail, broker = None, None
        if hide is not None:
            home = tmp / "home"
            home.mkdir(mode=0o700)
            where = tmp / "broker.sock" if hosts else None
            jail = Jail(free_uid(), home, [*hide, submission, spec.parent / ".git"], where)
            # The jailed user passes through to its own folders only, and reads the project
            # (root's: git, as root, refuses a repository another user owns).
            tmp.chmod(0o711)
            project.chmod(0o755)
            jail.give(work, state, home)
        result.jailed = jail is not None
        with motoserver.ephemeral(SEED, tmp / "moto.log") as server:
            # Everything reaches moto through the grader's relay, which logs marked requests.
            relay = Relay(server.endpoint).start()
            if jail is not None:
                jail.fence(int(relay.endpoint.rsplit(":", 1)[1]))
            _export(lab_environment(relay.endpoint, state, hosts))
            lab = Lab(project / "lab.toml", say=lambda _line: None)
            result.dataplane = lab.dataplane_off() or "hosts"
            result.lab_id = lab.lab_id
            if result.dataplane == "hosts" and (project / ".git").is_dir():
                # The lab's internet serves this clone: the pipeline deploys its main, and
                # 08's break-it commit lands here, never in the kit.
                client.start(lab.local_dir, relay.endpoint, lab.spec.region, repo_root=project)
            if jail is not None and result.dataplane == "hosts":
                broker = jail.broker_for(lab.lab_id).start()
            try:
                for ref in references:
                    began = time.monotonic()
                    relay.where = f"the grader's repair before {ref.path.name}"
                    try:
                        mended = mend(lab, ref.step)
                    except Exception as exc:  # noqa: BLE001 - the notebook still runs
                        mended = [f"(the repair failed: {type(exc).__name__}: {exc})"]
                    if jail is not None:  # keys the repair made are the student's to use
                        jail.give(state, but=lab.local_dir)  # the agent's stays root's
                    folder = submission_notebooks(submission)
                    score, checks = grade_step(
                        lab, ref, folder, work, timeout, patterns, relay, jail
                    )
                    score.mended = mended
                    score.seconds = round(time.monotonic() - began, 1)
                    result.steps.append(score)
                    result.checklist += checks
            finally:
                if broker is not None:
                    broker.stop()
                if result.dataplane == "hosts":
                    client.stop(lab.local_dir)
                    cleanup.force_down(lab.lab_id)
                relay.stop()
                if jail is not None:
                    jail.unfence()
    finally:
        os.environ.clear()
        os.environ.update(environment)
        shutil.rmtree(tmp, ignore_errors=True)
    result.seconds = round(time.monotonic() - started, 2)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result.peak_rss_mb = round((own + children) / 1024, 1)
    return result


def main() -> int:
    """Settings come as JSON on stdin, not in argv: a kernel may read any process' argv,
    and the reference's path is not for it."""
    args = json.loads(sys.stdin.read())
    from vpclab.course.overlay import reference_steps

    try:
        result = grade_submission(
            Path(args["submission"]).resolve(),
            reference_steps(Path(args["reference"]).resolve()),
            Path(args["spec"]).resolve(),
            Path(args["sanitize"]).resolve(),
            float(args["timeout"]),
            bool(args["hosts"]),
            bool(args["fast_monitoring"]),
            [Path(p) for p in args["hide"]] if args.get("hide") is not None else None,
        )
    except Exception as exc:
        # The grader's report names the error and its place; the whole traceback still
        # goes to stderr. A file, not stderr's last line: whatever is printed after this
        # (a thread's or a task's error at exit) cannot hide it.
        if args.get("crash"):
            Path(args["crash"]).write_text(crash.line(exc))
        raise
    Path(args["out"]).write_text(json.dumps(result.to_dict(), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
