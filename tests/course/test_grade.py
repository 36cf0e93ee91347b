"""`vpclab grade` on a small class, data plane off, one grading run shared by the tests:

- ref: the reference notebooks, as submitted -> full marks;
- alice: her nat notebook routes the private subnet to the Internet Gateway (nat FAILs,
  with the check's reason), and her jenkins notebook calls `lab.catch_up("jenkins")` instead
  of doing the step (CAUGHT-UP: no credit);
- bob: he deleted the checkpoint cell of his jenkins notebook (jenkins FAILs), and his
  instances notebook loops forever (stopped by the cell limit: ERROR), while the others
  are still graded.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import nbformat
import pytest

from vpclab.course.assign import BEGIN, END
from vpclab.course.overlay import SANITIZE
from vpclab.lab import Lab
from vpclab.localcloud.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
CELL_LIMIT = 20  # seconds: every reference cell takes a few at most


def _edit(folder: Path, name: str, change) -> None:
    path = folder / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    change(nb)
    nbformat.write(nb, path)


def _replace_solution(nb: nbformat.NotebookNode, contains: str, code: str) -> None:
    cell = next(c for c in nb.cells if BEGIN in c.source and contains in c.source)
    head, rest = cell.source.split(BEGIN, 1)
    cell.source = f"{head}{BEGIN}\n{code}\n{END}{rest.split(END, 1)[1]}"


def _submission(root: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir()
    # The notebooks of the steps these tests grade (00-04); 05 onwards need the hosts.
    for path in NOTEBOOKS.glob("0[0-4]_*.ipynb"):
        shutil.copy(path, folder / path.name)
    return folder


def private_to_the_igw(nb: nbformat.NotebookNode) -> None:
    cell = next(c for c in nb.cells if '{"NatGatewayId": nat_id}' in c.source)
    cell.source = cell.source.replace('{"NatGatewayId": nat_id}', '{"GatewayId": igw_id}')


def catch_up_jenkins(nb: nbformat.NotebookNode) -> None:
    """Each solution region of the jenkins notebook replaced: the first by the rescue."""
    first = 'lab.catch_up("jenkins")\nkey_name = lab.spec.instance("jenkins").key_name'
    _replace_solution(nb, "import_key_pair", first)
    _replace_solution(nb, "create_security_group", 'jenkins_sg = "(caught up)"')
    _replace_solution(nb, "run_instances", 'jenkins_id = "(caught up)"')
    _replace_solution(nb, "create_vpc_peering_connection", 'pcx_id = "(caught up)"')


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("class")
    subs = root / "submissions"
    subs.mkdir()
    _submission(subs, "ref")
    alice = _submission(subs, "alice")
    _edit(alice, "02_nat", private_to_the_igw)
    _edit(alice, "03_jenkins", catch_up_jenkins)
    bob = _submission(subs, "bob")
    _edit(
        bob,
        "03_jenkins",
        lambda nb: nb.cells.remove(
            next(c for c in nb.cells if "checkpoint" in c.metadata.get("tags", []))
        ),
    )
    _edit(
        bob, "04_instances", lambda nb: _replace_solution(nb, "def allow", "while True:\n    pass")
    )
    reference = _submission(root, "reference")  # the steps graded here: 01-04
    out = root / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vpclab.cli",
            "grade",
            "--notebooks",
            str(reference),
            str(subs / "ref"),
            str(alice),
            str(bob),
            "--jobs",
            "2",
            "--no-hosts",
            "--cell-timeout",
            str(CELL_LIMIT),
            "--csv",
            str(out / "class.csv"),
            "--junit",
            str(out / "class.xml"),
            "--feedback",
            str(out / "feedback"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def rows(out: Path) -> dict[str, dict[str, str]]:
    with (out / "class.csv").open() as handle:
        return {row.pop("student"): row for row in csv.DictReader(handle)}


def test_class_csv_has_a_row_per_student_and_a_column_per_step(graded):
    with (graded / "class.csv").open() as handle:
        header = next(csv.reader(handle))
    assert header == ["student", "vpc", "nat", "jenkins", "instances"]
    table = rows(graded)
    assert set(table) == {"ref", "alice", "bob"}
    cells = {cell for row in table.values() for cell in row.values()}
    assert cells <= {"PASS", "FAIL", "CAUGHT-UP", "ERROR"}


def test_reference_submission_scores_full_marks(graded):
    assert rows(graded)["ref"] == dict.fromkeys(["vpc", "nat", "jenkins", "instances"], "PASS")


def test_nat_to_the_internet_gateway_fails_nat_with_a_readable_reason(graded):
    assert rows(graded)["alice"]["nat"] == "FAIL"
    assert rows(graded)["alice"]["vpc"] == "PASS"
    page = (graded / "feedback" / "alice.md").read_text()
    section = page.split("## nat: FAIL", 1)[1].split("## ", 1)[0]
    assert "nat.private_default_route" in section and "igw-" in section, section
    assert "fix:" in section


def test_catch_up_for_jenkins_earns_no_credit(graded):
    assert rows(graded)["alice"]["jenkins"] == "CAUGHT-UP"
    page = (graded / "feedback" / "alice.md").read_text()
    assert "lab.catch_up built jenkins" in page


def test_deleted_checkpoint_fails_that_step(graded):
    assert rows(graded)["bob"]["jenkins"] == "FAIL"
    assert rows(graded)["bob"]["nat"] == "PASS"
    page = (graded / "feedback" / "bob.md").read_text()
    assert "checkpoint cell" in page and "was deleted" in page


def test_infinite_loop_is_stopped_and_the_class_is_graded(graded):
    assert rows(graded)["bob"]["instances"] == "ERROR"
    page = (graded / "feedback" / "bob.md").read_text()
    assert f"ran longer than the limit of {CELL_LIMIT} s per cell" in page
    assert rows(graded)["ref"]["instances"] == "PASS"  # graded beside it


def test_junit_has_a_suite_per_student_and_a_case_per_step(graded):
    suites = {s.get("name"): s for s in ET.parse(graded / "class.xml").getroot()}
    assert set(suites) == {"ref", "alice", "bob"}
    assert suites["ref"].get("failures") == "0" and suites["ref"].get("errors") == "0"
    bob = {c.get("name"): c for c in suites["bob"]}
    assert bob["instances"].find("error") is not None
    assert bob["jenkins"].find("failure") is not None


def test_reference_notebooks_give_the_same_checklist_as_up(graded, tmp_path):
    """The checklist the grader read after each reference notebook equals `vpclab up`'s."""
    import json

    from vpclab.course.grade import GradeSettings, grade_one

    settings = GradeSettings(NOTEBOOKS, ROOT / "lab.toml", SANITIZE, CELL_LIMIT)
    reference = _submission(tmp_path, "reference")
    result = grade_one(reference, settings, ["vpc", "nat", "jenkins", "instances"])
    by_notebooks = [(c.id, c.status) for c in result.checklist]
    with Sandbox() as sandbox:
        spec = sandbox.tmp / "lab.toml"
        shutil.copy(ROOT / "lab.toml", spec)
        lab = Lab(spec, say=lambda _line: None)
        lab.up(through="instances")
        by_up = [(r.id, r.status) for r in lab.verify(through="instances")]
    assert by_notebooks == by_up, json.dumps([by_notebooks, by_up])
    assert {status for _, status in by_up} == {"PASS", "SKIP"}


