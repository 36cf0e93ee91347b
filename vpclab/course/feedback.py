"""What grading writes: the class CSV (one row per student, one column per step, each cell
exactly PASS, FAIL, CAUGHT-UP, ERROR, SKIPPED or MISSING, a `hosts` column saying whether
the lab had hosts, the points, and last the empty columns the instructor fills by hand),
JUnit (a suite per student, a case per step) and one Markdown feedback page per student,
readable offline."""

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


# Graded by hand (11_report's prose, course/rubric-report.md): left empty, and last, so the
# columns before them keep their places for whoever reads them by position.
MANUAL = ("report (manual)",)


def write_csv(results: list[SubmissionResult], path: Path) -> Path:
    steps = steps_of(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        points = [f"{step} points" for step in steps]
        out.writerow(["student", *steps, "hosts", *points, "total", "possible", *MANUAL])
        for result in results:
            scores = {s.step: str(s.score) for s in result.steps}
            cells = [scores.get(step, str(Score.ERROR)) for step in steps]
            earned = {s.step: f"{s.points:g}" for s in result.steps}
            out.writerow(
                [
                    result.name,
                    *cells,
                    hosts_cell(result),
                    *(earned.get(step, "0") for step in steps),
                    f"{result.points:g}",
                    f"{result.possible:g}",
                    *("" for _ in MANUAL),
                ]
            )
    return path


def hosts_cell(result: SubmissionResult) -> str:
    return "yes" if result.dataplane == "hosts" else "no"


def write_junit(results: list[SubmissionResult], path: Path) -> Path:
    suites = ET.Element("testsuites", name="vpclab grade")
    for result in results:
        bad = [s for s in result.steps if s.score is not Score.PASS]
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=result.name,
            tests=str(len(result.steps)),
            failures=str(sum(s.score in (Score.FAIL, Score.CAUGHT_UP, Score.MISSING) for s in bad)),
            errors=str(sum(s.score is Score.ERROR for s in bad)),
            skipped=str(sum(s.score is Score.SKIPPED for s in bad)),
            time=f"{result.seconds:.2f}",
        )
        for step in result.steps:
            case = ET.SubElement(suite, "testcase", classname=result.name, name=step.step)
            if step.score is Score.PASS:
                continue
            kind = {Score.ERROR: "error", Score.SKIPPED: "skipped"}.get(step.score, "failure")
            node = ET.SubElement(case, kind, type=str(step.score), message=step.score.value)
            node.text = "\n".join(step.reasons)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)
    return path


MEANING = {
    Score.PASS: "done, and every check passes",
    Score.FAIL: "some checks fail, or the checkpoint differs from the reference",
    Score.CAUGHT_UP: "built by the library (`lab.catch_up`, `lab.up`, a step's `apply` or "
    "`vpclab up`): it works, but earns no credit",
    Score.ERROR: "the notebook could not be run (its kernel did not start), or the step's "
    "checks could not be read after it ran",
    Score.SKIPPED: "every check SKIPs (graded without hosts): nothing could be judged, and a "
    "SKIP is never a PASS",
    Score.MISSING: "the notebook is not in the submission",
}


def page(result: SubmissionResult) -> str:
    """One student's feedback page (Markdown)."""
    lines = [
        f"# Feedback: {result.name}",
        "",
        f"{result.passed} of {len(result.steps)} steps earn credit; "
        f"{result.points:g} of {result.possible:g} points.",
        "",
        *(
            []
            if result.dataplane == "hosts"
            else [
                f"**Graded without hosts** ({result.dataplane}): the live checks SKIP, and "
                "a step with nothing but live checks scores SKIPPED.",
                "",
            ]
        ),
        "| step | notebook | score | points | seconds |",
        "| --- | --- | --- | ---: | ---: |",
    ]
    lines += [
        f"| {s.step} | {s.notebook} | **{s.score}** | {s.points:g}/{s.possible:g} "
        f"| {s.seconds:.0f} |"
        for s in result.steps
    ]
    for step in result.steps:
        lines += ["", f"## {step.step}: {step.score}", "", MEANING[step.score] + "."]
        if step.mended:
            lines += [
                "",
                f"Before this notebook the grader rebuilt {', '.join(step.mended)} "
                "(its own repair: it costs you nothing, and never covers this step).",
            ]
        if step.reasons:
            lines += [""] + [f"- {reason}" for reason in step.reasons]
        if step.lost:
            lines += ["", "Points lost:", ""] + [f"- {lost}" for lost in step.lost]
        if step.errors:
            lines += ["", "Cells that raised (shown here; the checks decide the score):", ""]
            lines += [f"- {error}" for error in step.errors]
        checks = [c for c in result.checklist if c.id.split(".")[0] == step.step]
        if checks:
            lines += ["", "| status | check | detail |", "| --- | --- | --- |"]
            lines += [f"| {c.status} | `{c.id}` | {c.detail.replace('|', '/')} |" for c in checks]
    kernel = "a throwaway user of its own" if result.jailed else "the grader's user"
    lines += [
        "",
        f"Graded in {result.seconds:.1f} s (data plane: {result.dataplane}; the notebooks ran "
        f"as {kernel}).",
        "",
    ]
    return "\n".join(lines)


def write_feedback(results: list[SubmissionResult], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for result in results:
        path = folder / f"{result.name}.md"
        path.write_text(page(result))
        written.append(path)
    return written
