"""`vpclab grade` on a small class, data plane off, one grading run shared by the tests.
Each submission is the reference (01-04) with one change, made the way students work:

- ref: as submitted -> full marks;
- igw: 02 routes the private subnet to the Internet Gateway -> nat FAILs with the check's
  reason; the grader repairs nat before 03, so jenkins and instances still PASS;
- up: 02's solution is `lab.up(through="nat")` -> CAUGHT-UP, naming the cell;
- hide: 03 calls `lab.catch_up("jenkins")` and deletes its record -> CAUGHT-UP anyway (the
  grader's relay logged the library's requests);
- stuck: 02's blanks left raising, `lab.catch_up("nat")` after them -> nat CAUGHT-UP, the
  steps after it PASS;
- names: 04 solved with other security-group names -> PASS; its 03 has no checkpoint cell
  (jenkins FAILs);
- loop: a 03 cell loops forever -> stopped at the cell limit, the cells after it run,
  jenkins FAILs (its checks say why), instances PASS;
- gone: only 00 and 01 handed in -> nat, jenkins and instances MISSING, with no points and
  the same possible points as everyone.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from xml.etree import ElementTree as ET

import nbformat
import pytest

from vpclab.course import rubric
from vpclab.course.assign import BEGIN, END
from vpclab.course.overlay import SANITIZE
from vpclab.lab import Lab
from vpclab.localcloud.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
CELL_LIMIT = 20  # seconds: every reference cell takes a few at most
STEPS = ["vpc", "nat", "jenkins", "instances"]


def _edit(folder: Path, name: str, change) -> None:
    path = folder / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    change(nb)
    nbformat.write(nb, path)


def _replace_solution(nb: nbformat.NotebookNode, contains: str, code: str) -> None:
    """The first solution region of the cell that holds `contains` replaced by `code`, at
    the region's own indentation (a region may sit under the cell's find-first `if`)."""
    cell = next(c for c in nb.cells if BEGIN in c.source and contains in c.source)
    head, rest = cell.source.split(BEGIN, 1)
    indent = head[len(head.rstrip(" ")) :]
    code = textwrap.indent(code, indent)
    cell.source = f"{head}{BEGIN}\n{code}\n{indent}{END}{rest.split(END, 1)[1]}"


def _submission(root: Path, name: str, last: int = 4) -> Path:
    folder = root / name
    folder.mkdir()
    # The notebooks of the steps these tests grade (00-04); 05 onwards need the hosts.
    for path in NOTEBOOKS.glob(f"0[0-{last}]_*.ipynb"):
        shutil.copy(path, folder / path.name)
    return folder


def private_to_the_igw(nb: nbformat.NotebookNode) -> None:
    cell = next(c for c in nb.cells if '{"NatGatewayId": nat_id}' in c.source)
    cell.source = cell.source.replace('{"NatGatewayId": nat_id}', '{"GatewayId": igw_id}')


def catch_up_jenkins(nb: nbformat.NotebookNode, hide: bool = False) -> None:
    """Each solution region of the jenkins notebook replaced: the first by the rescue (and,
    with `hide`, the deletion of its record in the state folder)."""
    first = 'lab.catch_up("jenkins")\nkey_name = lab.spec.instance("jenkins").key_name'
    if hide:
        first += (
            "\nfrom vpclab.course import catchup\n"
            "catchup.record_path(lab.spec.name, lab.spec_path).unlink()"
        )
    _replace_solution(nb, "import_key_pair", first)
    _replace_solution(nb, "create_security_group", 'jenkins_sg = "(caught up)"')
    _replace_solution(nb, "run_instances", 'jenkins_id = "(caught up)"')
    _replace_solution(nb, "create_vpc_peering_connection", 'pcx_id = "(caught up)"')


def up_in_nat(nb: nbformat.NotebookNode) -> None:
    _replace_solution(nb, "create_internet_gateway", 'lab.up(through="nat")')
    _replace_solution(nb, "create_nat_gateway", "pass")
    _replace_solution(nb, "create_route_table", "pass")


def stuck_in_nat(nb: nbformat.NotebookNode) -> None:
    last = max(i for i, c in enumerate(nb.cells) if "create_route_table" in c.source)
    for marker in ("create_internet_gateway", "create_nat_gateway", "create_route_table"):
        _replace_solution(nb, marker, "raise NotImplementedError()")
    nb.cells.insert(last + 1, nbformat.v4.new_code_cell('lab.catch_up("nat")'))


def other_group_names(nb: nbformat.NotebookNode) -> None:
    cell = next(c for c in nb.cells if 'GroupName=f"{lab.spec.name}-{role}"' in c.source)
    cell.source = cell.source.replace(
        'GroupName=f"{lab.spec.name}-{role}"', 'GroupName=f"team7 {role} servers"'
    )


def drop_checkpoint(nb: nbformat.NotebookNode) -> None:
    nb.cells.remove(next(c for c in nb.cells if "checkpoint" in c.metadata.get("tags", [])))


def loop_forever(nb: nbformat.NotebookNode) -> None:
    """A wait for a state that never comes. It sleeps, so it takes no core from the labs
    graded beside it; test_kernel stops a loop that spins."""
    _replace_solution(
        nb, "create_vpc_peering_connection", "import time\nwhile True:\n    time.sleep(0.5)"
    )


CLASS = {
    "ref": [],
    "igw": [("02_nat", private_to_the_igw)],
    "up": [("02_nat", up_in_nat)],
    "hide": [("03_jenkins", lambda nb: catch_up_jenkins(nb, hide=True))],
    "stuck": [("02_nat", stuck_in_nat)],
    "names": [("04_instances", other_group_names), ("03_jenkins", drop_checkpoint)],
    "loop": [("03_jenkins", loop_forever)],
    "gone": [],
}
HANDED_IN = {"gone": 1}  # the last notebook handed in, where not 04


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("class")
    subs = root / "submissions"
    subs.mkdir()
    for name, changes in CLASS.items():
        folder = _submission(subs, name, HANDED_IN.get(name, 4))
        for notebook, change in changes:
            _edit(folder, notebook, change)
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
            *(str(subs / name) for name in CLASS),
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


def test_class_csv_has_a_row_per_student_a_column_per_step_and_hosts(graded):
    with (graded / "class.csv").open() as handle:
        header = next(csv.reader(handle))
    assert header[:5] == ["student", "vpc", "nat", "jenkins", "instances"]
    assert "hosts" in header
    table = rows(graded)
    assert set(table) == set(CLASS)
    assert {row["hosts"] for row in table.values()} == {"no"}
    assert {row["report (manual)"] for row in table.values()} == {""}  # the instructor's
    cells = {row[step] for row in table.values() for step in STEPS}
    assert cells <= {"PASS", "FAIL", "CAUGHT-UP", "ERROR", "SKIPPED", "MISSING"}


def scores(graded, name: str) -> dict[str, str]:
    return {step: rows(graded)[name][step] for step in STEPS}


def section(graded, name: str, step: str) -> str:
    page = (graded / "feedback" / f"{name}.md").read_text()
    return page.split(f"## {step}: ", 1)[1].split("\n## ", 1)[0]


def test_reference_submission_scores_full_marks(graded):
    assert scores(graded, "ref") == dict.fromkeys(STEPS, "PASS")


def test_route_to_the_internet_gateway_fails_nat_with_a_readable_reason(graded):
    assert scores(graded, "igw")["nat"] == "FAIL"
    text = section(graded, "igw", "nat")
    assert "nat.private_default_route" in text and "igw-" in text, text
    assert "fix:" in text


def test_a_nat_mistake_costs_nat_only(graded):
    """The grader repairs nat (its own catch-up, never charged) before 03: one mistake,
    one step."""
    assert scores(graded, "igw") == {**dict.fromkeys(STEPS, "PASS"), "nat": "FAIL"}
    assert "the grader rebuilt nat" in section(graded, "igw", "jenkins")


def test_lab_up_in_a_solution_is_caught_up_not_pass(graded):
    assert scores(graded, "up") == {**dict.fromkeys(STEPS, "PASS"), "nat": "CAUGHT-UP"}
    text = section(graded, "up", "nat")
    assert "the library built this step (02_nat.ipynb cell" in text, text


def test_catch_up_then_deleting_its_record_is_still_caught_up(graded):
    assert scores(graded, "hide")["jenkins"] == "CAUGHT-UP"
    assert scores(graded, "hide")["instances"] == "PASS"
    assert "03_jenkins.ipynb cell" in section(graded, "hide", "jenkins")


def test_a_stuck_student_who_catches_up_is_caught_up_and_the_rest_is_graded(graded):
    """Every cell runs (as nbgrader runs them): the raising blanks are recorded, the catch-up
    after them runs, and the steps after it are graded on their own."""
    assert scores(graded, "stuck") == {**dict.fromkeys(STEPS, "PASS"), "nat": "CAUGHT-UP"}
    text = section(graded, "stuck", "nat")
    assert "NotImplementedError" in text and "Cells that raised" in text


def test_other_security_group_names_earn_full_marks(graded):
    assert scores(graded, "names")["instances"] == "PASS"
    assert "Cells that raised" not in section(graded, "names", "instances")


def test_deleted_checkpoint_fails_that_step(graded):
    assert scores(graded, "names")["jenkins"] == "FAIL"
    assert "checkpoint cell" in section(graded, "names", "jenkins")
    assert "was deleted" in section(graded, "names", "jenkins")


def test_infinite_loop_is_stopped_and_the_rest_is_graded(graded):
    assert scores(graded, "loop")["jenkins"] == "FAIL"
    assert scores(graded, "loop")["instances"] == "PASS"
    text = section(graded, "loop", "jenkins")
    assert f"ran longer than the limit of {CELL_LIMIT} s per cell" in text
    assert scores(graded, "ref")["jenkins"] == "PASS"  # graded beside it


def test_missing_notebooks_earn_nothing_out_of_the_same_possible_points(graded):
    table = rows(graded)
    assert scores(graded, "gone") == {"vpc": "PASS", **dict.fromkeys(STEPS[1:], "MISSING")}
    assert [table["gone"][f"{step} points"] for step in STEPS[1:]] == ["0", "0", "0"]
    assert {row["possible"] for row in table.values()} == {table["ref"]["possible"]}
    assert "02_nat.ipynb is not in the submission" in section(graded, "gone", "nat")


def test_a_checkpoint_cell_that_raised_loses_its_point(graded):
    """igw's 02 checkpoint raises CheckpointFailed (its route check FAILs): the cell is not
    compared with the reference, and its point is lost with the route's."""
    rules = rubric.load(rubric.DEFAULT)
    table = rows(graded)
    lost = float(table["ref"]["nat points"]) - float(table["igw"]["nat points"])
    assert lost == rules.weight("nat.private_default_route") + rules.checkpoint
    text = section(graded, "igw", "nat")
    assert "the checkpoint cell raised CheckpointFailed" in text, text