def test_reference_graded_with_hosts_passes_the_live_checks(tmp_path):
    """As root each submission gets its own hosts: the reference's 01-04, run for real (their
    break-it cells too), earn full marks, the instances step's live probes PASS rather than
    SKIP, and the grader leaves no namespace behind."""
    from vpclab.course.grade import GradeSettings, grade_one
    from vpclab.localcloud import netns

    reason = netns.unsupported_reason()
    if reason:
        pytest.skip(f"grading with hosts needs the local data plane: {reason}")
    before = set(netns.list_netns())
    reference = _submission(tmp_path, "reference")  # the steps graded here: 01-04
    settings = GradeSettings(reference, ROOT / "lab.toml", SANITIZE, hosts=True)
    steps = ["vpc", "nat", "jenkins", "instances"]
    result = grade_one(_submission(tmp_path, "student"), settings, steps)
    assert result.dataplane == "hosts"
    assert [(s.step, s.score) for s in result.steps] == [(s, "PASS") for s in steps], result
    instances = {c.id: c.status for c in result.checklist if c.id.startswith("instances.")}
    assert instances["instances.web_to_app_ssh"] == "PASS", instances
    assert set(instances.values()) == {"PASS"}, instances
    assert set(netns.list_netns()) <= before


@pytest.mark.parametrize("fast", [True, False])
def test_a_graded_lab_gets_the_spec_with_fast_monitoring_unless_told(tmp_path, fast):
    from vpclab.course.runner import lay_out
    from vpclab.spec import load_spec

    project = lay_out(tmp_path / "lab", ROOT / "lab.toml", fast=fast)
    monitoring = load_spec(project / "lab.toml").monitoring
    assert monitoring.scrape_interval == (
        "2s" if fast else load_spec(ROOT / "lab.toml").monitoring.scrape_interval
    )
    assert (project / "Jenkinsfile").exists() and not list((project / "notebooks").iterdir())
