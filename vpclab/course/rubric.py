"""Points per check (`rubric.toml`, next to `lab.toml`; a copy of the defaults ships in the
package): each step's points, computed by the grading parent from the checklist the runner
read, with what each failing or unjudged check cost."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from vpclab.checks import step_check_ids
from vpclab.course.scores import Score, StepScore, SubmissionResult
from vpclab.errors import UsageError
from vpclab.spec import STEPS

DEFAULT = Path(__file__).with_name("rubric.toml")
FILE = "rubric.toml"


@dataclass(frozen=True)
class Rubric:
    default: float = 1.0
    checkpoint: float = 1.0
    checks: dict[str, float] = field(default_factory=dict)

    def weight(self, check: str) -> float:
        return self.checks.get(check, self.default)


def _number(value: object, where: str, path: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise UsageError(f"{path}: {where} = {value!r} is not a number of points", "use 0 or more")
    return float(value)


def load(path: Path) -> Rubric:
    """The rubric at `path`; a one-line error for a bad file or an unknown step."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read the rubric {path}: {exc}", "fix the TOML") from None
    unknown = set(data) - {"default", "checkpoint", "checks"}
    if unknown:
        raise UsageError(
            f"{path}: unknown keys {sorted(unknown)}", "use default, checkpoint, checks"
        )
    checks = {}
    for check, points in dict(data.get("checks", {})).items():
        if check.split(".")[0] not in STEPS or "." not in check:
            raise UsageError(
                f"{path}: {check!r} is not a check id", "use ids as `vpclab verify` prints them"
            )
        checks[check] = _number(points, check, path)
    return Rubric(
        _number(data.get("default", 1), "default", path),
        _number(data.get("checkpoint", 1), "checkpoint", path),
        checks,
    )


def beside(spec: Path) -> Path:
    """The rubric next to the spec, else the package's defaults."""
    here = spec.parent / FILE
    return here if here.is_file() else DEFAULT


NO_CREDIT = (Score.CAUGHT_UP, Score.SKIPPED, Score.ERROR, Score.MISSING)


def score_step(step: StepScore, result: SubmissionResult, rubric: Rubric) -> None:
    """Fill `step`'s points, possible points and the points lost per check. What is possible
    is the step's whole checklist, whatever this submission's run read: the same for every
    student, and a check that was never read is lost, not left out."""
    read = {c.id: c.status for c in result.checklist if c.id.split(".")[0] == step.step}
    known = step_check_ids(step.step)
    ids = known + [i for i in read if i not in known]
    step.possible = sum(rubric.weight(i) for i in ids) + rubric.checkpoint
    step.lost = []
    if step.score in NO_CREDIT:
        step.points = 0.0
        step.lost.append(f"all {step.possible:g} points: the step is {step.score}")
        return
    earned = 0.0
    for check_id in ids:
        weight, status = rubric.weight(check_id), read.get(check_id)
        if status == "PASS":
            earned += weight
        elif weight:
            why = {"FAIL": "failed", "SKIP": "not judged (SKIP)"}.get(status or "", "not read")
            step.lost.append(f"{weight:g} for `{check_id}` ({why})")
    if step.checkpoint_ok:
        earned += rubric.checkpoint
    elif rubric.checkpoint:
        step.lost.append(
            f"{rubric.checkpoint:g} for the checkpoint cell (missing, raised, or different)"
        )
    step.points = earned


def score(result: SubmissionResult, rubric: Rubric) -> SubmissionResult:
    for step in result.steps:
        score_step(step, result, rubric)
    return result
