"""The project a local lab's git remote serves: what the app server deploys and the pipeline
builds, so the student's files (`vpclab.blanks.FILES`) must be in it.

- The folder of the lab's `lab.toml` is a checkout of the project (the kit's own, or the
  grader's copy of a submission): that checkout, as it is.
- It is a handout (`vpclab assign`: lab.toml, the notebooks and the files students write,
  no app): a repository under the lab's state folder, made once from the kit's committed
  files (less what is not handed out) with the handout's files laid over them, as the
  grader lays a submission's. Each time the lab follows its hosts, and before each build,
  the handout's files are laid over again and committed when they changed, so a live build
  runs the student's Jenkinsfile. Commits made there (08's and 07's break-its) stay.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from vpclab import blanks
from vpclab.localcloud import client, internet
from vpclab.paths import local_dir

# What a project made from the kit leaves out: the solutions, and the tests that hold the
# reference's pieces, deploy's break-and-mend ones too (the pipeline's Test stage runs
# tests/app only).
NOT_HANDED_OUT = (
    "notebooks",
    "course",
    *(f"tests/{n}" for n in ("controlplane", "course", "deploy")),
)
COMMITTER = ["-c", "user.name=vpclab", "-c", "user.email=vpclab@vpclab.invalid"]
HANDOUT_PROJECT = "project"  # under the lab's local state folder


def is_checkout(folder: Path) -> bool:
    """Whether `folder` is a git checkout of the whole project (it can be deployed)."""
    return (folder / ".git").exists() and (folder / internet.REQUIREMENTS).is_file()


def is_handout(folder: Path) -> bool:
    """A folder holding a lab.toml and the files students write, but not the project."""
    has_files = any((folder / b.path).is_file() for b in blanks.FILES)
    return has_files and not is_checkout(folder)


def lay_student_files(submission: Path, folder: Path, message: str = "") -> list[str]:
    """Each project file with blanks (`vpclab.blanks.FILES`) from the submission, at its path
    in the project; one the student did not hand in is the blank edition, never the
    reference's. In a git project they are committed on its branch, which the lab's git
    remote serves (the pipeline runs the student's Jenkinsfile). Returns the paths the
    student handed in."""
    handed_in = []
    kit = client.project_root() or blanks.KIT_ROOT
    for blank in blanks.FILES:
        mine = submission / blank.path
        target = folder / blank.path
        target.parent.mkdir(parents=True, exist_ok=True)
        # Read as root: only a plain file inside the submission, never through a link.
        inside = mine.resolve().is_relative_to(submission.resolve())
        if inside and mine.is_file() and not mine.is_symlink():
            text = mine.read_text()
            handed_in.append(blank.path)
        else:
            text = blanks.clear((kit / blank.path).read_text(), blank)
        if not target.is_file() or target.read_text() != text:
            target.write_text(text)
    if (folder / ".git").is_dir():
        git = ["git", "-C", str(folder), *COMMITTER]
        subprocess.run([*git, "add", "--", *(b.path for b in blanks.FILES)], check=True)
        changed = subprocess.run([*git, "diff", "--cached", "--quiet"]).returncode != 0
        if changed:
            note = message or "the student's project files"
            subprocess.run([*git, "commit", "-q", "-m", note], check=True)
    return handed_in


def one_commit_project(root: Path, folder: Path, submission: Path | None = None) -> None:
    """A new repository of one commit on `main`: the kit's committed files (of the checkout
    `root`), less NOT_HANDED_OUT, with the submission's project files (or their blanks) in
    the reference's place before that commit, so no version of it holds the solutions."""
    folder.mkdir(parents=True)
    files = subprocess.run(["git", "-C", str(root), "archive", "HEAD"], capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=files.stdout, check=True)
    for name in NOT_HANDED_OUT:
        shutil.rmtree(folder / name, ignore_errors=True)
    lay_student_files(submission or folder / ".no-submission", folder)
    git = ["git", "-C", str(folder), *COMMITTER]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "handout"]):
        subprocess.run([*git, *args], check=True)


def handout_project(spec_path: Path) -> Path | None:
    """The project to serve for the lab of `spec_path` when its folder is a handout (made
    or brought up to date with the handout's files, see the module's docstring); None when
    it is not a handout, or there is no kit checkout to make the project from (the agent's
    default then applies)."""
    handout = spec_path.resolve().parent
    root = client.project_root()
    if root is None or not is_handout(handout):
        return None
    project = local_dir(spec_path) / HANDOUT_PROJECT
    if not (project / ".git").is_dir():
        shutil.rmtree(project, ignore_errors=True)  # a copy cut short: made again whole
        one_commit_project(root, project, handout)
    else:
        lay_student_files(handout, project, "the handout's project files")
    return project
