"""Step `pipeline`: the Jenkins host runs the Jenkinsfile (local target) unless a build has
already built the commit that production serves. So `vpclab up` leaves a green build behind,
and a second `vpclab up` changes nothing. On AWS, real Jenkins runs the pipeline."""

from __future__ import annotations

import json

from vpclab.errors import VpclabError
from vpclab.pipeline import builds
from vpclab.pipeline.builds import Result
from vpclab.steps import remote
from vpclab.steps.context import Context

NEEDS_HOSTS = True  # Lab.up brings the data plane up before this step


def served_commit(ctx: Context) -> str | None:
    """The commit /healthz reports through the proxy, or None when it does not answer."""
    web = remote.where(ctx, "web")
    if not web.public_ip:
        return None
    try:
        reply = remote.http_get(ctx, web.public_ip, ctx.spec.ports.http, "/healthz")
        return json.loads(reply.body).get("commit") or None
    except (OSError, ValueError):
        return None


def built(ctx: Context, commit: str) -> builds.BuildSummary | None:
    """The newest build of `commit` that did not fail."""
    found = builds.last(builds.builds_dir(ctx.spec.name, ctx.spec_path), count=50)
    return next((b for b in found if b.commit == commit and b.result is not Result.FAILURE), None)


def apply(ctx: Context) -> None:
    if not remote.is_local(ctx):
        ctx.say("pipeline: Jenkins runs it on aws (the workload_4 job)")
        return
    reason = remote.unreachable(ctx)
    if reason:
        ctx.say(f"pipeline: hosts skipped: {reason}")
        return
    commit = served_commit(ctx)
    done = built(ctx, commit) if commit else None
    if done is not None:
        ctx.say(f"pipeline: build #{done.number} built the served commit {commit[:12]}")
        return
    from vpclab.pipeline.local import run_on_lab

    # Verify checks the steps so far: the later ones are not applied yet.
    summary = run_on_lab(ctx, None, say=lambda _line: None, verify_through="pipeline")
    stages = ", ".join(f"{s.name} {s.result}" for s in summary.stages)
    ctx.say(f"pipeline: build #{summary.number} of {summary.commit[:12]}: {summary.result}")
    ctx.say(f"pipeline: {stages}")
    bad = summary.failing_stage()
    if bad is not None:
        raise VpclabError(
            f"pipeline build #{summary.number} failed at {bad.name}: "
            f"{bad.first_error or bad.reason or 'no error line'}",
            "see 'vpclab pipeline status'; fix it, commit, then 'vpclab pipeline run'",
        )
