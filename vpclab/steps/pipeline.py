"""Step `pipeline`: the Jenkins host runs the Jenkinsfile (local target) unless a build has
already built the commit that production serves. So `vpclab up` leaves a green build behind,
and a second `vpclab up` changes nothing. On AWS, real Jenkins runs the pipeline: once the keys
exist, this step triggers the workload_4 job's build of main through Jenkins' REST API (over
the pinned SSH path) and waits for it; the job also scans the repository every 5 minutes."""

from __future__ import annotations

import dataclasses
import json

from vpclab import remote
from vpclab.aws import jenkins_api, retry
from vpclab.errors import VpclabError
from vpclab.facts.server_apis import jenkins_of
from vpclab.pipeline import builds
from vpclab.pipeline.builds import Result
from vpclab.steps.context import Context

NEEDS_HOSTS = True  # Lab.up brings the data plane up before this step


def served_commit(ctx: Context) -> str | None:
    """The commit /healthz reports through the proxy, or None when it does not answer."""
    web = remote.where(ctx, "web")
    if not web.public_ip:
        return None
    try:
        reply = remote.site_get(ctx, "/healthz")
        return json.loads(reply.body).get("commit") or None
    except (OSError, ValueError, VpclabError):
        return None


def built(ctx: Context, commit: str) -> builds.BuildSummary | None:
    """The newest build of `commit` that did not fail."""
    found = builds.last(builds.builds_dir(ctx.spec.name, ctx.spec_path), count=50)
    return next((b for b in found if b.commit == commit and b.result is not Result.FAILURE), None)


def watch_jenkins(ctx: Context, timeout: float = 1800.0) -> builds.BuildSummary | None:
    """Build main on real Jenkins unless a build of the served commit already passed; wait."""
    reason = remote.unreachable(ctx)
    if reason:
        ctx.say(f"pipeline: Jenkins not reached: {reason}")
        return None
    jenkins = jenkins_of(ctx)
    commit = served_commit(ctx)

    def listed() -> bool | None:
        if jenkins.branch_exists():
            return True
        jenkins.scan()  # a fresh Jenkins may not have scanned the repository yet
        return None

    ctx.wait_for(listed, bool, f"Jenkins to list {jenkins_api.JOB}'s {jenkins_api.BRANCH} branch")
    done = next(
        (b for b in jenkins.summaries(20) if b.commit == commit and b.result is not Result.FAILURE),
        None,
    )
    if commit and done is not None:
        ctx.say(f"pipeline: Jenkins build #{done.number} built the served commit {commit[:12]}")
        return done
    queue = jenkins.trigger()
    ctx.say(f"pipeline: triggered {jenkins_api.JOB} on Jenkins ({queue})")
    pacing = dataclasses.replace(ctx.pacing, state_budget=timeout, max_delay=15.0)
    number = retry.poll(
        lambda: jenkins.queued_number(queue),
        bool,
        what="Jenkins to start the build",
        budget=pacing.state_budget,
        pacing=pacing,
        say=ctx.say,
    )
    summary = retry.poll(
        lambda: jenkins.summary(number),
        bool,
        what=f"Jenkins build #{number} to finish",
        budget=pacing.state_budget,
        pacing=pacing,
        say=ctx.say,
        hint="see the build in Jenkins; 'vpclab verify --step pipeline' reads it later",
    )
    report(ctx, summary, "see the build in Jenkins; fix it, commit, then 'vpclab up' again")
    return summary


def report(ctx: Context, summary: builds.BuildSummary, fix: str) -> None:
    stages = ", ".join(f"{s.name} {s.result}" for s in summary.stages)
    ctx.say(f"pipeline: build #{summary.number} of {summary.commit[:12]}: {summary.result}")
    ctx.say(f"pipeline: {stages}")
    bad = summary.failing_stage()
    if bad is not None:
        raise VpclabError(
            f"pipeline build #{summary.number} failed at {bad.name}: "
            f"{bad.first_error or bad.reason or 'no error line'}",
            fix,
        )


def apply(ctx: Context) -> None:
    if ctx.site.runs_jenkins:
        watch_jenkins(ctx)
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

    # Verify checks the steps through this one (scripts/ci/verify.sh): later ones come later.
    summary = run_on_lab(ctx, None, say=lambda _line: None)
    report(ctx, summary, "see 'vpclab pipeline status'; fix it, commit, then 'vpclab pipeline run'")
