"""Grading the blanks in the project's files, with hosts (root): the grader lays each
student's files into their lab and never the reference's.

One lab per submission, 06 and 07 only (the grader's repair builds 01-05 first):

- `wrong_port`: the reference's notebooks and files, but the Nginx site's `location /`
  proxies to port 5001. `nginx -t` accepts it, and `nginx.proxies_to_app` FAILs: the lab
  ran the student's template. The grader's repair before 07 renders the reference's site
  (never writing it into the student's project), so `scripts` PASSes: one mistake, one step.
- `reference`: the kit's notebooks and files: full marks.
- `blank`: the handout `vpclab assign` writes, untouched: both steps FAIL, and the unfilled
  site is one line naming the file and its blank, never a traceback.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vpclab import blanks
from vpclab.course.grade import GradeSettings, grade_one
from vpclab.course.overlay import SANITIZE
from vpclab.localcloud import netns
from vpclab.steps import nginx

ROOT = Path(__file__).resolve().parents[2]
GRADED = ("06_nginx", "07_scripts")
EXPECTED = {
    "wrong_port": {"nginx": "FAIL", "scripts": "PASS"},
    "reference": {"nginx": "PASS", "scripts": "PASS"},
    "blank": {"nginx": "FAIL", "scripts": "FAIL"},
}


def _reference_copy(folder: Path) -> Path:
    (folder / "notebooks").mkdir(parents=True)
    for name in GRADED:
        shutil.copy(ROOT / "notebooks" / f"{name}.ipynb", folder / "notebooks")
    for blank in blanks.FILES:
        (folder / blank.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / blank.path, folder / blank.path)
    return folder


def _submission(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / f"student-{name}"
    if name == "blank":
        out = tmp_path / "handout"
        done = subprocess.run(
            [sys.executable, "-m", "vpclab.cli", "assign", str(out)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        _reference_copy(folder)  # the layout; then the handout's files over it
        for name_ in GRADED:
            shutil.copy(out / "notebooks" / f"{name_}.ipynb", folder / "notebooks")
        for blank in blanks.FILES:
            shutil.copy(out / blank.path, folder / blank.path)
        return folder
    _reference_copy(folder)
    if name == "wrong_port":
        site = folder / nginx.TEMPLATE
        text = site.read_text()
        assert "proxy_pass http://microblog_app;" in text
        site.write_text(text.replace("http://microblog_app;", "http://{{ app_ip }}:5001;"))
    return folder


@pytest.mark.parametrize("name", list(EXPECTED))
def test_the_students_files_are_what_the_lab_runs_and_the_checks_judge(tmp_path, name, data_plane):
    reference = _reference_copy(tmp_path / "reference") / "notebooks"
    settings = GradeSettings(reference, ROOT / "lab.toml", SANITIZE, hosts=True)
    student = _submission(tmp_path, name)
    result = grade_one(student, settings, ["nginx", "scripts"])
    assert result.dataplane == "hosts"
    why = [(s.step, s.score, s.reasons[:3], s.errors[:3]) for s in result.steps]
    assert {s.step: str(s.score) for s in result.steps} == EXPECTED[name], why
    steps = {s.step: s for s in result.steps}
    if name == "wrong_port":
        checks = {c.id: c.status for c in result.checklist if c.id.startswith("nginx.")}
        assert checks["nginx.proxies_to_app"] == "FAIL", checks
        assert [i for i, s in checks.items() if s != "PASS"] == ["nginx.proxies_to_app"], checks
        assert any(":5001" in r for r in steps["nginx"].reasons), steps["nginx"].reasons
    if name == "blank":
        said = [e for e in steps["nginx"].errors if nginx.TEMPLATE in e]
        assert any("the blank 'location / (06_nginx)' is not filled yet" in e for e in said), why
        assert all("Traceback" not in e for e in steps["nginx"].errors)
    if name == "reference":
        assert result.points == result.possible, (result.points, result.possible)
    assert result.lab_id and not [n for n in netns.list_netns() if f"-{result.lab_id}-" in n]
