"""`vpclab local ...` and `vpclab ssh`: the local cloud's lifecycle and a shell on a host."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vpclab.cli_common import SpecOpt, TargetOpt, app, console, local_app, open_lab
from vpclab.errors import UsageError, VpclabError
from vpclab.lab import Lab
from vpclab.spec import ROLES


@local_app.command("start")
def local_start(spec: SpecOpt = Path("lab.toml")) -> None:
    """Start the local cloud: the moto server, and (as root) the agent that runs the hosts."""
    for line in open_lab(spec, "local", quiet=True).local_start():
        console.print(line, highlight=False)


@local_app.command("stop")
def local_stop(spec: SpecOpt = Path("lab.toml")) -> None:
    """Stop the local cloud. The control plane's state is kept for the next start; the hosts
    are rebuilt from it."""
    for line in open_lab(spec, "local", quiet=True).local_stop():
        console.print(line, highlight=False)


@local_app.command("reset")
def local_reset(
    spec: SpecOpt = Path("lab.toml"),
    force: Annotated[
        bool, typer.Option("--force", help="Confirm: every resource of the local cloud goes.")
    ] = False,
) -> None:
    """Stop the local cloud and forget its state (its recording and the recording's key):
    the next start is an empty cloud, and `vpclab up` builds the lab again."""
    lab = Lab(spec, "local", say=lambda _l: None)
    if not force:
        raise UsageError("local reset forgets the whole local cloud", "add --force to confirm")
    for line in lab.local_reset():
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

    lab = open_lab(spec, target, quiet=True)
    outcome = run_ssh(lab.ssh_argv(role, command or None))
    if outcome.code == SSH_FAILED and outcome.cause is not None:
        step = ROLE_CHECKS.get(role, role)
        raise VpclabError(
            f"cannot reach {role} over ssh ({outcome.cause})",
            f"run 'vpclab verify --step {step}' to see which path is blocked",
        )
    raise typer.Exit(outcome.code)
