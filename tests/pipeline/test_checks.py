"""The pipeline's checks read the builds the runner saved: green or audit-only UNSTABLE
passes; anything else fails with a hint naming the stage and its first error line."""

from __future__ import annotations

from pathlib import Path

import pytest

from vpclab import remote
from vpclab.aws.session import Cloud
from vpclab.checklist import Status
from vpclab.checks import REGISTRY, Facts
from vpclab.checks import pipeline as pipeline_checks
from vpclab.pipeline import builds
from vpclab.pipeline.builds import BuildSummary, Result, StageResult, TestCounts
from vpclab.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
REAL_UNREACHABLE = remote.unreachable


@pytest.fixture
def facts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Facts:
    monkeypatch.setenv("VPCLAB_STATE", str(tmp_path / "state"))
    spec_path = ROOT / "lab.toml"
    # The local target's builds live in the state folder; its hosts count as up here.
    monkeypatch.setattr(remote, "unreachable", lambda reach: None)
    cloud = Cloud("local", "us-east-1", "http://127.0.0.1:9", None)
    return Facts(load_spec(spec_path), cloud, spec_path)


def save(facts: Facts, *stages: StageResult, result: Result) -> BuildSummary:
    number, folder = builds.new_build(builds.builds_dir(facts.spec.name, facts.spec_path))
    summary = BuildSummary(
        number=number,
        branch="main",
        commit="a" * 40,
        result=result,
        started="2026-01-01T00:00:00+00:00",
        seconds=1.0,
        stages=list(stages),
    )
    builds.save(folder, summary)
    return summary


def outcome(facts: Facts, check_id: str):
    (found,) = [c for c in REGISTRY if c.id == check_id]
    return found.result(facts)


BUILD = StageResult(name="Build", result=Result.SUCCESS)
TESTED = StageResult(
    name="Test", result=Result.SUCCESS, tests=TestCounts(total=40, failed=0, skipped=1)
)
AUDIT = StageResult(
    name="Security",
    result=Result.UNSTABLE,
    reason="dependency-audit.vulnerability data reachable: dependencies not checked: ...",
)


def test_no_build_yet_fails(facts: Facts) -> None:
    result = outcome(facts, "pipeline.last_build_green")
    assert result.status is Status.FAIL and result.detail == "no pipeline build yet"
    assert "vpclab pipeline run" in result.hint


def test_no_build_yet_skips_where_no_build_can_run(facts: Facts, monkeypatch) -> None:
    monkeypatch.setenv("VPCLAB_DATAPLANE", "off")
    monkeypatch.setattr(remote, "unreachable", REAL_UNREACHABLE)
    cloud = Cloud("local", "us-east-1", "http://127.0.0.1:9", None)
    local = Facts(facts.spec, cloud, facts.spec_path)
    result = outcome(local, "pipeline.last_build_green")
    assert result.status is Status.SKIP and "VPCLAB_DATAPLANE=off" in result.detail


def test_inside_a_build_the_pipeline_checks_skip(facts: Facts, monkeypatch) -> None:
    monkeypatch.setenv("BUILD_NUMBER", "7")
    monkeypatch.setenv("WORKSPACE", "/var/lib/jenkins/workspace/workload_4")
    for check_id in ("pipeline.last_build_green", "pipeline.tests_published"):
        result = outcome(facts, check_id)
        assert result.status is Status.SKIP and result.detail == "inside pipeline build #7"


def test_unstable_only_for_the_unchecked_audit_passes(facts: Facts) -> None:
    save(facts, BUILD, TESTED, AUDIT, result=Result.UNSTABLE)
    result = outcome(facts, "pipeline.last_build_green")
    assert result.status is Status.PASS and "dependencies not checked" in result.detail
    tests = outcome(facts, "pipeline.tests_published")
    assert tests.status is Status.PASS and tests.detail == "build #1: 40 tests, 0 failed, 1 skipped"


def test_a_failing_stage_is_named_with_its_first_error(facts: Facts) -> None:
    broken = StageResult(
        name="Test",
        result=Result.FAILURE,
        log="stages/02-Test.log",
        first_error="FAILED tests/app/test_app_pages.py::test_index - assert 500 == 200",
        tests=TestCounts(total=40, failed=1),
    )
    save(
        facts,
        BUILD,
        broken,
        StageResult(name="Security", result=Result.SKIPPED),
        result=Result.FAILURE,
    )
    result = outcome(facts, "pipeline.last_build_green")
    assert result.status is Status.FAIL
    assert result.detail.endswith("FAILURE: stage Test FAILURE")
    assert result.hint.startswith(
        "build #1, stage Test (log stages/02-Test.log): FAILED tests/app/test_app_pages.py"
    )


def test_unstable_for_another_reason_fails(facts: Facts) -> None:
    flaky = StageResult(name="Verify", result=Result.UNSTABLE, reason="checks.x: boom")
    save(facts, BUILD, TESTED, flaky, result=Result.UNSTABLE)
    result = outcome(facts, "pipeline.last_build_green")
    assert result.status is Status.FAIL and "stage Verify UNSTABLE" in result.detail


def test_no_test_results_fails(facts: Facts) -> None:
    save(facts, BUILD, StageResult(name="Test", result=Result.SUCCESS), result=Result.SUCCESS)
    result = outcome(facts, "pipeline.tests_published")
    assert result.status is Status.FAIL and "no test results" in result.detail


def test_the_checks_belong_to_the_pipeline_step() -> None:
    ids = [c.id for c in REGISTRY if c.step == "pipeline"]
    assert ids == [
        "pipeline.last_build_green",
        "pipeline.tests_published",
        "pipeline.serves_built_commit",
    ]
    assert pipeline_checks.AUDIT_UNCHECKED == "dependencies not checked"


def test_cli_pipeline_status_shows_the_builds(facts: Facts) -> None:
    import json
    import os
    import subprocess
    import sys

    save(facts, BUILD, TESTED, AUDIT, result=Result.UNSTABLE)
    run = [sys.executable, "-m", "vpclab.cli", "pipeline", "status", "--spec", str(facts.spec_path)]
    env = dict(os.environ)
    shown = subprocess.run(run, capture_output=True, text=True, env=env, timeout=60)
    assert shown.returncode == 0, shown.stderr
    for seen in ("build #1", "UNSTABLE", "40/40 passed"):
        assert seen in shown.stdout
    raw = subprocess.run([*run, "--json"], capture_output=True, text=True, env=env, timeout=60)
    assert [b["result"] for b in json.loads(raw.stdout)] == ["UNSTABLE"]
