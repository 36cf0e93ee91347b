"""Step `scripts`: deploy the microblog the way Jenkins will, with scripts/setup.sh on the web
server, which runs scripts/start_app.sh on the app server over the pinned SSH path.

SECRET_KEY lives in SSM Parameter Store (a SecureString, created once). The app server has
no role to read it with (and locally cannot reach the emulated control plane), so this step
reads it and hands it down on stdin: never on a command line, never in git.
"""

from __future__ import annotations

import os
from pathlib import Path
from secrets import token_hex

from vpclab import blanks, remote
from vpclab.aws import secrets
from vpclab.aws.jenkins_setup import repo_url
from vpclab.errors import VpclabError
from vpclab.facts.app_deploy import DEPLOY_CONF, SCRIPTS_DIR
from vpclab.steps.context import Context

REF_ENV = "VPCLAB_DEPLOY_REF"
DEPLOY_CONF_KEYS = ("REPO_URL", "APP_HOST", "APP_PORT", "PIP_ARGS")


def secret_parameter(lab: str) -> str:
    return secrets.name(lab, "microblog", "SECRET_KEY")


def secret_key(ctx: Context) -> str:
    """The app's SECRET_KEY from SSM, created (once, tagged with the lab) when missing."""
    return secrets.ensure(
        ctx.cloud.client("ssm"),
        ctx.spec.name,
        "microblog",
        "SECRET_KEY",
        ctx.say,
        creator=ctx.creator,
        description=f"SECRET_KEY of the microblog in lab {ctx.spec.name}",
        value=lambda: token_hex(32),
    )


def script_text(name: str, project: Path | None = None) -> str:
    """A script of the scripts/ folder (what Jenkins runs too): the `project`'s copy (the
    folder of the lab's spec, where a student fills start_app.sh's blanks) when it has one,
    else the kit's. A blank left unfilled is a one-line error naming the file."""
    return blanks.read(project, f"scripts/{name}")


def deploy_settings(ctx: Context) -> dict[str, str]:
    """Where the app server fetches the code and the wheels from."""
    served = remote.services(ctx)
    settings = {"APP_PORT": str(ctx.spec.ports.app)}
    if served is not None:
        settings.update(REPO_URL=served.git_url, PIP_ARGS=" ".join(served.pip_args))
    else:
        settings["REPO_URL"] = repo_url("the deploy on the aws target")
    if os.environ.get(REF_ENV):
        settings["REF"] = os.environ[REF_ENV]
    return settings


def deploy_conf(settings: dict[str, str], app_ip: str) -> str:
    """The deploy gate's settings file: KEY=VALUE lines, one value per line."""
    values = {**settings, "APP_HOST": app_ip}
    for key in DEPLOY_CONF_KEYS:
        if "\n" in values.get(key, "") or "\r" in values.get(key, ""):
            raise VpclabError(f"the deploy setting {key} spans lines", f"give {key} on one line")
    return "".join(f"{key}={values.get(key, '')}\n" for key in DEPLOY_CONF_KEYS)


def run_setup(ctx: Context, extra: dict[str, str] | None = None) -> str:
    """Copy both scripts to the web server and run setup.sh there; returns its log."""
    app_at = remote.where(ctx, "app")
    settings = {**deploy_settings(ctx), **(extra or {}), "SECRET_STDIN": "1"}
    web = remote.open_role(ctx, "web")
    try:
        for name in ("setup.sh", "start_app.sh"):
            text = script_text(name, ctx.spec_path.parent)
            remote.ensure_file(web, f"{SCRIPTS_DIR}/{name}", text, 0o755)
        result = web.run(
            f"bash {SCRIPTS_DIR}/setup.sh {app_at.private_ip}",
            env=settings,
            input=secret_key(ctx) + "\n",
            timeout=900,
            check=False,
        )
    finally:
        remote.close(web)
    log = (result.stderr + result.stdout).strip()
    if not result.ok:
        last = log.splitlines()[-1] if log else f"exit {result.rc}"
        raise VpclabError(
            f"the deploy failed: {last}",
            "see the lines above; fix it and run 'vpclab up' again",
        )
    return log


NEEDS_HOSTS = True  # Lab.up brings the data plane up before this step


def apply(ctx: Context) -> None:
    reason = remote.unreachable(ctx)
    if reason:
        ctx.say(f"scripts: hosts skipped: {reason}")
        return
    web = remote.open_role(ctx, "web")
    try:
        text = deploy_conf(deploy_settings(ctx), remote.where(ctx, "app").private_ip)
        if remote.ensure_file(web, DEPLOY_CONF, text, 0o644):
            ctx.say(f"wrote the settings of Jenkins' deploys ({DEPLOY_CONF} on the web server)")
    finally:
        remote.close(web)
    log = run_setup(ctx)
    for line in log.splitlines():
        if line.startswith("start_app:"):
            ctx.say(line)
