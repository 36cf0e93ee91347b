"""The checklist, shown four ways: rich (terminal), plain text (notebooks), JSON, JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from vpclab.checklist import CheckResult, Status

STYLE = {Status.PASS: "green", Status.FAIL: "bold red", Status.SKIP: "yellow"}


def totals(results: list[CheckResult]) -> dict[str, int]:
    return {str(s): sum(r.status is s for r in results) for s in Status}


def summary(results: list[CheckResult]) -> str:
    counts = totals(results)
    return f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped"


def to_rich(results: list[CheckResult], console: Console) -> None:
    # Narrow terminals get the title above the detail, so the text columns keep some width.
    wide = console.width >= 120
    table = Table(title="vpclab checklist", show_lines=not wide)
    table.add_column("status", no_wrap=True)
    # A check id is what people search and grade by: never broken across lines.
    widest = max((len(r.id) for r in results), default=5)
    table.add_column("check", no_wrap=True, min_width=widest)
    if wide:
        table.add_column("title", overflow="fold")
    table.add_column("detail / hint" if wide else "title / detail / hint", overflow="fold")
    for r in results:
        note = r.detail + (f"\n[bold]fix:[/bold] {r.hint}" if r.hint else "")
        status = f"[{STYLE[r.status]}]{r.status}[/]"
        if wide:
            table.add_row(status, r.id, r.title, note)
        else:
            table.add_row(status, r.id, f"{r.title}\n[dim]{note}[/dim]" if note else r.title)
    console.print(table)
    console.print(summary(results))


def to_text(results: list[CheckResult]) -> str:
    """Stable plain text: labels first, volatile values (ids, IPs) last on the line."""
    lines = []
    for r in results:
        lines.append(f"{r.status:<4} {r.id}: {r.title} | {r.detail}")
        if r.hint:
            lines.append(f"     fix: {r.hint}")
    lines.append(summary(results))
    return "\n".join(lines)


def to_json(results: list[CheckResult], lab: str, target: str, when: datetime | None = None) -> str:
    """One object: which lab, where, when, the totals, then the checks in order."""
    return json.dumps(
        {
            "lab": lab,
            "target": str(target),
            "time": (when or datetime.now(UTC)).isoformat(timespec="seconds"),
            "totals": totals(results),
            "checks": [r.as_dict() for r in results],
        },
        indent=2,
    )


def write_junit(results: list[CheckResult], path: Path) -> None:
    suite = ET.Element(
        "testsuite",
        name="vpclab",
        tests=str(len(results)),
        failures=str(sum(r.status is Status.FAIL for r in results)),
        skipped=str(sum(r.status is Status.SKIP for r in results)),
    )
    for r in results:
        case = ET.SubElement(suite, "testcase", classname=f"vpclab.{r.step}", name=r.id)
        if r.status is Status.FAIL:
            ET.SubElement(case, "failure", message=r.detail).text = f"{r.title}\nfix: {r.hint}"
        elif r.status is Status.SKIP:
            ET.SubElement(case, "skipped", message=r.detail)
        ET.SubElement(case, "system-out").text = f"{r.title}: {r.detail}"
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
