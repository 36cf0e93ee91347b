"""A live handout's lab serves the handout's own files (`vpclab.served`): the project its git
remote mirrors holds the student's Jenkinsfile, so a live build runs it, as a graded one
does; the kit's own checkout is served as it is."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from vpclab import blanks, served
from vpclab.localcloud import internet
from vpclab.pipeline.jenkinsfile import read
from vpclab.steps import nginx

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = (
    "        stage('Deploy') {{\n            steps {{\n"
    "                sh '{}'\n            }}\n        }}\n"
)


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _jenkinsfile(script: str) -> str:
    """The kit's Jenkinsfile with a Deploy stage of the student's, running `script`."""
    text = (ROOT / "Jenkinsfile").read_text()
    edition = blanks.clear(text, blanks.BY_PATH["Jenkinsfile"])
    stub = next(line for line in edition.splitlines(keepends=True) if blanks.STUB in line)
    return edition.replace(stub, DEPLOY.format(script))


@pytest.fixture
def handout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A handout as `vpclab assign` lays out its project files, with lab.toml."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs the kit as a git checkout")
    monkeypatch.delenv("VPCLAB_STATE", raising=False)  # its state folder is the handout's
    folder = tmp_path / "handout"
    blanks.write_edition(ROOT, folder)
    shutil.copyfile(ROOT / "lab.toml", folder / "lab.toml")
    return folder


def test_a_handouts_jenkinsfile_is_what_its_labs_git_remote_serves(handout, tmp_path):
    (handout / "Jenkinsfile").write_text(_jenkinsfile("scripts/ci/deploy.sh"))
    assert "Deploy" in [s.name for s in read((handout / "Jenkinsfile").read_text()).stages]
    project = served.handout_project(handout / "lab.toml")
    assert project is not None and project.is_relative_to(handout / ".vpclab")
    assert _git(project, "show", "main:Jenkinsfile") == (handout / "Jenkinsfile").read_text()
    assert _git(project, "show", f"main:{internet.REQUIREMENTS}")  # a project it can deploy
    # The agent's mirror of it, as the lab's git daemon serves it to the Jenkins host.
    mirror = internet.mirror_repo(project, tmp_path / "cache")
    served_text = _git(mirror, "show", "HEAD:Jenkinsfile")
    assert served_text == (handout / "Jenkinsfile").read_text()

    # A break-it's commit stays; the student's next edit is laid over it and served.
    (project / "tests/app/test_broken_on_purpose.py").write_text("def test_x():\n    pass\n")
    _git(project, "add", "-A")
    _git(project, *served.COMMITTER, "commit", "-q", "-m", "a break-it's commit")
    (handout / "Jenkinsfile").write_text(_jenkinsfile("scripts/ci/deploy.sh --mine"))
    assert served.handout_project(handout / "lab.toml") == project
    assert "--mine" in _git(project, "show", "main:Jenkinsfile")
    assert len(_git(project, "log", "--format=%s").splitlines()) == 3
    internet.mirror_repo(project, tmp_path / "cache")
    assert "--mine" in _git(mirror, "show", "HEAD:Jenkinsfile")
    assert served.handout_project(handout / "lab.toml") == project  # nothing new: no commit
    assert len(_git(project, "log", "--format=%s").splitlines()) == 3


def test_a_handouts_project_holds_no_reference_solution(handout):
    project = served.handout_project(handout / "lab.toml")
    assert project is not None
    history = _git(project, "log", "-p", "--all")
    assert "proxy_pass http://microblog_app;" not in history
    assert blanks.unfilled(_git(project, "show", f"main:{nginx.TEMPLATE}"))
    assert not (project / "notebooks").exists() and not (project / "course").exists()


def test_a_checkout_or_a_bare_spec_folder_is_served_as_before(tmp_path, monkeypatch):
    monkeypatch.delenv("VPCLAB_STATE", raising=False)
    assert served.handout_project(ROOT / "lab.toml") is None
    bare = tmp_path / "lab"
    bare.mkdir()
    shutil.copyfile(ROOT / "lab.toml", bare / "lab.toml")
    assert served.handout_project(bare / "lab.toml") is None
    assert not (bare / ".vpclab").exists()


def test_the_agent_of_a_handouts_lab_serves_the_handouts_project(handout, monkeypatch):
    from vpclab.localcloud import client
    from vpclab.site.local import LocalSite

    started = {}
    monkeypatch.setattr(LocalSite, "dataplane_off", lambda _self: None)
    monkeypatch.setattr(client, "start", lambda *args, **kw: started.update(kw))
    monkeypatch.setattr(client, "wait_converged", lambda *_args: None)
    lab = SimpleNamespace(
        spec_path=handout / "lab.toml",
        local_dir=handout / ".vpclab" / "local",
        cloud=SimpleNamespace(endpoint="http://127.0.0.1:1"),
        spec=SimpleNamespace(region="us-east-1", name="lab"),
        say=print,
    )
    LocalSite().follow_dataplane(lab, 1.0)  # type: ignore[arg-type]
    assert started["repo_root"] == handout / ".vpclab" / "local" / served.HANDOUT_PROJECT
    assert (
        _git(started["repo_root"], "show", "main:Jenkinsfile")
        == (handout / "Jenkinsfile").read_text()
    )


def test_a_labs_mirror_made_from_the_kit_follows_the_handouts_project(handout, tmp_path):
    # A lab started before its handout was served: its mirror was cloned from the kit.
    mirror = internet.mirror_repo(ROOT, tmp_path / "cache")
    assert _git(mirror, "show", "HEAD:Jenkinsfile") == _git(ROOT, "show", "HEAD:Jenkinsfile")
    (handout / "Jenkinsfile").write_text(_jenkinsfile("scripts/ci/deploy.sh --handout"))
    project = served.handout_project(handout / "lab.toml")
    assert project is not None
    assert internet.mirror_repo(project, tmp_path / "cache") == mirror
    assert "--handout" in _git(mirror, "show", "HEAD:Jenkinsfile")
    assert _git(mirror, "rev-parse", "HEAD") == _git(project, "rev-parse", "main")
