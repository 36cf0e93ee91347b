"""`vpclab pipeline run` on a real local lab: the Jenkins host builds, tests and deploys a new
commit of the project, and a commit that breaks a unit test stops at Test while the previous
version keeps serving.

The lab's git remote serves a throwaway clone of the project (the agent's repo root), so the
tests commit there and never to the real checkout. Needs root; skips with the reason without."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.reallab import FullLab, git

PipelineLab = FullLab


@pytest.fixture(scope="module")
def lab(full_lab: FullLab) -> PipelineLab:
    """The shared lab (`vpclab up`, the pipeline step included) serving a clone of the project."""
    up = full_lab.up_progress  # progress goes to stderr, the checklist to stdout
    assert "== pipeline" in up, full_lab.up_output + up
    assert "pipeline: build #1" in up, full_lab.up_output[-3000:] + up[-2000:]
    return full_lab


def test_up_builds_the_served_commit_once(lab: PipelineLab) -> None:
    builds = lab.builds()
    assert [b["number"] for b in builds] == [1]
    assert builds[0]["result"] in ("SUCCESS", "UNSTABLE"), builds[0]
    assert lab.healthz_commit() == builds[0]["commit"] == git(lab.project, "rev-parse", "HEAD")
    again = lab.cli("up")
    assert "pipeline: build #1 built the served commit" in again.stderr, again.stderr[-3000:]
    assert [b["number"] for b in lab.builds()] == [1]


def test_a_commit_is_built_and_deployed(lab: PipelineLab) -> None:
    commit = lab.commit("NOTES.md", "A change the pipeline deploys.\n", "notes")
    started = time.time()
    done = lab.cli("pipeline", "run")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    newest = lab.builds()[0]
    assert newest["commit"] == commit
    stages = {s["name"]: s for s in newest["stages"]}
    assert stages["Build"]["result"] == "SUCCESS"
    assert stages["Test"]["result"] == "SUCCESS" and stages["Test"]["tests"]["total"] > 0
    assert stages["Security"]["result"] == "UNSTABLE"
    assert "dependencies not checked" in stages["Security"]["reason"]
    assert stages["Deploy"]["result"] == "SUCCESS"
    assert stages["Verify"]["result"] == "SUCCESS", stages["Verify"]
    assert lab.healthz_commit() == commit
    folder = Path(lab.env["VPCLAB_STATE"])
    kept = list(folder.rglob(f"builds/{newest['number']}/junit/reports/tests.xml"))
    assert kept, "the Test stage's JUnit file was not collected into the build folder"
    # The requirements did not change: neither the CI venv nor the app's venv reinstalls.
    build_dir = kept[0].parents[2]
    built = (build_dir / stages["Build"]["log"]).read_text()
    assert "nothing to install" in built, built
    # pip installed without compiling: the builds' imports wrote the bytecode, once.
    venvs = [p.parent for p in folder.rglob(".venv-ci/pyvenv.cfg")]
    assert any(list(v.glob("lib/python3*/site-packages/flask/__pycache__/*.pyc")) for v in venvs)
    # The app's bytecode that build #1's Test stage wrote was kept, not compiled again.
    kept_bytecode = [p for v in venvs for p in v.parent.glob("app/__pycache__/*.pyc")]
    assert kept_bytecode and min(p.stat().st_mtime for p in kept_bytecode) < started
    deployed = (build_dir / stages["Deploy"]["log"]).read_text()
    assert "app/requirements.txt unchanged" in deployed, deployed[-3000:]
    assert list(folder.rglob(f"builds/{newest['number']}/artifacts/reports/sbom.json"))
    verify = lab.cli("verify", "--step", "pipeline")
    assert verify.returncode == 0, verify.stdout


def test_a_broken_unit_test_stops_at_test(lab: PipelineLab) -> None:
    serving = lab.healthz_commit()
    broken = lab.commit(
        "tests/app/test_broken_on_purpose.py",
        "def test_broken():\n    assert 1 + 1 == 3\n",
        "a failing unit test",
    )
    try:
        done = lab.cli("pipeline", "run")
        assert done.returncode == 1, done.stdout[-4000:]
        newest = lab.builds()[0]
        assert newest["commit"] == broken and newest["result"] == "FAILURE"
        stages = {s["name"]: s for s in newest["stages"]}
        assert stages["Test"]["result"] == "FAILURE"
        assert stages["Test"]["tests"]["failed"] == 1
        assert stages["Deploy"]["result"] == "SKIPPED" and stages["Verify"]["result"] == "SKIPPED"
        assert lab.healthz_commit() == serving != broken
        verify = lab.cli("verify", "--step", "pipeline")
        assert verify.returncode == 1 and "Test" in verify.stdout
    finally:  # the shared lab's project gets its passing tests back
        git(lab.project, "-c", "user.name=t", "-c", "user.email=t@example.com", "revert",
            "--no-edit", "HEAD")  # fmt: skip
