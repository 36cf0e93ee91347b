"""What grading produces, per step and per submission: typed, and JSON both ways (a
submission is graded in its own process, which hands its result back as JSON)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum


class Score(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"  # failing checks (with hints), a changed or missing checkpoint
    CAUGHT_UP = "CAUGHT-UP"  # passes only because the library built it: no credit
    ERROR = "ERROR"  # the step's checks could not be read (the notebook or the lab broke)
    SKIPPED = "SKIPPED"  # every check SKIPs (no hosts): nothing could be judged, no credit
    MISSING = "MISSING"  # the notebook is not in the submission: no credit


@dataclass
class StepScore:
    step: str
    notebook: str
    score: Score
    reasons: list[str] = field(default_factory=list)
    seconds: float = 0.0  # the notebook's run and the checklist after it
    errors: list[str] = field(default_factory=list)  # cells that raised (shown, not scored)
    mended: list[str] = field(default_factory=list)  # earlier steps the grader rebuilt first
    checkpoint_ok: bool = False  # the checkpoint cell was there, did not raise, and matched
    points: float = 0.0  # from the rubric, by the grading parent (`rubric.score`)
    possible: float = 0.0
    lost: list[str] = field(default_factory=list)  # the points lost, per check


@dataclass
class CheckLine:
    """One line of the checklist read after a step (`vpclab verify --step`)."""

    id: str
    status: str
    detail: str = ""
    hint: str = ""


@dataclass
class SubmissionResult:
    name: str
    steps: list[StepScore] = field(default_factory=list)
    checklist: list[CheckLine] = field(default_factory=list)  # after each step, in order
    seconds: float = 0.0
    peak_rss_mb: float = 0.0  # the grading process and its largest child (kernel or moto)
    dataplane: str = ""  # "hosts" or why not
    lab_id: str = ""  # the graded lab's local id (its namespaces are named after it)
    jailed: bool = False  # the kernel ran as a throwaway user (see `vpclab.course.jail`)

    @property
    def points(self) -> float:
        return sum(s.points for s in self.steps)

    @property
    def possible(self) -> float:
        return sum(s.possible for s in self.steps)

    @property
    def passed(self) -> int:
        return sum(s.score is Score.PASS for s in self.steps)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SubmissionResult:
        steps = [StepScore(**{**s, "score": Score(s["score"])}) for s in data.get("steps", [])]
        checks = [CheckLine(**c) for c in data.get("checklist", [])]
        rest = {k: v for k, v in data.items() if k not in ("steps", "checklist")}
        return cls(steps=steps, checklist=checks, **rest)
