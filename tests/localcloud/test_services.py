"""The internet namespace serves the project as committed, and follows new commits."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.localcloud import labkit
from tests.localcloud.conftest import eventually, lab_name, lid, require_root
from vpclab.localcloud import cleanup, client, internet, names, netns

ROOT = Path(__file__).resolve().parents[2]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A small project of our own, so a test can commit to it."""
    repo = tmp_path_factory.mktemp("project")
    (repo / "app").mkdir()
    shutil.copy(ROOT / internet.REQUIREMENTS, repo / internet.REQUIREMENTS)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "first")
    return repo


@pytest.fixture(scope="module")
def served(moto, project, tmp_path_factory):
    require_root()
    moto.reset()
    local_dir = tmp_path_factory.mktemp("services") / "local"
    local_dir.mkdir()
    client.start(local_dir, moto.endpoint, labkit.REGION, repo_root=project)
    lab = labkit.build_network(labkit.ec2_client(moto.endpoint), lab_name("s"), peering=False)
    try:
        yield lab, client.wait_converged(local_dir, lab.name, 60)
    finally:
        client.stop(local_dir)
        cleanup.force_down(lid(lab.name, local_dir.parent))
        moto.reset()


def remote_head(lab_id: str, url: str) -> str:
    out = netns.exec_in(
        names.netns(lab_id, "internet"), ["git", "ls-remote", url, "HEAD"], check=False
    )
    return out.split()[0] if out.strip() else ""


def test_the_git_daemon_serves_the_project_head(served, project):
    lab, st = served
    assert st.services.state == "up"
    assert remote_head(st.lab_id, st.services.git_url) == git(project, "rev-parse", "HEAD")


def test_a_new_commit_is_served_within_seconds(served, project):
    lab, st = served
    (project / "NEWS").write_text("a change\n")
    git(project, "add", "NEWS")
    git(project, "commit", "-qm", "second")
    head = git(project, "rev-parse", "HEAD")
    eventually(lambda: remote_head(st.lab_id, st.services.git_url) == head, 10.0, 0.2)


def test_a_new_branch_is_served_within_seconds(served, project):
    """A branch made without moving HEAD (07's failing-release break-it) is served too."""
    lab, st = served
    head = git(project, "rev-parse", "HEAD")
    git(project, "branch", "served-branch", head)
    try:

        def listed() -> str:
            out = netns.exec_in(
                names.netns(st.lab_id, "internet"),
                ["git", "ls-remote", st.services.git_url, "refs/heads/served-branch"],
                check=False,
            )
            return out.split()[0] if out.strip() else ""

        eventually(lambda: listed() == head, 10.0, 0.2)
    finally:
        git(project, "branch", "-D", "served-branch")
