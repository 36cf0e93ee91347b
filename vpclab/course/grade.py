"""`vpclab grade SUBMISSION_DIR...`: grade a class, each submission in its own process and
its own lab (see `runner`), up to `jobs` side by side, and write the class CSV, JUnit and one
feedback page per student (see `feedback`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from vpclab import blanks
from vpclab.course import jail
from vpclab.course import rubric as rubrics
from vpclab.course.overlay import reference_steps
from vpclab.course.scores import Score, StepScore, SubmissionResult
from vpclab.errors import UsageError
from vpclab.localcloud import client


@dataclass(frozen=True)
class GradeSettings:
    reference: Path  # the reference notebooks (NN_*.ipynb with stored checkpoint outputs)
    spec: Path
    sanitize: Path
    # Seconds a cell may run; None: 120, or 900 with hosts (a deploy or a pipeline build
    # runs in one cell).
    cell_timeout: float | None = None
    hosts: bool = False  # each lab gets its own hosts (root on Linux)
    # A whole submission's limit, beyond the per-cell one (a kernel that ignores interrupts);
    # None: 30 minutes, or an hour with hosts.
    submission_timeout: float | None = None
    # Shorten the spec's monitoring timings (vpclab.course.timings): 09 then waits seconds
    # for a scrape or an alert, not minutes. The checks are the same.
    fast_monitoring: bool = True
    # Points per check; None: rubric.toml beside the spec, else the package's defaults.
    rubric: Path | None = None
    # Run each kernel as a throwaway user with the reference and the class hidden; None:
    # whenever it can (root on Linux). With hosts its sockets in the lab's namespaces come
    # from the grader (`vpclab.localcloud.broker`).
    jail: bool | None = None

    def __post_init__(self) -> None:
        if self.cell_timeout is None:
            object.__setattr__(self, "cell_timeout", 900.0 if self.hosts else 120.0)
        if self.jail is None:
            object.__setattr__(self, "jail", jail.unsupported_reason() is None)
        if self.rubric is None:
            object.__setattr__(self, "rubric", rubrics.beside(self.spec))
        if self.submission_timeout is None:
            object.__setattr__(self, "submission_timeout", 3600.0 if self.hosts else 1800.0)


def _check_inputs(submissions: list[Path], settings: GradeSettings) -> list[str]:
    steps = [r.step for r in reference_steps(settings.reference)]
    if not steps:
        raise UsageError(
            f"no reference step notebooks in {settings.reference}",
            "pass --notebooks with the reference NN_*.ipynb (each ending in a checkpoint cell)",
        )
    for path in (settings.spec, settings.sanitize):
        if not path.is_file():
            raise UsageError(f"{path} does not exist", "pass --spec / --sanitize")
    for sub in submissions:
        if not sub.is_dir():
            raise UsageError(f"submission {sub} is not a folder", "pass one folder per student")
    names = [s.name for s in submissions]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageError(
            f"two submissions are named {', '.join(twice)}", "give each its own folder name"
        )
    return steps


def grade_one(
    submission: Path, settings: GradeSettings, steps: list[str], others: list[Path] = ()
) -> SubmissionResult:
    """Grade one submission in a child process; a crash of that process is an ERROR on every
    step, never the end of the class. The points are counted here, in the parent. `others`:
    the rest of the class, hidden from a jailed kernel."""
    rubric = rubrics.load(settings.rubric)
    return rubrics.score(_run_child(submission, settings, steps, list(others)), rubric)


def hidden(settings: GradeSettings, others: list[Path]) -> list[str]:
    """What a jailed kernel must not read: the reference, the class, the kit's solutions
    (notebooks, their sources, the tests that edit them, the files with blanks), its history
    and its own labs."""
    paths = [settings.reference, *others]
    root = client.project_root()
    if root is not None:
        paths += [root / name for name in ("notebooks", "course", "tests", ".git", ".vpclab")]
        # The reference's copies of the files students write (their lab reads their own);
        # not those in the package, whose hash tells a kernel whether the agent is current.
        paths += [root / b.path for b in blanks.FILES if not b.path.startswith("vpclab/")]
    seen: list[str] = []
    for path in paths:
        text = str(Path(path).resolve())
        if Path(text).exists() and text not in seen:
            seen.append(text)
    return seen


def _run_child(
    submission: Path, settings: GradeSettings, steps: list[str], others: list[Path]
) -> SubmissionResult:
    # 0700, the grader's: a kernel can neither read nor write the result.
    with tempfile.TemporaryDirectory(prefix="vpclab-grade-result-") as tmp:
        out, crashed = Path(tmp) / "result.json", Path(tmp) / "crash.txt"
        argv = [sys.executable, "-m", "vpclab.course.runner"]
        job = {
            "submission": str(submission.resolve()),
            "reference": str(settings.reference.resolve()),
            "spec": str(settings.spec.resolve()),
            "sanitize": str(settings.sanitize.resolve()),
            "timeout": settings.cell_timeout,
            "hosts": settings.hosts,
            "fast_monitoring": settings.fast_monitoring,
            "out": str(out),
            "crash": str(crashed),
            "hide": hidden(settings, others) if settings.jail else None,
        }
        # Its own session: on overrun the whole group (runner, kernel, moto) is stopped.
        proc = subprocess.Popen(
            argv,
            cwd=tmp,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            _, stderr = proc.communicate(json.dumps(job), timeout=settings.submission_timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            _, stderr = proc.communicate()
            why = f"grading stopped: ran longer than {settings.submission_timeout:g} s in all"
        else:
            if proc.returncode == 0 and out.exists():
                return SubmissionResult.from_dict(json.loads(out.read_text()))
            why = stopped(proc.returncode, stderr, crashed)
    # The whole story for the grader (the student's feedback gets the one line): one write,
    # so the labs graded side by side do not interleave it.
    sys.stderr.write(f"grading {submission.name} stopped: {why}\n{stderr.rstrip()}\n")
    return SubmissionResult(
        name=submission.name,
        steps=[StepScore(step, "", Score.ERROR, [why]) for step in steps],
    )


def stopped(returncode: int | None, stderr: str, crashed: Path) -> str:
    """Why a grading process gave no result, in one line: an error of the grader itself as
    the process named it (`crash.line`: the error and where it was raised), else how it
    ended and the last line it printed (after a signal, maybe not the cause)."""
    if crashed.is_file() and crashed.read_text().strip():
        return f"grading stopped (exit {returncode}): the grader failed: {crashed.read_text()}"
    last = (stderr.strip().splitlines() or ["no output"])[-1]
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"grading stopped (killed by {name}); it last printed: {last}"
    return f"grading stopped (exit {returncode}): {last}"


def grade(
    submissions: list[Path],
    settings: GradeSettings,
    jobs: int = 1,
    say: Callable[[str], None] = print,
) -> list[SubmissionResult]:
    """Every submission, `jobs` at a time; results in the order given."""
    if jobs < 1:
        raise UsageError(f"--jobs {jobs} is not a number of labs", "give --jobs 1 or more")
    steps = _check_inputs(submissions, settings)
    rubrics.load(settings.rubric)  # a bad rubric stops the class before any lab starts

    def one(sub: Path) -> SubmissionResult:
        result = grade_one(sub, settings, steps, [s for s in submissions if s != sub])
        marks = " ".join(f"{s.step}={s.score}" for s in result.steps)
        say(
            f"graded {result.name} in {result.seconds:.1f} s: {marks}; "
            f"{result.points:g}/{result.possible:g} points"
        )
        return result

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, submissions))
