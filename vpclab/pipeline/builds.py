"""What a pipeline build leaves behind: a folder per build number in the state folder, with
each stage's log, the published JUnit files, the archived artifacts and summary.json."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel

from vpclab.paths import lab_dir


class Result(StrEnum):
    SUCCESS = "SUCCESS"
    UNSTABLE = "UNSTABLE"
    FAILURE = "FAILURE"
    SKIPPED = "SKIPPED"  # `when` was false, or an earlier stage failed

    def worse(self, other: Result) -> Result:
        order = [Result.SKIPPED, Result.SUCCESS, Result.UNSTABLE, Result.FAILURE]
        return max(self, other, key=order.index)


class TestCounts(BaseModel):
    __test__ = False  # not a pytest class

    total: int = 0
    failed: int = 0
    skipped: int = 0
    files: list[str] = []
    failures: list[str] = []  # "file: case: message", the first few


class StageResult(BaseModel):
    name: str
    result: Result
    seconds: float = 0.0
    log: str | None = None  # relative to the build folder
    first_error: str | None = None
    reason: str | None = None  # why SKIPPED or UNSTABLE
    tests: TestCounts | None = None


class BuildSummary(BaseModel):
    number: int
    branch: str
    commit: str
    result: Result
    started: str
    seconds: float
    stages: list[StageResult]
    artifacts: list[str] = []

    def stage(self, name: str) -> StageResult | None:
        return next((s for s in self.stages if s.name == name), None)

    def failing_stage(self) -> StageResult | None:
        return next((s for s in self.stages if s.result is Result.FAILURE), None)


def stage_text(build: BuildSummary) -> str:
    """The build's stage view in plain text, as the notebooks print it: a heading, then per
    stage its result, duration, and why it was skipped or unstable, else its test counts."""
    lines = [f"build #{build.number} of {build.branch} @ {build.commit[:12]}: {build.result}"]
    for stage in build.stages:
        tests = f"{stage.tests.total} tests, {stage.tests.failed} failed" if stage.tests else ""
        note = stage.reason or tests
        lines.append(f"  {stage.name:<17} {stage.result:<9} {stage.seconds:6.1f} s  {note}")
    return "\n".join(lines)


SUMMARY = "summary.json"


def builds_dir(lab: str, spec_path: Path | None = None) -> Path:
    return lab_dir(lab, spec_path) / "pipeline" / "builds"


def numbers(folder: Path) -> list[int]:
    if not folder.is_dir():
        return []
    return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit())


def new_build(folder: Path) -> tuple[int, Path]:
    """The next build number and its (new, empty) folder."""
    folder.mkdir(parents=True, exist_ok=True)
    while True:
        number = (numbers(folder) or [0])[-1] + 1
        path = folder / str(number)
        try:
            path.mkdir()
            return number, path
        except FileExistsError:  # another run took it
            continue


def save(build_folder: Path, summary: BuildSummary) -> Path:
    path = build_folder / SUMMARY
    path.write_text(summary.model_dump_json(indent=2) + "\n")
    return path


def load(folder: Path, number: int) -> BuildSummary | None:
    path = folder / str(number) / SUMMARY
    if not path.exists():
        return None
    return BuildSummary.model_validate_json(path.read_text())


def last(folder: Path, count: int = 10) -> list[BuildSummary]:
    """The last builds that finished, newest first."""
    found = []
    for number in reversed(numbers(folder)):
        summary = load(folder, number)
        if summary is not None:
            found.append(summary)
        if len(found) == count:
            break
    return found


_ERROR = re.compile(r"\b(ERROR|FAILED|FAIL|Error|error:|Traceback|fatal:|E  )")


def first_error(log: str) -> str | None:
    """The first line of a log that says what went wrong (else its last non-empty line)."""
    lines = [line.rstrip() for line in log.splitlines() if line.strip()]
    for line in lines:
        if _ERROR.search(line) and not line.startswith("+ "):
            return line.strip()[:300]
    return lines[-1].strip()[:300] if lines else None
