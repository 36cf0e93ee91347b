"""Run a declarative pipeline's stages in order, the way Jenkins does for the subset we read:
`when` decides whether a stage runs; a failing `sh` fails its stage and skips the rest; `junit`
with failing cases makes a stage UNSTABLE; `post` blocks run by result. Each stage's log, the
published JUnit files, the artifacts and summary.json go to the build's folder."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from vpclab.pipeline.builds import BuildSummary, Result, StageResult, TestCounts, first_error
from vpclab.pipeline.builds import save as save_summary
from vpclab.pipeline.groovy import JenkinsfileError
from vpclab.pipeline.jenkinsfile import Pipeline, Stage, Step, interpolate
from vpclab.pipeline.junit import count
from vpclab.pipeline.workspace import Workspace

POST_ORDER = ("always", "failure", "success", "unstable")  # Jenkins' order
POST_WHEN = {"failure": Result.FAILURE, "success": Result.SUCCESS, "unstable": Result.UNSTABLE}


@dataclass
class BuildInfo:
    number: int
    branch: str
    commit: str
    folder: Path
    env: dict[str, str] = field(default_factory=dict)  # Jenkins' own (WORKSPACE, GIT_URL...)


class StepFailed(Exception):
    """A step ended the stage: a non-zero sh, a junit or archive with nothing to publish."""


@dataclass
class _Stage:
    result: Result = Result.SUCCESS
    reason: str | None = None
    tests: TestCounts | None = None
    lines: list[str] = field(default_factory=list)


class Runner:
    def __init__(
        self,
        pipeline: Pipeline,
        workspace: Workspace,
        build: BuildInfo,
        say: Callable[[str], None] = print,
    ) -> None:
        self.pipeline, self.workspace, self.build, self.say = pipeline, workspace, build, say
        self.artifacts: list[str] = []

    # --- environment and when ---------------------------------------------------------------

    def base_env(self) -> dict[str, str]:
        env = {
            "BUILD_NUMBER": str(self.build.number),
            "BRANCH_NAME": self.build.branch,
            "GIT_COMMIT": self.build.commit,
            **self.build.env,
        }
        for name, value in self.pipeline.environment.items():
            env[name] = interpolate(value, env, 0)
        return env

    def stage_env(self, stage: Stage, env: Mapping[str, str]) -> dict[str, str]:
        out = dict(env)
        for name, value in stage.environment.items():
            out[name] = interpolate(value, out, stage.line)
        return out

    def skip_reason(self, stage: Stage, env: Mapping[str, str]) -> str | None:
        for cond in stage.when:
            if not cond.holds(self.build.branch, env):
                return f"when {cond.describe()} is false"
        return None

    def check_supported(self, env: Mapping[str, str]) -> None:
        """Every step that this build would run is one the runner supports (fail before
        anything runs, naming the line)."""
        steps: list[Step] = [s for block in self.pipeline.post.values() for s in block]
        for stage in self.pipeline.stages:
            if self.skip_reason(stage, self.stage_env(stage, env)) is None:
                steps += stage.steps + [s for block in stage.post.values() for s in block]
        for step in steps:
            step.check_supported()

    # --- steps ------------------------------------------------------------------------------

    def step(self, step: Step, env: Mapping[str, str], state: _Stage, name: str) -> None:
        def emit(line: str) -> None:
            state.lines.append(line)
            self.say(f"  {name} | {line}")

        if step.name == "echo":
            emit(interpolate(step.arg("message", ""), env, step.line))
        elif step.name == "sh":
            script = interpolate(step.arg("script"), env, step.line)
            code = self.workspace.sh(script, env, emit)
            if code != 0:
                emit(f"ERROR: script returned exit code {code}")
                raise StepFailed(f"sh returned exit code {code}")
        elif step.name == "junit":
            self.junit(step, env, state, emit)
        elif step.name == "archiveArtifacts":
            pattern = interpolate(step.arg("artifacts"), env, step.line)
            files = self.workspace.collect(pattern)
            if not files and not step.arg("allowEmptyArchive", False):
                emit(f"ERROR: no artifacts found that match '{pattern}'")
                raise StepFailed("no artifacts")
            for path, data in files.items():
                target = self.build.folder / "artifacts" / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                if path not in self.artifacts:
                    self.artifacts.append(path)
            emit(f"Archiving artifacts: {', '.join(files) or 'none'}")
        else:  # check_supported ran first; this is a guard against a new step kind
            step.check_supported()

    def junit(self, step: Step, env: Mapping[str, str], state: _Stage, emit) -> None:
        pattern = interpolate(step.arg("testResults"), env, step.line)
        files = self.workspace.collect(pattern)
        if not files:
            if step.arg("allowEmptyResults", False):
                emit(f"No test report files were found for '{pattern}' (allowed)")
                return
            emit(f"ERROR: No test report files were found for '{pattern}'")
            raise StepFailed("no test reports")
        try:
            counts = count(files)
        except ValueError as exc:
            emit(f"ERROR: {exc}")
            raise StepFailed(str(exc)) from exc
        for path, data in files.items():
            target = self.build.folder / "junit" / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        old = state.tests or TestCounts()
        state.tests = TestCounts(
            total=old.total + counts.total,
            failed=old.failed + counts.failed,
            skipped=old.skipped + counts.skipped,
            files=old.files + counts.files,
            failures=old.failures + counts.failures,
        )
        emit(f"Recording test results: {counts.total} tests, {counts.failed} failed")
        if counts.failed and state.result is Result.SUCCESS:
            state.result = Result.UNSTABLE
            state.reason = counts.failures[0] if counts.failures else "test failures"

    def run_block(self, steps: list[Step], env, state: _Stage, name: str) -> bool:
        """Run steps in order; False (and the stage FAILURE) at the first that fails."""
        for step in steps:
            try:
                self.step(step, env, state, name)
            except StepFailed as exc:
                state.result = Result.FAILURE
                state.reason = state.reason or str(exc)
                return False
        return True

    def post(self, post: dict[str, list[Step]], env, state: _Stage, name: str) -> None:
        for condition in POST_ORDER:
            wanted = POST_WHEN.get(condition)
            if condition in post and (wanted is None or state.result is wanted):
                self.run_block(post[condition], env, state, f"{name} (post {condition})")

    # --- the build --------------------------------------------------------------------------

    def run(self) -> BuildSummary:
        started, t0 = datetime.now(UTC).isoformat(timespec="seconds"), time.monotonic()
        env = self.base_env()
        self.check_supported(env)
        logs = self.build.folder / "stages"
        logs.mkdir(parents=True, exist_ok=True)
        results: list[StageResult] = []
        overall = Result.SUCCESS
        for index, stage in enumerate(self.pipeline.stages, 1):
            senv = self.stage_env(stage, env)
            skip = self.skip_reason(stage, senv)
            if overall is Result.FAILURE:
                skip = "an earlier stage failed"
            if skip:
                self.say(f"[{stage.name}] skipped: {skip}")
                results.append(StageResult(name=stage.name, result=Result.SKIPPED, reason=skip))
                continue
            self.say(f"[{stage.name}] started")
            state, s0 = _Stage(), time.monotonic()
            self.run_block(stage.steps, senv, state, stage.name)
            self.post(stage.post, senv, state, stage.name)
            seconds = round(time.monotonic() - s0, 2)
            log_name = f"stages/{index:02d}-{stage.name}.log"
            (self.build.folder / log_name).write_text("\n".join(state.lines) + "\n")
            error = None
            if state.result is not Result.SUCCESS:
                error = first_error("\n".join(state.lines))
            results.append(
                StageResult(
                    name=stage.name,
                    result=state.result,
                    seconds=seconds,
                    log=log_name,
                    first_error=error,
                    reason=state.reason,
                    tests=state.tests,
                )
            )
            overall = overall.worse(state.result)
            self.say(f"[{stage.name}] {state.result} in {seconds:.1f} s")
        final = _Stage(result=overall)
        self.post(self.pipeline.post, env, final, "pipeline")
        if final.lines:
            (self.build.folder / "stages" / "post.log").write_text("\n".join(final.lines) + "\n")
        summary = BuildSummary(
            number=self.build.number,
            branch=self.build.branch,
            commit=self.build.commit,
            result=final.result,
            started=started,
            seconds=round(time.monotonic() - t0, 2),
            stages=results,
            artifacts=self.artifacts,
        )
        save_summary(self.build.folder, summary)
        return summary


def run(
    pipeline: Pipeline,
    workspace: Workspace,
    build: BuildInfo,
    say: Callable[[str], None] = print,
) -> BuildSummary:
    """Run the build; raises JenkinsfileError (before any stage) for an unsupported step."""
    return Runner(pipeline, workspace, build, say).run()


__all__ = ["BuildInfo", "JenkinsfileError", "run"]
