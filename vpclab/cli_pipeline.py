"""`vpclab pipeline ...` and `vpclab dashboard`: the pipeline's builds and the monitoring
dashboard as code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from vpclab.cli_common import SpecOpt, TargetOpt, app, console, open_lab, pipeline_app
from vpclab.errors import UsageError


@pipeline_app.command("run")
def pipeline_run(
    spec: SpecOpt = Path("lab.toml"),
    ref: Annotated[
        str | None,
        typer.Option(metavar="REF", help="The branch to build (default: the remote's default)."),
    ] = None,
) -> None:
    """Run the Jenkinsfile on the lab's Jenkins host (local target), as user jenkins, in a
    checkout of the lab's git remote. Exit 1 unless the build is SUCCESS or UNSTABLE."""
    from vpclab.pipeline.builds import Result
    from vpclab.pipeline.view import stage_table

    summary = open_lab(spec, "local", quiet=True).pipeline_run(
        ref, say=lambda line: print(line, flush=True)
    )
    console.print(stage_table(summary))
    raise typer.Exit(1 if summary.result is Result.FAILURE else 0)


@pipeline_app.command("status")
def pipeline_status(
    spec: SpecOpt = Path("lab.toml"),
    count: Annotated[int, typer.Option(metavar="N", help="How many builds to show.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print the builds as JSON.")] = False,
) -> None:
    """Show the last pipeline builds and the stage table of the newest. Only reads."""
    from vpclab.pipeline.view import builds_table, stage_table

    summaries = open_lab(spec, None, quiet=True).pipeline_builds(count)
    if as_json:
        print(json.dumps([s.model_dump(mode="json") for s in summaries], indent=2))
        return
    if not summaries:
        console.print("no pipeline build yet")
        return
    console.print(builds_table(summaries))
    console.print(stage_table(summaries[0]))


@app.command()
def dashboard(
    spec: SpecOpt = Path("lab.toml"),
    target: TargetOpt = None,
    png: Annotated[
        Path | None,
        typer.Option(help="Draw the dashboard's panels from the live Prometheus into this PNG."),
    ] = None,
    files: Annotated[
        Path | None,
        typer.Option(help="Write the Grafana provisioning files and dashboard JSON here."),
    ] = None,
    minutes: Annotated[float, typer.Option(help="The time range drawn, in minutes.")] = 15,
) -> None:
    """The Grafana dashboard as code: its files (--files DIR), or drawn as a picture (--png)."""
    if png is None and files is None:
        raise UsageError("nothing to do", "pass --png FILE and/or --files DIR")
    lab = open_lab(spec, target, quiet=png is None)
    if files is not None:
        for path in lab.dashboard_files(files):
            console.print(f"wrote {path}")
    if png is not None:
        console.print(f"wrote {lab.dashboard_png(png, minutes)}")