def test_junit_has_a_suite_per_student_and_a_case_per_step(graded):
    suites = {s.get("name"): s for s in ET.parse(graded / "class.xml").getroot()}
    assert set(suites) == set(CLASS)
    assert suites["ref"].get("failures") == "0" and suites["ref"].get("errors") == "0"
    names = {c.get("name"): c for c in suites["names"]}
    assert names["jenkins"].find("failure") is not None


def test_reference_notebooks_give_the_same_checklist_as_up(graded):
    """The checklist the grader read after each reference notebook (ref's feedback: a table
    per step, status then check id) equals `vpclab up`'s."""
    import json
    import re

    page = (graded / "feedback" / "ref.md").read_text()
    by_notebooks = re.findall(r"^\| (PASS|FAIL|SKIP) \| `([a-z_]+\.[a-z0-9_]+)` \|", page, re.M)
    by_notebooks = [(check_id, status) for status, check_id in by_notebooks]
    with Sandbox() as sandbox:
        spec = sandbox.tmp / "lab.toml"
        shutil.copy(ROOT / "lab.toml", spec)
        lab = Lab(spec, say=lambda _line: None)
        lab.up(through="instances")
        by_up = [(r.id, r.status) for r in lab.verify(through="instances")]
    assert by_notebooks == by_up, json.dumps([by_notebooks, by_up])
    assert {status for _, status in by_up} == {"PASS", "SKIP"}


