"""The stage view: one row per stage with its result, duration, tests and first error."""

from __future__ import annotations

from rich.table import Table

from vpclab.pipeline.builds import BuildSummary, Result

STYLE = {
    Result.SUCCESS: "green",
    Result.UNSTABLE: "yellow",
    Result.FAILURE: "red",
    Result.SKIPPED: "dim",
}


def stage_table(summary: BuildSummary) -> Table:
    table = Table(
        title=f"build #{summary.number}  {summary.branch} @ {summary.commit[:12]}  "
        f"{summary.result}  {summary.seconds:.1f} s",
        title_justify="left",
    )
    for column in ("stage", "result", "time", "tests", "detail"):
        table.add_column(column, no_wrap=column != "detail")
    for stage in summary.stages:
        tests = ""
        if stage.tests:
            tests = f"{stage.tests.total - stage.tests.failed}/{stage.tests.total} passed"
        detail = stage.first_error or stage.reason or ""
        if stage.result is Result.SKIPPED:
            detail = stage.reason or ""
        table.add_row(
            stage.name,
            f"[{STYLE[stage.result]}]{stage.result}[/]",
            f"{stage.seconds:.1f} s" if stage.result is not Result.SKIPPED else "",
            tests,
            detail,
        )
    return table


def builds_table(summaries: list[BuildSummary]) -> Table:
    table = Table(title="last builds", title_justify="left")
    for column in ("#", "result", "branch", "commit", "time", "stages", "started"):
        table.add_column(column, no_wrap=True)
    for s in summaries:
        marks = " ".join(
            f"[{STYLE[st.result]}]{st.name}[/]"
            for st in s.stages
            if st.result is not Result.SKIPPED
        )
        table.add_row(
            str(s.number),
            f"[{STYLE[s.result]}]{s.result}[/]",
            s.branch,
            s.commit[:12],
            f"{s.seconds:.1f} s",
            marks,
            s.started,
        )
    return table
