"""`Lab.catch_up(step)`: the rescue for a stuck student. It builds, with the library's own
steps, whatever the steps up to `step` still lack, and records in the state folder which
steps it had to build (for the student to see). A step so built earns no credit when the
class is graded: the grader knows from its own request log (`vpclab.course.relay`), not
from this record, which the student's kernel could delete."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from vpclab.paths import lab_dir
from vpclab.steps import apply_steps

if TYPE_CHECKING:
    from vpclab.lab import Lab

RECORD = "catch-up.json"


@dataclass(frozen=True)
class CatchUp:
    """One call of `catch_up`: the step asked for, the steps it changed something in."""

    step: str
    built: list[str] = field(default_factory=list)
    time: str = ""


def record_path(lab_name: str, spec_path: Path) -> Path:
    return lab_dir(lab_name, spec_path) / "course" / RECORD


def records(lab_name: str, spec_path: Path) -> list[CatchUp]:
    """Every catch-up this lab has had, oldest first (none: an empty list)."""
    path = record_path(lab_name, spec_path)
    if not path.exists():
        return []
    return [CatchUp(**item) for item in json.loads(path.read_text())]


def caught_up_steps(lab_name: str, spec_path: Path) -> set[str]:
    """The steps a catch-up built (changed at least one thing in)."""
    return {step for rec in records(lab_name, spec_path) for step in rec.built}


def catch_up(lab: Lab, step: str) -> CatchUp:
    """Apply the library's steps through `step`; a step counts as built by the catch-up when
    it sent at least one mutating call. The record is written even when nothing was built."""
    built = apply_steps(lab.context(), lab.built_steps(step), lab.follow_dataplane, lambda _: None)
    rec = CatchUp(step=step, built=built, time=datetime.now(UTC).isoformat(timespec="seconds"))
    path = record_path(lab.spec.name, lab.spec_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = [asdict(r) for r in records(lab.spec.name, lab.spec_path)]
    path.write_text(json.dumps([*done, asdict(rec)], indent=2) + "\n")
    lab.say(
        f"caught up through {step}: built {', '.join(built) or 'nothing'} "
        "(a caught-up step earns no credit)"
    )
    return rec