@pytest.mark.parametrize("name", ["ref", "igw"])
def test_reference_graded_with_hosts_passes_the_live_checks(tmp_path, name, data_plane):
    """As root each submission gets its own hosts: the reference's 01-04, run for real (their
    break-it cells too), earn full marks, the instances step's live probes PASS rather than
    SKIP, and the grader leaves no namespace behind. igw (02 routes the private subnet to
    the Internet Gateway, the rest right) loses nat only: the grader's repair before 03
    rebuilds the NAT route on the hosts too, so the live probes after it PASS."""
    from vpclab.course.grade import GradeSettings, grade_one
    from vpclab.localcloud import netns

    reference = _submission(tmp_path, "reference")  # the steps graded here: 01-04
    settings = GradeSettings(reference, ROOT / "lab.toml", SANITIZE, hosts=True)
    student = _submission(tmp_path, "student")
    for notebook, change in CLASS[name]:
        _edit(student, notebook, change)
    result = grade_one(student, settings, STEPS)
    assert result.dataplane == "hosts"
    why = [(s.step, s.score, s.reasons[:2], s.errors[:2]) for s in result.steps]
    expected = {"ref": {}, "igw": {"nat": "FAIL"}}[name]
    assert [(s.step, s.score) for s in result.steps] == [
        (s, expected.get(s, "PASS")) for s in STEPS
    ], why
    if name == "igw":
        (nat,) = [s for s in result.steps if s.step == "nat"]
        assert any("nat.private_default_route" in r for r in nat.reasons), nat.reasons
    instances = {c.id: c.status for c in result.checklist if c.id.startswith("instances.")}
    assert instances["instances.web_to_app_ssh"] == "PASS", instances
    assert set(instances.values()) == {"PASS"}, instances
    # Only this lab's: other labs may come and go on the machine meanwhile.
    assert result.lab_id and not [n for n in netns.list_netns() if f"-{result.lab_id}-" in n]


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
