"""Points: the rubric's weights per check, counted by the grading parent."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from vpclab.course import feedback, rubric
from vpclab.course.scores import CheckLine, Score, StepScore, SubmissionResult
from vpclab.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]


def result(
    score: Score, statuses: dict[str, str], reasons=(), checkpoint_ok=True
) -> SubmissionResult:
    checks = [CheckLine(check, status) for check, status in statuses.items()]
    step = StepScore("nat", "02_nat.ipynb", score, list(reasons), checkpoint_ok=checkpoint_ok)
    return SubmissionResult("s", [step], checks)


NAT = {
    "nat.igw_attached": "PASS",
    "nat.private_default_route": "FAIL",
    "nat.app_reaches_internet": "SKIP",
}
NAT_CHECKS = 6  # vpclab.checks.step_check_ids("nat"), whatever was read


def test_shipped_rubric_is_the_one_beside_lab_toml_and_loads():
    assert (ROOT / "rubric.toml").read_text() == rubric.DEFAULT.read_text()
    loaded = rubric.load(rubric.beside(ROOT / "lab.toml"))
    assert loaded.weight("nat.private_default_route") == 3 and loaded.weight("vpc.exists") == 1


def test_a_failing_step_keeps_the_points_of_its_passing_checks():
    rules = rubric.Rubric(default=1, checkpoint=1, checks={"nat.private_default_route": 3})
    (step,) = rubric.score(result(Score.FAIL, NAT), rules).steps
    assert (step.points, step.possible) == (2, NAT_CHECKS - 1 + 3 + 1)  # igw + checkpoint
    assert "3 for `nat.private_default_route` (failed)" in step.lost
    assert "1 for `nat.app_reaches_internet` (not judged (SKIP))" in step.lost
    assert "1 for `nat.gateway_available` (not read)" in step.lost


def test_what_is_possible_does_not_depend_on_what_the_run_read():
    """A run that read nothing (its notebook was missing, or the checklist broke) is out of
    the same points as one that read everything."""
    rules = rubric.Rubric()
    full = rubric.score(result(Score.FAIL, NAT), rules).steps[0].possible
    for score in (Score.MISSING, Score.ERROR, Score.FAIL):
        assert rubric.score(result(score, {}), rules).steps[0].possible == full == NAT_CHECKS + 1


def test_the_checkpoint_point_needs_a_checkpoint_that_ran_and_matched():
    (step,) = rubric.score(result(Score.FAIL, NAT, checkpoint_ok=False), rubric.Rubric()).steps
    assert step.points == 1  # igw_attached only
    assert "1 for the checkpoint cell (missing, raised, or different)" in step.lost


@pytest.mark.parametrize("score", [Score.CAUGHT_UP, Score.SKIPPED, Score.ERROR, Score.MISSING])
def test_no_credit_scores_earn_no_points(score):
    (step,) = rubric.score(result(score, {"nat.igw_attached": "PASS"}), rubric.Rubric()).steps
    assert step.points == 0 and step.possible == NAT_CHECKS + 1 and str(score) in step.lost[0]


def test_csv_and_feedback_show_points(tmp_path):
    graded = rubric.score(result(Score.FAIL, NAT), rubric.Rubric())
    text = feedback.write_csv([graded], tmp_path / "c.csv").read_text().splitlines()
    assert text[0] == "student,nat,hosts,nat points,total,possible,report (manual)"
    assert text[1] == f"s,FAIL,no,2,2,{NAT_CHECKS + 1},"
    assert "Points lost:" in feedback.page(graded)


def test_csv_leaves_the_report_column_empty_for_the_instructor(tmp_path):
    """11_report's prose is graded by hand: its column comes last, empty in every row."""
    graded = [rubric.score(result(Score.PASS, {}), rubric.Rubric())] * 2
    with feedback.write_csv(graded, tmp_path / "c.csv").open() as handle:
        header, *rows = list(csv.reader(handle))
    assert header[-1] == "report (manual)" and header[-3:-1] == ["total", "possible"]
    assert [row[-1] for row in rows] == ["", ""]


@pytest.mark.parametrize(
    "body, wrong",
    [("default = -1", "default"), ('[checks]\n"nope" = 2', "nope"), ("extra = 1", "extra")],
)
def test_a_bad_rubric_is_one_line_naming_it(tmp_path, body, wrong):
    path = tmp_path / "rubric.toml"
    path.write_text(body)
    with pytest.raises(UsageError, match=wrong):
        rubric.load(path)
