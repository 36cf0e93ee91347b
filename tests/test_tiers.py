"""The suite's tiers (tests/conftest.py): each collected test has exactly one of `unit`, `moto`,
`hosts` and `lab`, never a lower one than its fixtures need; the PyPI test runs only when
asked for; a shared lab's break-and-mend tests run after its read-only ones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import (
    FIXTURE_TIERS,
    SHARED_LAB_FILES,
    SHARED_LAB_UNIT,
    TIERS,
    _costliest_first,
    pytest_xdist_make_scheduler,
)

ROOT = Path(__file__).resolve().parents[1]


def _collected(tmp_path: Path, *args: str) -> dict[str, list[dict]]:
    report = tmp_path / "tiers.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            "--tiers-report",
            str(report),
            *args,
        ],  # fmt: skip
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(report.read_text())


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    return _collected(tmp_path_factory.mktemp("tiers"))


def _tiers(test: dict) -> list[str]:
    return [m for m in test["markers"] if m in TIERS]


def test_every_test_has_exactly_one_tier(collected):
    tests = collected["kept"] + collected["dropped"]
    assert len(tests) > 500
    wrong = {t["id"]: _tiers(t) for t in tests if len(_tiers(t)) != 1}
    assert wrong == {}


def test_no_test_is_below_what_its_fixtures_need(collected):
    low = {}
    for test in collected["kept"] + collected["dropped"]:
        (tier,) = _tiers(test)
        for fixture in set(test["fixtures"]) & set(FIXTURE_TIERS):
            if TIERS.index(tier) < TIERS.index(FIXTURE_TIERS[fixture]):
                low[test["id"]] = (tier, fixture)
    assert low == {}
    folders = {t["id"].split("/")[1]: _tiers(t)[0] for t in collected["kept"]}
    assert folders["deploy"] == "lab" and folders["app"] == "unit"


def test_the_pypi_test_runs_only_when_asked(collected, tmp_path):
    dropped = [t["id"] for t in collected["dropped"]]
    assert dropped and all("pypi" in t["markers"] for t in collected["dropped"])
    assert not [t["id"] for t in collected["kept"] if "pypi" in t["markers"]]
    asked = _collected(tmp_path, "-m", "pypi", "tests/app/test_app_fresh_venv.py")
    assert [t["id"] for t in asked["kept"]] == dropped and asked["dropped"] == []


def test_a_shared_labs_breakers_come_after_its_readers(collected):
    order = [
        ("breaks" in t["markers"], t["id"])
        for t in collected["kept"]
        if "full_lab" in t["fixtures"]
    ]
    assert any(breaks for breaks, _ in order) and not all(breaks for breaks, _ in order)
    assert [breaks for breaks, _ in order] == sorted(breaks for breaks, _ in order), order
    shared = {t["id"].split("/")[1] for t in collected["kept"] if "full_lab" in t["fixtures"]}
    assert {"deploy", "monitoring", "pipeline"} <= shared
    last = [t for t in collected["kept"] if "full_lab" in t["fixtures"]]
    assert collected["kept"][-len(last) :] == last, "the shared lab's tests run last"


def test_a_test_asks_whether_hosts_can_run_only_through_the_data_plane_fixture():
    """A test that checks for itself would stay in a cheaper tier and run in `make test-fast`."""
    asking = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "tests").rglob("test_*.py")
        if "netns.unsupported_reason()" in path.read_text() and path.name != "test_tiers.py"
    ]
    assert asking == []


def test_the_shared_lab_is_one_unit_of_work_under_make_tests_workers(collected, pytestconfig):
    """`make test` (xdist, `--dist loadscope`) hands each worker whole units: every file whose
    tests use the shared lab goes into one unit, so one worker builds it, once; any other test
    goes with its file, so a module's lab fixture is built once too."""
    users = {t["id"].split("::")[0] for t in collected["kept"] if "full_lab" in t["fixtures"]}
    assert {f"tests/{where}" for where in SHARED_LAB_FILES} == users

    scheduler = pytest_xdist_make_scheduler(_as_make_test(pytestconfig, "loadscope"), None)
    units = {
        scheduler._split_scope(t["id"])
        for t in collected["kept"]
        if t["id"].split("::")[0] in users
    }
    assert units == {SHARED_LAB_UNIT}
    grading = "tests/course/test_grade.py::test_reference_notebooks_give_the_same_checklist_as_up"
    assert scheduler._split_scope(grading) == "course/test_grade.py"
    assert pytest_xdist_make_scheduler(_as_make_test(pytestconfig, "load"), None) is None


def _as_make_test(config: pytest.Config, dist: str) -> pytest.Config:
    """This session's config, as xdist's controller sees it under `-n 2 --dist <dist>`."""
    asked = {"dist": dist, "tx": ["2*popen"]}

    class AsMakeTest:
        option = config.option

        def getvalue(self, name: str) -> object:
            return asked[name] if name in asked else config.getvalue(name)

    return AsMakeTest()  # type: ignore[return-value]


class _Collected:
    """A collected test as `_costliest_first` reads it: its fixtures and markers."""

    def __init__(self, test: dict) -> None:
        self.id, self.fixturenames, self.markers = test["id"], test["fixtures"], test["markers"]

    def get_closest_marker(self, name: str) -> str | None:
        return name if name in self.markers else None


def test_make_tests_workers_hand_out_the_costliest_units_first(collected):
    """A long unit handed out last runs alone on one worker while the other waits: the shared
    lab goes first, readers before breakers, then the tiers from `lab` down to `unit`."""
    order = sorted((_Collected(t) for t in collected["kept"]), key=_costliest_first)
    ranks = [_costliest_first(t) for t in order]
    shared = [t for t in order if "full_lab" in t.fixturenames]
    assert order[: len(shared)] == shared
    breaks = ["breaks" in t.markers for t in shared]
    assert breaks == sorted(breaks)
    tiers = [next(m for m in TIERS if m in t.markers) for t in order[len(shared) :]]
    assert tiers == sorted(tiers, key=lambda tier: -TIERS.index(tier)) and tiers[0] == "lab"
    assert ranks == sorted(ranks)
    live = next(i for i, t in enumerate(order) if "test_live_notebooks" in t.id)
    assert live < next(i for i, t in enumerate(order) if "moto" in t.markers)
