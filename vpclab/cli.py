"""The `vpclab` command: it parses, calls `Lab` and renders. User mistakes are one line on
stderr, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.table import Table

from vpclab import report
from vpclab.checklist import CheckResult, failed
from vpclab.course import cli as course_cli
from vpclab.errors import UsageError, VpclabError
from vpclab.lab import Lab
from vpclab.outputs import LabOutputs
from vpclab.spec import ROLES, STEPS, Target
from vpclab.steps import BUILT

# Plain click help: flags show as flags (no type placeholder), choices as a|b.
app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Build, check and tear down the microblog VPC lab.",
)
local_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="The local target: moto server and hosts."
)
app.add_typer(local_app, name="local")
pipeline_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    help="The Jenkinsfile's builds: Build, Test, Security, Deploy, Verify.",
)
app.add_typer(pipeline_app, name="pipeline")
# Wide when piped (make, CI logs), the real width in a terminal.
console = Console() if sys.stdout.isatty() else Console(width=160)
err = Console(stderr=True, soft_wrap=True)  # one error, one line

LATER = [s for s in STEPS if s not in BUILT]
STEP_NAMES = f"{', '.join(BUILT)}" + (f" (not built yet: {', '.join(LATER)})" if LATER else "")

SpecOpt = Annotated[Path, typer.Option("--spec", help="The lab spec.")]
TargetOpt = Annotated[
    Target | None,
    typer.Option(
        "--target",
        help="local (the default: moto + namespaces) or aws (real AWS: explicit only). "
        "Else VPCLAB_TARGET, else the spec's target.",
    ),
]


def _lab(spec: Path, target: Target | None, quiet: bool = False) -> Lab:
    say = (lambda _line: None) if quiet else (lambda line: err.print(line, highlight=False))
    lab = Lab(spec, target, say=say)
    if lab.target is Target.aws and not quiet:
        err.print(f"[bold yellow]target aws[/]: {lab.account()} — real resources, real bills")
    return lab


def _prog() -> str:
    """How the user can call this command again: `vpclab` when it is on PATH, else the
    path they ran (e.g. `.venv/bin/vpclab` from `make lab`)."""
    ran = Path(sys.argv[0])
    on_path = shutil.which("vpclab")
    if ran.name != "vpclab" or (on_path and Path(on_path).resolve() == ran.resolve()):
        return "vpclab"
    relative = os.path.relpath(ran.resolve())
    return relative if not relative.startswith("..") else "vpclab"


def _next_line(results: list[CheckResult], url: str | None) -> str:
    prog = _prog()
    if failed(results):
        return f"next: each FAIL line says how to fix it; then run '{prog} verify'"
    todo = ["open the microblog URL above in a browser"] if url else []
    todo += [
        f"'{prog} verify' to check again",
        "'make jupyter' for the notebooks",
        f"'{prog} down' to remove the lab",
    ]
    return "next: " + "; ".join(todo)


@app.command()
def up(
    spec: SpecOpt = Path("lab.toml"),
    target: TargetOpt = None,
    through: Annotated[
        str | None,
        typer.Option(metavar="STEP", help=f"Stop after this step: {STEP_NAMES}."),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Target aws: create without asking (after preflight).")
    ] = False,
    allow_world_admin: Annotated[
        bool,
        typer.Option("--allow-world-admin", help="Target aws: accept admin_cidr = 0.0.0.0/0."),
    ] = False,
) -> None:
    """Bring the lab up (idempotent), then print the checklist and what to do next."""
    lab = _lab(spec, target)
    steps = lab.up(through, yes=yes, allow_world_admin=allow_world_admin)
    results = lab.verify(through=through)
    report.to_rich(results, console)
    if not steps:
        err.print("no built steps selected")
    dataplane = lab.dataplane_status()
    url = dataplane.web_url
    if "monitoring" in lab.built_steps(through):
        for name, ui in (
            ("prometheus", dataplane.prometheus_url),
            ("alertmanager", dataplane.alertmanager_url),
        ):
            if ui:
                console.print(f"{name}: {ui}", highlight=False, soft_wrap=True)
    if url and "nginx" in lab.built_steps():
        console.print(f"microblog: {url}", highlight=False, soft_wrap=True)
    elif url:
        console.print(
            f"web server published at {url} (the microblog is served there once the nginx "
            "step is built)",
            highlight=False,
            soft_wrap=True,
        )
    served = url if url and "nginx" in lab.built_steps() else None
    console.print(_next_line(results, served), highlight=False, soft_wrap=True)
    raise typer.Exit(1 if failed(results) else 0)


@app.command()
def verify(
    spec: SpecOpt = Path("lab.toml"),
    target: TargetOpt = None,
    step: Annotated[
        str | None, typer.Option(metavar="STEP", help=f"Check one step only: {STEP_NAMES}.")
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print one JSON object: lab, target, time, totals, checks."),
    ] = False,
    junit: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Also write JUnit XML.")
    ] = None,
    through: Annotated[
        str | None,
        typer.Option(metavar="STEP", help="Check the built steps up to and including STEP."),
    ] = None,
) -> None:
    """Print the checklist. Exit 1 if anything FAILs. Only reads: changes nothing."""
    lab = _lab(spec, target, quiet=True)
    results = lab.verify(step=step, through=through)
    if junit:
        report.write_junit(results, junit)
    if as_json:
        print(report.to_json(results, lab.spec.name, lab.target))
    else:
        report.to_rich(results, console)
    raise typer.Exit(1 if failed(results) else 0)


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

    summary = _lab(spec, "local", quiet=True).pipeline_run(
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

    summaries = _lab(spec, None, quiet=True).pipeline_builds(count)
    if as_json:
        print(json.dumps([s.model_dump(mode="json") for s in summaries], indent=2))
        return
    if not summaries:
        console.print("no pipeline build yet")
        return
    console.print(builds_table(summaries))
    console.print(stage_table(summaries[0]))


def _status_tables(data: LabOutputs) -> list[Table]:
    where = f"lab {data.lab}" + (f" (id {data.lab_id})" if data.lab_id else "")
    network = Table(
        title=f"{where} on {data.target} ({data.region})",
        box=None,
        padding=(0, 1),
        pad_edge=False,
        header_style="bold underline",
    )
    for column in ("resource", "id", "address"):
        network.add_column(column, no_wrap=True)
    network.add_row("vpc", data.vpc_id or "-", "")
    network.add_row("public subnet", ", ".join(data.public_subnet_ids) or "-", "")
    network.add_row("private subnet", ", ".join(data.private_subnet_ids) or "-", "")
    network.add_row("nat gateway", ", ".join(data.natgw_ids) or "-", ", ".join(data.nat_public_ips))
    network.add_row("peering", data.peering_id or "-", "")
    servers = Table(box=None, padding=(0, 1), pad_edge=False, header_style="bold underline")
    for column in ("role", "id", "state", "type", "private IP", "public IP"):
        servers.add_column(column, no_wrap=True)
    for role, inst in data.instances.items():
        public = inst.public_ip or "-"
        wire = data.wire_ip(role)
        servers.add_row(
            role,
            inst.id,
            inst.state,
            inst.type,
            inst.private_ip or "-",
            f"{public} (on the wire {wire})" if wire else public,
        )
    return [network, servers] if data.instances else [network]


@app.command()
def status(
    spec: SpecOpt = Path("lab.toml"),
    target: TargetOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """What exists, by role, with ids and addresses."""
    data = _lab(spec, target, quiet=True).status()
    if as_json:
        print(json.dumps(data.to_dict(), indent=2))
        return
    for table in _status_tables(data):
        console.print(table)
        console.print()
    if data.web_url:
        console.print(f"web server: {data.web_url}")
    for name, url in (("prometheus", data.prometheus_url), ("alertmanager", data.alertmanager_url)):
        if url:
            console.print(f"{name}: {url}", highlight=False)
    if not data.dataplane.running and data.dataplane.reason:
        console.print(f"hosts: {data.dataplane.reason}", highlight=False)


@app.command()
def down(
    spec: SpecOpt = Path("lab.toml"),
    target: TargetOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan only.")] = False,
) -> None:
    """Tear the lab down in dependency order, so nothing keeps billing."""
    lab = _lab(spec, target)
    running = lab.cost()  # read before: what the teardown stops paying for
    done = lab.down(dry_run=dry_run)
    err.print(
        f"{len(done)} actions {'planned' if dry_run else 'done'}; "
        f"{'nothing changed' if dry_run else 'nothing tagged for the lab is left'}"
    )
    if running.lines:
        stops = "would stop" if dry_run else "stopped"
        err.print(f"{stops} paying for {running.summary()}:", highlight=False)
        for line in running.to_text():
            err.print(line, highlight=False)


@app.command()
def cost(
    spec: SpecOpt = Path("lab.toml"),
    target: TargetOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """What the lab that exists now costs on AWS, an hour and a month, per resource, from the
    dated on-demand price table (the local target itself bills nothing)."""
    lab = _lab(spec, target, quiet=True)
    running = lab.cost()
    if as_json:
        print(json.dumps({"lab": lab.spec.name, "target": str(lab.target), **running.to_dict()}))
        return
    where = "on AWS" if lab.target is Target.local else "here"
    console.print(
        f"lab {lab.spec.name}: what exists now would cost {where}, at on-demand prices of "
        f"{running.region} as of {running.as_of} ({running.currency})",
        highlight=False,
        soft_wrap=True,
    )
    if not running.lines:
        console.print(
            f"  nothing of the lab exists: it costs nothing now; the whole lab would cost "
            f"{lab.cost_of_spec().summary()}",
            highlight=False,
            soft_wrap=True,
        )
        return
    for line in running.to_text():
        console.print(line, highlight=False)
    console.print(running.summary(), highlight=False)


@app.command()
def diagram(
    spec: SpecOpt = Path("lab.toml"),
    target: TargetOpt = None,
    out: Annotated[Path, typer.Option(help="Where to write it (.jpg, .png, .svg or .dot).")] = Path(
        "Diagram.jpg"
    ),
    from_spec: Annotated[
        bool, typer.Option("--from-spec", help="Draw from the spec even when a lab exists.")
    ] = False,
) -> None:
    """Draw the architecture: the live lab (real addresses, traffic paths, a PASS/FAIL badge
    per step) when one exists, else from the spec (the committed Diagram.jpg)."""
    drawing = _lab(spec, target, quiet=True).diagram(out, from_spec=from_spec)
    console.print(f"wrote {drawing.path}: {drawing.summary()}", highlight=False, soft_wrap=True)


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
    lab = _lab(spec, target, quiet=png is None)
    if files is not None:
        for path in lab.dashboard_files(files):
            console.print(f"wrote {path}")
    if png is not None:
        console.print(f"wrote {lab.dashboard_png(png, minutes)}")


@local_app.command("start")
def local_start(spec: SpecOpt = Path("lab.toml")) -> None:
    """Start the local cloud: the moto server, and (as root) the agent that runs the hosts."""
    for line in _lab(spec, "local", quiet=True).local_start():
        console.print(line, highlight=False)


@local_app.command("stop")
def local_stop(spec: SpecOpt = Path("lab.toml")) -> None:
    """Stop the local cloud. The control plane's state is kept for the next start; the hosts
    are rebuilt from it."""
    for line in _lab(spec, "local", quiet=True).local_stop():
        console.print(line, highlight=False)


@local_app.command("status")
def local_status(spec: SpecOpt = Path("lab.toml")) -> None:
    """Is the local cloud running, and which hosts are up?"""
    lab = Lab(spec, "local", say=lambda _l: None)
    console.print(lab.local_control_plane(), highlight=False)
    data = lab.dataplane_status()
    if data.lab_id:
        console.print(f"lab {lab.spec.name}: id {data.lab_id}", highlight=False)
    if not data.running or data.reason:
        console.print(f"data plane: {data.reason}", highlight=False)
    for name, host in data.hosts.items():
        api = host.api_public_ip
        public = host.public_ip or "-"
        if api and api != host.public_ip:
            public = f"{public} (API {api})"
        console.print(
            f"  {name:<11} {host.netns:<24} private {host.private_ip:<12} "
            f"public {public:<15} {'booted' if host.booted else 'booting'}",
            highlight=False,
        )


@local_app.command("down")
def local_down(
    spec: SpecOpt = Path("lab.toml"),
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Remove every namespace, link and process of this lab (found by its id: "
            "its name plus its state folder), even after a crash.",
        ),
    ] = False,
    all_labs: Annotated[
        bool,
        typer.Option(
            "--all",
            help="With --force: remove every vpclab lab on this machine, and stop every agent.",
        ),
    ] = False,
) -> None:
    """Remove the lab's hosts from this machine (the control plane is left as it is)."""
    lab = Lab(spec, "local", say=lambda _l: None)
    if not force:
        raise UsageError("local down removes hosts by force", "add --force to confirm")
    removed = lab.local_down(all_labs=all_labs)
    which = "every vpclab lab" if all_labs else f"lab {lab.spec.name} (id {lab.lab_id})"
    console.print(
        f"removed {len(removed)} objects of {which}"
        + (f": {', '.join(removed)}" if removed else ""),
        highlight=False,
    )


