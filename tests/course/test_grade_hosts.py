"""Grading with hosts (root): a hand-typed app address in 06's nginx site FAILs nginx.

06's break-it cells put back what they saved (never `lab.up`, which would render the site
from state and repair the student's mistake before the checklist is read). Only 06 is
graded: the grader's own repair builds steps 01-05 first, with the library."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

from vpclab import blanks
from vpclab.course.grade import GradeSettings, grade_one
from vpclab.course.overlay import SANITIZE
from vpclab.localcloud import netns

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"


def test_a_wrong_nginx_site_fails_nginx_and_is_not_repaired(tmp_path, data_plane):
    reference, student = tmp_path / "reference", tmp_path / "student"
    for folder in (reference, student):
        folder.mkdir()
        shutil.copy(NOTEBOOKS / "06_nginx.ipynb", folder)
    # The student hands in the project's files too (the site's template with its
    # `location /` written, as the reference's): only the notebook's address is wrong.
    for blank in blanks.FILES:
        (student / blank.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / blank.path, student / blank.path)
    path = student / "06_nginx.ipynb"
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if 'app_ip = private_ip("app")' in c.source)
    cell.source = cell.source.replace('app_ip = private_ip("app")', 'app_ip = "10.0.2.99"')
    nbformat.write(nb, path)
    settings = GradeSettings(reference, ROOT / "lab.toml", SANITIZE, hosts=True)
    result = grade_one(student, settings, ["nginx"])
    assert result.dataplane == "hosts" and result.jailed  # the jail's sockets come from the broker
    (step,) = result.steps
    assert step.score == "FAIL", step
    assert any("nginx.proxies_to_app" in r and "10.0.2.99" in r for r in step.reasons), step
    assert "vpc" in step.mended and "keys" in step.mended, step.mended
    # Only this lab's: other labs may come and go on the machine meanwhile.
    assert result.lab_id and not [n for n in netns.list_netns() if f"-{result.lab_id}-" in n]
