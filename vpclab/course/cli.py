"""The course's commands, `vpclab assign` and `vpclab grade`, added to the main CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

NotebooksOpt = Annotated[
    Path, typer.Option("--notebooks", help="The reference notebooks (NN_*.ipynb).")
]
SpecOpt = Annotated[Path, typer.Option("--spec", help="The lab spec.")]
SanitizeOpt = Annotated[
    Path | None,
    typer.Option(
        "--sanitize",
        metavar="FILE",
        help="nbval sanitize patterns for comparing checkpoints (default: the lab's own).",
    ),
]


def assign(
    out_dir: Annotated[Path, typer.Argument(help="Where to write the student edition.")],
    notebooks: NotebooksOpt = Path("notebooks"),
    spec: SpecOpt = Path("lab.toml"),
) -> None:
    """Write the student edition: solutions cleared, outputs cleared, checkpoints kept."""
    from vpclab.course.assign import assign as write_edition

    written = write_edition(notebooks, spec, out_dir)
    typer.echo(f"wrote {len(written)} notebooks and lab.toml into {out_dir}")


def grade(
    submissions: Annotated[list[Path], typer.Argument(help="One folder per student.")],
    jobs: Annotated[int, typer.Option("--jobs", help="Grade N labs side by side.")] = 1,
    csv: Annotated[Path | None, typer.Option("--csv", metavar="FILE")] = None,
    junit: Annotated[Path | None, typer.Option("--junit", metavar="FILE")] = None,
    feedback: Annotated[Path | None, typer.Option("--feedback", metavar="DIR")] = None,
    cell_timeout: Annotated[
        float | None,
        typer.Option(
            "--cell-timeout",
            help="Seconds a cell may run (default 120, or 900 with hosts: a deploy or a "
            "pipeline build runs in one cell).",
        ),
    ] = None,
    hosts: Annotated[
        bool | None,
        typer.Option("--hosts/--no-hosts", help="Give each lab its own hosts (default: as root)."),
    ] = None,
    fast_monitoring: Annotated[
        bool,
        typer.Option(
            "--fast-monitoring/--spec-monitoring",
            help="Shorten the spec's scrape interval and alert waits in the graded labs "
            "(default), or keep them as the spec says.",
        ),
    ] = True,
    notebooks: NotebooksOpt = Path("notebooks"),
    spec: SpecOpt = Path("lab.toml"),
    sanitize: SanitizeOpt = None,
) -> None:
    """Grade a class: each submission in its own fresh lab, scored per step."""
    from vpclab.course import feedback as out
    from vpclab.course.grade import GradeSettings
    from vpclab.course.grade import grade as grade_class
    from vpclab.course.overlay import SANITIZE
    from vpclab.localcloud import netns

    if hosts is None:
        hosts = netns.unsupported_reason() is None
    settings = GradeSettings(
        reference=notebooks,
        spec=spec,
        sanitize=sanitize or SANITIZE,
        cell_timeout=cell_timeout,
        hosts=hosts,
        fast_monitoring=fast_monitoring,
    )
    results = grade_class(submissions, settings, jobs=jobs, say=typer.echo)
    if csv:
        typer.echo(f"wrote {out.write_csv(results, csv)}")
    if junit:
        typer.echo(f"wrote {out.write_junit(results, junit)}")
    if feedback:
        typer.echo(f"wrote {len(out.write_feedback(results, feedback))} pages into {feedback}")


def register(app: typer.Typer) -> None:
    app.command()(assign)
    app.command()(grade)