ROLE_CHECKS = {"jenkins": "jenkins", "web": "instances", "app": "instances"}


@app.command()
def ssh(
    role: Annotated[str, typer.Argument(help=f"One of: {', '.join(ROLES)}.")],
    spec: SpecOpt = Path("lab.toml"),
    target: TargetOpt = None,
    command: Annotated[
        list[str] | None, typer.Argument(help="Run this instead of a shell.")
    ] = None,
) -> None:
    """Open a shell on a lab host over SSH, host keys pinned (the app through the web server).
    A host that cannot be reached fails within seconds, naming the check to run."""
    from vpclab.hosts.shell import SSH_FAILED, run_ssh

    lab = _lab(spec, target, quiet=True)
    outcome = run_ssh(lab.ssh_argv(role, command or None))
    if outcome.code == SSH_FAILED and outcome.cause is not None:
        step = ROLE_CHECKS.get(role, role)
        raise VpclabError(
            f"cannot reach {role} over ssh ({outcome.cause})",
            f"run 'vpclab verify --step {step}' to see which path is blocked",
        )
    raise typer.Exit(outcome.code)


course_cli.register(app)


def main() -> None:
    try:
        code = app(standalone_mode=False)  # typer returns Exit codes in this mode
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except VpclabError as exc:
        err.print(f"[bold red]error:[/] {exc.line()}", highlight=False)
        sys.exit(exc.exit_code)
    except (ClientError, BotoCoreError) as exc:
        err.print(f"[bold red]error:[/] the cloud refused a call: {exc}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted: run the same command again to continue where it stopped")
        sys.exit(130)
    except Exception as exc:
        # Usage errors from typer's bundled click: shown as click shows them, exit 2.
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
