"""A throwaway local lab: the one way the tests, the benchmarks and the live notebooks run
make a lab of their own.

It has its own name, state folder, moto server and agent. Its git remote serves a fresh clone
of the project with the checkout's HEAD as branch `main` (the Jenkinsfile deploys main only),
so it works from any branch and a commit lands in the clone, never in the checkout. While it
is open, the process environment points at its state folder (in-process `Lab` calls and
child processes find it); leaving it, also after a failure, removes every host, namespace,
veth and process the lab made and restores the environment. The grader builds its labs its
own way (a relay and a jail between the student's kernel and the lab: `course/runner.py`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from vpclab.errors import VpclabError

# Settings of the operator's shell that would point the lab's CLI elsewhere.
FOREIGN_ENV = ("AWS_ENDPOINT_URL", "VPCLAB_TARGET", "VPCLAB_DATAPLANE")


@dataclass
class Throwaway:
    name: str
    spec: Path
    project: Path  # what the lab's git remote serves
    env: dict[str, str]  # the environment the lab's CLI runs with

    def cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        """`vpclab ARGS --spec SPEC` in a fresh process, with this lab's environment."""
        return subprocess.run(
            [sys.executable, "-m", "vpclab.cli", *args, "--spec", str(self.spec)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def checkout() -> Path:
    from vpclab.localcloud.client import project_root

    root = project_root()
    if root is None:
        raise VpclabError("a throwaway lab clones the kit's git checkout: run vpclab from one")
    return root


def spec_text(name: str, settings: dict[str, str] | None = None) -> str:
    """The project's lab.toml under another name, with string `settings` replaced."""
    text = (checkout() / "lab.toml").read_text()
    for key, value in {"name": name, **(settings or {})}.items():
        text = re.sub(rf'^{key} = "[^"]*"', f'{key} = "{value}"', text, count=1, flags=re.M)
    return text


@contextmanager
def throwaway_lab(
    folder: Path,
    name: str,
    settings: dict[str, str] | None = None,
    *,
    spec_in_project: bool = False,
    down_timeout: float = 120,
) -> Iterator[Throwaway]:
    """A lab named `name` in `folder` (the clone in `folder/project`, the state in
    `folder/state`) with its control plane and agent running; `vpclab up` brings the hosts.
    `spec_in_project` puts lab.toml in the clone, where its notebooks look for it."""
    from vpclab.localcloud import client, motoserver
    from vpclab.paths import local_dir
    from vpclab.spec import load_spec

    project = folder / "project"
    subprocess.run(["git", "clone", "--quiet", str(checkout()), str(project)], check=True)
    subprocess.run(["git", "-C", str(project), "checkout", "-q", "-B", "main"], check=True)
    spec = (project if spec_in_project else folder) / "lab.toml"
    spec.write_text(spec_text(name, settings))
    saved = {key: os.environ.get(key) for key in (*FOREIGN_ENV, "VPCLAB_STATE")}
    for key in FOREIGN_ENV:
        os.environ.pop(key, None)
    os.environ["VPCLAB_STATE"] = str(folder / "state")
    lab = Throwaway(name, spec, project, dict(os.environ))
    try:
        where = local_dir(spec)
        endpoint = motoserver.start(where).endpoint
        # The agent serves the clone; `vpclab up` keeps this agent (same endpoint and code).
        client.start(where, endpoint, load_spec(spec).region, repo_root=project)
        yield lab
    finally:
        lab.cli("local", "down", "--force", timeout=down_timeout)
        lab.cli("local", "stop", timeout=120)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
