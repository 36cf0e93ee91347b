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
from rich.markup import escape
from rich.table import Table

from vpclab import labca, report
from vpclab.aws.teardown import steps_reset
from vpclab.checklist import CheckResult, failed
from vpclab.cli_common import (
    STEP_NAMES,
    FromInstanceOpt,
    SpecOpt,
    TargetOpt,
    app,
    console,
    err,
    open_lab,
)
from vpclab.course import cli as course_cli
from vpclab.errors import VpclabError
from vpclab.lab import Lab
from vpclab.outputs import LabOutputs
from vpclab.spec import Target


def _prog() -> str:
    """How the user can call this command again: `vpclab` when it is on PATH, else the
    path they ran (e.g. `.venv/bin/vpclab` from `make lab`)."""
    ran = Path(sys.argv[0])
    on_path = shutil.which("vpclab")
    if ran.name != "vpclab" or (on_path and Path(on_path).resolve() == ran.resolve()):
        return "vpclab"
    relative = os.path.relpath(ran.resolve())
    return relative if not relative.startswith("..") else "vpclab"


def _say_ca(lab: Lab, url: str) -> None:
    """Where the lab CA's certificate is, so a user can trust the site instead of ignoring
    its certificate."""
    ca = labca.ca_cert_path(lab.spec.name, lab.spec_path)
    if ca.exists():
        console.print(
            f"lab CA: {ca} (trust it: curl --cacert {ca} {url}; browsers: import it as an "
            "authority)",
            highlight=False,
            soft_wrap=True,
        )


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
        typer.Option(
            "--allow-world-admin",
            help="Target aws: accept an admin_cidr wider than /16 (0.0.0.0/0 too).",
        ),
    ] = False,
) -> None:
    """Bring the lab up (idempotent), then print the checklist and what to do next."""
    lab = open_lab(spec, target)
    steps = lab.up(through, yes=yes, allow_world_admin=allow_world_admin)
    results = lab.verify(through=through)
    report.to_rich(results, console)
    if not steps:
        err.print("no built steps selected")
    dataplane = lab.dataplane_status()
    url = dataplane.web_url or (lab.status().web_url if lab.target is Target.aws else None)
    if "monitoring" in lab.built_steps(through):
        for name, ui in (
            ("prometheus", dataplane.prometheus_url),
            ("alertmanager", dataplane.alertmanager_url),
        ):
            if ui:
                console.print(f"{name}: {ui}", highlight=False, soft_wrap=True)
    if url and "nginx" in lab.built_steps():
        console.print(f"microblog: {url}", highlight=False, soft_wrap=True)
        _say_ca(lab, url)
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
    from_instance: FromInstanceOpt = False,
) -> None:
    """Print the checklist. Exit 1 if anything FAILs. Only reads: changes nothing."""
    lab = open_lab(spec, target, quiet=True, from_instance=from_instance)
    results = lab.verify(step=step, through=through)
    if junit:
        report.write_junit(results, junit)
    if as_json:
        print(report.to_json(results, lab.spec.name, lab.target))
    else:
        report.to_rich(results, console)
    raise typer.Exit(1 if failed(results) else 0)


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
    from_instance: FromInstanceOpt = False,
) -> None:
    """What exists, by role, with ids and addresses."""
    lab = open_lab(spec, target, quiet=True, from_instance=from_instance)
    data = lab.status()
    if as_json:
        print(json.dumps(data.to_dict(), indent=2))
        return
    for table in _status_tables(data):
        console.print(table)
        console.print()
    if data.web_url:
        console.print(f"web server: {data.web_url}", highlight=False)
        _say_ca(lab, data.web_url)
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
    lab = open_lab(spec, target)
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
def reset(
    step: Annotated[str, typer.Argument(help="vpc, nat, jenkins or instances")],
    spec: SpecOpt = Path("lab.toml"),
    target: TargetOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan only.")] = False,
) -> None:
    """Remove one step's resources, and those of the later steps that stand on them, so the
    step can be done again (its notebook from the top); the earlier steps stay."""
    removed = steps_reset(step)  # a wrong step is refused before the lab is opened
    lab = open_lab(spec, target)
    done = lab.reset(step, dry_run=dry_run)
    if dry_run:
        line = f"{len(done)} actions planned; nothing changed (would remove {', '.join(removed)})"
    else:
        line = (
            f"{len(done)} actions done; removed {', '.join(removed)}: do {removed[0]} again "
            "(its notebook from the top), then the steps after it"
        )
    err.print(line, highlight=False)


@app.command()
def cost(
    spec: SpecOpt = Path("lab.toml"),
    target: TargetOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """What the lab that exists now costs on AWS, an hour and a month, per resource, from the
    dated on-demand price table (the local target itself bills nothing)."""
    lab = open_lab(spec, target, quiet=True)
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
    drawing = open_lab(spec, target, quiet=True).diagram(out, from_spec=from_spec)
    console.print(f"wrote {drawing.path}: {drawing.summary()}", highlight=False, soft_wrap=True)


# The command modules register on the same app when imported.
from vpclab import cli_local, cli_pipeline  # noqa: E402, F401

course_cli.register(app)


def main() -> None:
    try:
        code = app(standalone_mode=False)  # typer returns Exit codes in this mode
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except VpclabError as exc:
        # escape: a fix such as "pip install -e '.[course]'" is not rich markup
        err.print(f"[bold red]error:[/] {escape(exc.line())}", highlight=False)
        sys.exit(exc.exit_code)
    except (ClientError, BotoCoreError) as exc:
        refused = escape(str(exc))
        err.print(f"[bold red]error:[/] the cloud refused a call: {refused}", highlight=False)
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
