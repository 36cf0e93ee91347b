"""The checklist, shown four ways: rich (terminal), plain text (notebooks), JSON, JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console
from rich.table import Table

from vpclab.checklist import CheckResult, Status

STYLE = {Status.PASS: "green", Status.FAIL: "bold red", Status.SKIP: "yellow"}


def summary(results: list[CheckResult]) -> str:
    counts = {s: sum(r.status is s for r in results) for s in Status}
    return (
        f"{counts[Status.PASS]} passed, {counts[Status.FAIL]} failed, {counts[Status.SKIP]} skipped"
    )


def to_rich(results: list[CheckResult], console: Console) -> None:
    table = Table(title="vpclab checklist", show_lines=False)
    for column in ("status", "check", "title", "detail / hint"):
        table.add_column(column, overflow="fold")
    for r in results:
        note = r.detail + (f"\n[bold]fix:[/bold] {r.hint}" if r.hint else "")
        table.add_row(f"[{STYLE[r.status]}]{r.status}[/]", r.id, r.title, note)
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


def to_json(results: list[CheckResult]) -> str:
    return json.dumps([r.as_dict() for r in results], indent=2)


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
