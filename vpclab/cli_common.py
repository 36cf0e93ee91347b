"""What every `vpclab` command module shares: the app, the consoles, the common options and
how a command opens its lab."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from vpclab.errors import UsageError
from vpclab.lab import Lab
from vpclab.spec import STEPS, Target
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


FromInstanceOpt = Annotated[
    bool,
    typer.Option(
        "--from-instance",
        help="On a lab instance (the Jenkins server's builds): the lab, target and region from "
        "the instance's own tags and metadata, read with its instance profile's keys.",
    ),
]


def open_lab(
    spec: Path, target: Target | None, quiet: bool = False, from_instance: bool = False
) -> Lab:
    say = (lambda _line: None) if quiet else (lambda line: err.print(line, highlight=False))
    if from_instance:
        if target is not None:
            raise UsageError(
                "--from-instance reads the target from the instance's tags", "leave out --target"
            )
        return Lab.from_instance(spec, say=say)
    lab = Lab(spec, target, say=say)
    if lab.target is Target.aws and not quiet:
        err.print(f"[bold yellow]target aws[/]: {lab.account()} — real resources, real bills")
    return lab
