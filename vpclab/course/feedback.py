"""What grading writes: the class CSV (one row per student, one column per step, each cell
exactly PASS, FAIL, CAUGHT-UP or ERROR), JUnit (a suite per student, a case per step) and
one Markdown feedback page per student, readable offline."""

from __future__ import annotations

import csv
from pathlib import Path
from xml.etree import ElementTree as ET

from vpclab.course.scores import Score, SubmissionResult


def steps_of(results: list[SubmissionResult]) -> list[str]:
    seen: list[str] = []
    for result in results:
        seen += [s.step for s in result.steps if s.step not in seen]
    return seen


def write_csv(results: list[SubmissionResult], path: Path) -> Path:
    steps = steps_of(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["student", *steps])
        for result in results:
            scores = {s.step: str(s.score) for s in result.steps}
            out.writerow([result.name, *(scores.get(step, str(Score.ERROR)) for step in steps)])
    return path


def write_junit(results: list[SubmissionResult], path: Path) -> Path:
    suites = ET.Element("testsuites", name="vpclab grade")
    for result in results:
        bad = [s for s in result.steps if s.score is not Score.PASS]
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=result.name,
            tests=str(len(result.steps)),
            failures=str(sum(s.score in (Score.FAIL, Score.CAUGHT_UP) for s in bad)),
            errors=str(sum(s.score is Score.ERROR for s in bad)),
            time=f"{result.seconds:.2f}",
        )
        for step in result.steps:
            case = ET.SubElement(suite, "testcase", classname=result.name, name=step.step)
            if step.score is Score.PASS:
                continue
            kind = "error" if step.score is Score.ERROR else "failure"
            node = ET.SubElement(case, kind, type=str(step.score), message=step.score.value)
            node.text = "\n".join(step.reasons)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)
    return path


MEANING = {
    Score.PASS: "done, and every check passes",
    Score.FAIL: "some checks fail, or the checkpoint differs from the reference",
    Score.CAUGHT_UP: "built by `lab.catch_up`: it works, but earns no credit",
    Score.ERROR: "a cell raised or ran too long",
}


def page(result: SubmissionResult) -> str:
    """One student's feedback page (Markdown)."""
    lines = [
        f"# Feedback: {result.name}",
        "",
        f"{result.passed} of {len(result.steps)} steps earn credit.",
        "",
        "| step | notebook | score | seconds |",
        "| --- | --- | --- | ---: |",
    ]
    lines += [
        f"| {s.step} | {s.notebook} | **{s.score}** | {s.seconds:.0f} |" for s in result.steps
    ]
    for step in result.steps:
        lines += ["", f"## {step.step}: {step.score}", "", MEANING[step.score] + "."]
        if step.reasons:
            lines += [""] + [f"- {reason}" for reason in step.reasons]
        checks = [c for c in result.checklist if c.id.split(".")[0] == step.step]
        if checks:
            lines += ["", "| status | check | detail |", "| --- | --- | --- |"]
            lines += [f"| {c.status} | `{c.id}` | {c.detail.replace('|', '/')} |" for c in checks]
    lines += ["", f"Graded in {result.seconds:.1f} s (data plane: {result.dataplane}).", ""]
    return "\n".join(lines)


def write_feedback(results: list[SubmissionResult], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for result in results:
        path = folder / f"{result.name}.md"
        path.write_text(page(result))
        written.append(path)
    return written
