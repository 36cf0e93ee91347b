"""The local runner's Jenkinsfile subset, run for real in a scratch workspace: stage order,
sh, environment, when { branch / environment }, post conditions, junit and archiveArtifacts,
and unsupported constructs failing with their line number."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vpclab.pipeline import builds
from vpclab.pipeline.builds import Result
from vpclab.pipeline.groovy import JenkinsfileError
from vpclab.pipeline.jenkinsfile import read
from vpclab.pipeline.runner import BuildInfo, run
from vpclab.pipeline.workspace import LocalWorkspace, ant_regex

PASSING = (
    "<testsuite><testcase classname='t' name='a'/><testcase classname='t' name='b'/></testsuite>"
)
FAILING = (
    "<testsuite><testcase classname='t' name='a'/>"
    "<testcase classname='t' name='b'><failure message='boom'/></testcase></testsuite>"
)

JENKINSFILE = """
pipeline {
    agent any
    environment {
        GREETING = 'hello'
        WHO = "${BRANCH_NAME}-build"
    }
    stages {
        stage('One') {
            steps {
                sh 'echo "$GREETING $WHO" > out.txt; mkdir -p reports'
                sh '''
                    printf '%s' "$JUNIT" > reports/one.xml
                '''
            }
            post {
                always { junit 'reports/one.xml' }
                success { sh 'echo one-success >> trail' }
                unstable { sh 'echo one-unstable >> trail' }
            }
        }
        stage('Main only') {
            when { branch 'main' }
            environment { STAGE_VAR = 'x' }
            steps { sh 'echo "main $STAGE_VAR" >> trail; exit $MAIN_EXIT' }
            post { failure { sh 'echo main-failure >> trail' } }
        }
        stage('Gated') {
            when { environment name: 'GATE', value: 'open' }
            steps { sh 'echo gated >> trail' }
        }
        stage('Last') {
            steps {
                echo "building ${GIT_COMMIT}"
                archiveArtifacts artifacts: 'out.txt, reports/**/*.xml'
            }
        }
    }
    post {
        always { sh 'echo post-always >> trail' }
        failure { sh 'echo post-failure >> trail' }
        success { sh 'echo post-success >> trail' }
    }
}
"""


def build(tmp_path: Path, text: str, branch: str = "main", **env: str):
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    number, folder = builds.new_build(tmp_path / "builds")
    workspace = LocalWorkspace(ws, {"PATH": "/usr/bin:/bin", "JUNIT": PASSING, "MAIN_EXIT": "0"})
    info = BuildInfo(number, branch, "c0ffee" * 6 + "abcd", folder, env=dict(env))
    lines: list[str] = []
    summary = run(read(text), workspace, info, say=lines.append)
    return summary, ws, folder, lines


def results(summary) -> dict[str, Result]:
    return {s.name: s.result for s in summary.stages}


def test_all_green_on_main(tmp_path: Path) -> None:
    summary, ws, folder, lines = build(tmp_path, JENKINSFILE)
    assert summary.result is Result.SUCCESS
    assert results(summary) == {
        "One": Result.SUCCESS,
        "Main only": Result.SUCCESS,
        "Gated": Result.SKIPPED,
        "Last": Result.SUCCESS,
    }
    assert (ws / "out.txt").read_text() == "hello main-build\n"  # environment, interpolated
    trail = (ws / "trail").read_text().split()
    assert trail == ["one-success", "main", "x", "post-always", "post-success"]
    one = summary.stage("One")
    assert one.tests.total == 2 and one.tests.failed == 0
    assert (folder / "junit" / "reports" / "one.xml").exists()
    assert sorted(summary.artifacts) == ["out.txt", "reports/one.xml"]
    assert (folder / "artifacts" / "out.txt").read_text() == "hello main-build\n"
    assert summary.stage("Gated").reason == "when environment GATE == 'open' is false"
    assert any("building c0ffee" in line for line in lines)
    saved = json.loads((folder / "summary.json").read_text())
    assert saved["result"] == "SUCCESS" and saved["number"] == 1
    assert "main" in (folder / summary.stage("Main only").log).read_text()


def test_when_branch_and_environment(tmp_path: Path) -> None:
    summary, ws, *_ = build(tmp_path, JENKINSFILE, branch="feature/x", GATE="open")
    assert results(summary)["Main only"] is Result.SKIPPED
    assert summary.stage("Main only").reason == "when branch 'main' is false"
    assert results(summary)["Gated"] is Result.SUCCESS
    assert "gated" in (ws / "trail").read_text()


def test_failing_sh_stops_the_build_and_runs_failure_posts(tmp_path: Path) -> None:
    text = JENKINSFILE.replace("exit $MAIN_EXIT", 'echo "E   assert 1 == 2" >&2; exit 3')
    summary, ws, folder, _ = build(tmp_path, text)
    assert summary.result is Result.FAILURE
    assert results(summary)["Main only"] is Result.FAILURE
    assert results(summary)["Last"] is Result.SKIPPED
    assert summary.stage("Last").reason == "an earlier stage failed"
    assert summary.stage("Main only").first_error == "E   assert 1 == 2"
    trail = (ws / "trail").read_text().split()
    assert trail[-3:] == ["main-failure", "post-always", "post-failure"]
    assert summary.failing_stage().name == "Main only"


def test_failing_junit_cases_make_the_stage_unstable(tmp_path: Path) -> None:
    # The pipeline's environment overrides the workspace's JUNIT with a failing report.
    failing = JENKINSFILE.replace(
        "GREETING = 'hello'", f"GREETING = 'hello'\n        JUNIT = \"{FAILING}\""
    )
    summary, ws, *_ = build(tmp_path, failing)
    one = summary.stage("One")
    assert one.result is Result.UNSTABLE and one.tests.failed == 1
    assert one.reason == "t.b: boom"
    assert summary.result is Result.UNSTABLE
    assert results(summary)["Last"] is Result.SUCCESS  # UNSTABLE does not stop the build
    assert "one-unstable" in (ws / "trail").read_text()


def test_the_stage_text_the_notebooks_print(tmp_path: Path) -> None:
    """08_pipeline and 11_report print it: a heading, then each stage's result, its tests,
    or why it was skipped or unstable."""
    summary, *_ = build(tmp_path, JENKINSFILE)
    heading, *rows = builds.stage_text(summary).splitlines()
    assert heading == "build #1 of main @ c0ffeec0ffee: SUCCESS"
    assert [row.split()[:2] for row in rows if not row.startswith("  Main")] == [
        ["One", "SUCCESS"],
        ["Gated", "SKIPPED"],
        ["Last", "SUCCESS"],
    ]
    assert rows[0].endswith("2 tests, 0 failed")
    assert rows[2].endswith("when environment GATE == 'open' is false")
    failing = JENKINSFILE.replace(
        "GREETING = 'hello'", f"GREETING = 'hello'\n        JUNIT = \"{FAILING}\""
    )
    summary, *_ = build(tmp_path, failing)
    assert builds.stage_text(summary).splitlines()[1].split()[1:2] == ["UNSTABLE"]
    assert builds.stage_text(summary).splitlines()[1].endswith("t.b: boom")


def test_missing_reports_fail_unless_allowed(tmp_path: Path) -> None:
    text = JENKINSFILE.replace("junit 'reports/one.xml'", "junit 'reports/none.xml'")
    summary, *_ = build(tmp_path, text)
    assert results(summary)["One"] is Result.FAILURE
    allowed = text.replace(
        "junit 'reports/none.xml'", "junit testResults: 'reports/none.xml', allowEmptyResults: true"
    )
    summary, *_ = build(tmp_path, allowed)
    assert results(summary)["One"] is Result.SUCCESS


def test_build_numbers_count_up(tmp_path: Path) -> None:
    build(tmp_path, JENKINSFILE)
    build(tmp_path, JENKINSFILE.replace("exit $MAIN_EXIT", "exit 1"))
    last = builds.last(tmp_path / "builds")
    assert [(b.number, b.result) for b in last] == [(2, Result.FAILURE), (1, Result.SUCCESS)]


@pytest.mark.parametrize(
    ("change", "construct"),
    [
        ("    agent any\n", "options"),  # a directive: rejected when the file is read
        ('                sh \'echo "$GREETING $WHO"', "script"),  # a step: before any run
        ("        stage('Gated') {\n", "parallel"),
        ("                always { junit", "cleanup"),
    ],
)
def test_unsupported_constructs_name_their_line(
    tmp_path: Path, change: str, construct: str
) -> None:
    insert = {
        "options": "    options { timeout(time: 1, unit: 'HOURS') }\n",
        "script": "                script { echo 'x' }\n",
        "parallel": "        stage('Both') { parallel { stage('A') { steps { sh 'true' } } } }\n",
        "cleanup": "                cleanup { sh 'true' }\n",
    }[construct]
    at = JENKINSFILE.index(change)
    text = JENKINSFILE[:at] + insert + JENKINSFILE[at:]
    line = text[:at].count("\n") + 1
    assert text.splitlines()[line - 1] == insert.rstrip("\n")
    with pytest.raises(JenkinsfileError) as caught:
        build(tmp_path, text)
    assert f"line {line}:" in str(caught.value)
    assert f"'{construct}'" in str(caught.value)
    assert not (tmp_path / "ws" / "trail").exists()  # nothing ran


def test_a_plugin_step_is_fine_in_a_stage_that_will_not_run(tmp_path: Path) -> None:
    gated = "            steps { sh 'echo gated >> trail' }"
    text = JENKINSFILE.replace(gated, "            steps { dependencyCheck odcInstallation: 'x' }")
    summary, *_ = build(tmp_path, text)
    assert results(summary)["Gated"] is Result.SKIPPED
    with pytest.raises(JenkinsfileError, match="step 'dependencyCheck' is not supported"):
        build(tmp_path, text, GATE="open")


def test_ant_patterns() -> None:
    assert ant_regex("reports/**/*.xml").match("reports/a/b/c.xml")
    assert ant_regex("reports/**/*.xml").match("reports/c.xml")
    assert not ant_regex("reports/*.xml").match("reports/a/c.xml")
    assert not ant_regex("*.txt").match("a/out.txt")
