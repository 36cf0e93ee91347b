"""Checks of step `pipeline`: the last build is green (UNSTABLE only for the dependency audit
that could not reach its data), it published test results, and the commit it built is the one
/healthz reports through the proxy. A failing hint names the stage and its first error line.
The builds are the local runner's (the state folder) on the local target, and real Jenkins'
(its REST API, over the pinned SSH path) on aws."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable

from vpclab import remote
from vpclab.checks import Facts, Outcome, check, fail, ok, skip
from vpclab.checks.hosts import on_hosts, public_web
from vpclab.errors import VpclabError
from vpclab.facts.pipeline_build import inside_build
from vpclab.pipeline.builds import BuildSummary, Result, builds_dir, last

RUN = "run 'vpclab pipeline run' (on the aws target: 'vpclab up', which builds workload_4)"
AUDIT_UNCHECKED = "dependencies not checked"
AUDIT_STAGES = ("Security", "Dependency-Check")  # pip-audit everywhere, OWASP on real Jenkins


def recent(facts: Facts, count: int) -> list[BuildSummary]:
    """The last finished builds, newest first: the state folder's, or real Jenkins' (read
    once per checklist)."""
    if not facts.site.runs_jenkins:  # the kit's runner keeps them in the state folder
        return last(builds_dir(facts.spec.name, facts.spec_path), count)
    if remote.unreachable(facts):
        return []
    cache = facts.__dict__.setdefault("_jenkins_builds", {})
    if count not in cache:
        from vpclab.facts.server_apis import jenkins_of

        cache[count] = jenkins_of(facts).summaries(count)
    return cache[count]


def reading_jenkins(func: Callable[[Facts], Outcome]) -> Callable[[Facts], Outcome]:
    """Jenkins not answering, or refusing, is a FAIL naming why (never a traceback)."""

    @functools.wraps(func)
    def run(facts: Facts) -> Outcome:
        try:
            return func(facts)
        except VpclabError as exc:
            return fail(exc.problem, exc.fix or None)
        except OSError as exc:
            return fail(f"Jenkins did not answer: {type(exc).__name__}: {exc}", RUN)

    return run


def outside_builds(func: Callable[[Facts], Outcome]) -> Callable[[Facts], Outcome]:
    """SKIP inside a pipeline build (its Verify stage): a build does not judge the pipeline
    it is part of, and Jenkins keeps the builds, not the Jenkins host's state folder."""

    @functools.wraps(func)
    def run(facts: Facts) -> Outcome:
        build = inside_build()
        if build:
            return skip(f"inside {build}")
        return func(facts)

    return run


def no_build(facts: Facts) -> Outcome:
    """No build yet: a FAIL, or a SKIP when the hosts that would run it are out of reach."""
    reason = remote.unreachable(facts)
    return (
        skip(f"no pipeline build can run here: {reason}")
        if reason
        else fail("no pipeline build yet", RUN)
    )


def last_build(facts: Facts) -> BuildSummary | None:
    found = recent(facts, 1)
    return found[0] if found else None


def _where(summary: BuildSummary, stage: str, log: str | None) -> str:
    return f"build #{summary.number}, stage {stage}" + (f" (log {log})" if log else "")


def audit_only(summary: BuildSummary) -> bool:
    """UNSTABLE only because the dependency audit could not reach its data."""
    others = [s for s in summary.stages if s.result in (Result.UNSTABLE, Result.FAILURE)]
    return all(
        s.name in AUDIT_STAGES
        and s.result is Result.UNSTABLE
        and AUDIT_UNCHECKED in (s.reason or "")
        for s in others
    )


@check(
    "pipeline.last_build_green",
    "The last pipeline build passed (UNSTABLE only for the unchecked dependency audit)",
    RUN,
)
@outside_builds
@reading_jenkins
def _last_build(facts: Facts) -> Outcome:
    summary = last_build(facts)
    if summary is None:
        return no_build(facts)
    head = f"build #{summary.number} of {summary.commit[:12]}: {summary.result}"
    if summary.result is Result.SUCCESS:
        return ok(head)
    if summary.result is Result.UNSTABLE and audit_only(summary):
        return ok(f"{head} ({AUDIT_UNCHECKED}: the audit could not reach its data)")
    bad = summary.failing_stage() or next(s for s in summary.stages if s.result is Result.UNSTABLE)
    error = bad.first_error or bad.reason or "no error line"
    return fail(
        f"{head}: stage {bad.name} {bad.result}",
        f"{_where(summary, bad.name, bad.log)}: {error}; fix it, commit, then {RUN}",
    )


@check(
    "pipeline.tests_published",
    "The last build published the app's test results",
    "the Test stage must write reports/tests.xml and publish it with junit; " + RUN,
)
@outside_builds
@reading_jenkins
def _tests(facts: Facts) -> Outcome:
    summary = last_build(facts)
    if summary is None:
        return no_build(facts)
    test = summary.stage("Test")
    if test is None or test.tests is None or test.tests.total == 0:
        got = "no Test stage" if test is None else f"Test {test.result}, no test results"
        return fail(f"build #{summary.number}: {got}")
    counts = test.tests
    return ok(
        f"build #{summary.number}: {counts.total} tests, {counts.failed} failed, "
        f"{counts.skipped} skipped"
    )


@check(
    "pipeline.serves_built_commit",
    "/healthz through the proxy reports the commit the last deploying build built",
    RUN,
)
@outside_builds
@on_hosts
def _serves(facts: Facts) -> Outcome:
    builds = recent(facts, 20 if facts.site.runs_jenkins else 50)
    deployed = next((b for b in builds if _deployed(b)), None)
    if deployed is None:
        return fail("no build has deployed yet", RUN)
    public_web(facts, "run 'vpclab up'")
    reply = remote.site_get(facts, "/healthz")
    try:
        served = json.loads(reply.body).get("commit", "")
    except ValueError:
        return fail(f"/healthz: HTTP {reply.status}, not JSON")
    if served != deployed.commit:
        return fail(
            f"/healthz serves {served[:12] or 'no commit'}, build #{deployed.number} "
            f"deployed {deployed.commit[:12]}"
        )
    return ok(f"/healthz serves {served[:12]}, deployed by build #{deployed.number}")


def _deployed(summary: BuildSummary) -> bool:
    deploy = summary.stage("Deploy")
    return deploy is not None and deploy.result is Result.SUCCESS
