"""The course's commands, `vpclab assign` and `vpclab grade`, added to the main CLI."""

from __future__ import annotations

import importlib.util
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


# What `assign` and `grade` import: the `course` extras (`make setup` installs the core only).
COURSE_MODULES = {
    "assign": ("nbformat", "nbgrader"),
    "grade": ("nbformat", "nbclient", "nbval", "ipykernel"),
}


def require_course(command: str) -> None:
    """One line naming what to install when the course's extras are missing."""
    from vpclab.errors import UsageError

    missing = [m for m in COURSE_MODULES[command] if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(
            f"vpclab {command} needs {', '.join(missing)}, "
            f"which {'is' if len(missing) == 1 else 'are'} not installed",
            ".venv/bin/pip install -e '.[course]' (or make setup-test)",
        )


def assign(
    out_dir: Annotated[Path, typer.Argument(help="Where to write the student edition.")],
    notebooks: NotebooksOpt = Path("notebooks"),
    spec: SpecOpt = Path("lab.toml"),
) -> None:
    """Write the handout: the student edition of the notebooks (solutions and outputs
    cleared, checkpoints kept), lab.toml, the Jenkinsfile and a README; no solution."""
    require_course("assign")
    from vpclab.course.assign import assign as write_edition

    written = write_edition(notebooks, spec, out_dir)
    typer.echo(
        f"wrote {len(written)} notebooks, lab.toml, Jenkinsfile and README.md into {out_dir}"
    )


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
        typer.Option(
            "--hosts/--no-hosts",
            help="Give each lab its own hosts (default, needs root on Linux), or grade the "
            "control plane only: live checks SKIP, and an all-SKIP step scores SKIPPED.",
        ),
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
    jail: Annotated[
        bool | None,
        typer.Option(
            "--jail/--no-jail",
            help="Run each kernel as a throwaway user that cannot read the reference or the "
            "class (default: whenever it can: root on Linux, without hosts).",
        ),
    ] = None,
    rubric: Annotated[
        Path | None,
        typer.Option(
            "--rubric",
            metavar="FILE",
            help="Points per check (default: rubric.toml beside the spec, else the defaults).",
        ),
    ] = None,
) -> None:
    """Grade a class: each submission in its own fresh lab, scored per step."""
    require_course("grade")
    from vpclab.course import feedback as out
    from vpclab.course.grade import GradeSettings
    from vpclab.course.grade import grade as grade_class
    from vpclab.course.overlay import SANITIZE
    from vpclab.errors import UsageError
    from vpclab.localcloud import netns

    if hosts is None:
        reason = netns.unsupported_reason()
        if reason:
            raise UsageError(
                f"the labs cannot have hosts here: {reason}",
                "run as root on Linux, or pass --no-hosts to grade without them (steps "
                "whose checks all SKIP then score SKIPPED)",
            )
        hosts = True
    if not hosts:
        typer.echo("grading WITHOUT hosts: live checks SKIP; an all-SKIP step scores SKIPPED")
    settings = GradeSettings(
        reference=notebooks,
        spec=spec,
        sanitize=sanitize or SANITIZE,
        cell_timeout=cell_timeout,
        hosts=hosts,
        fast_monitoring=fast_monitoring,
        rubric=rubric,
        jail=jail,
    )
    if settings.jail:
        from vpclab.course.jail import unsupported_reason

        reason = unsupported_reason()
        if reason:
            raise UsageError(f"cannot jail the kernels: {reason}", "run as root, or --no-jail")
    else:
        typer.echo("the notebooks run as the grader's user (not jailed)")
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
