"""Tiers: every test gets exactly one of the markers `unit`, `moto`, `hosts` or `lab`, from its
folder or file, raised by the fixtures it uses, so `make test-fast` (unit and moto) can run
without root or a whole lab. Tests marked `pypi` (they install from PyPI) run only when the
`-m` expression names them (`make test-pypi`). Tests marked `breaks` (break-and-mend) run
after the read-only tests of the same shared lab. tests/test_tiers.py checks all this."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # the pipeline's Test stage loads this file in a venv with the app only
    from tests.reallab import FullLab

# Cheapest first: a test's tier is the highest of its path's and its fixtures'.
TIERS = ("unit", "moto", "hosts", "lab")
MARKERS = {
    "unit": "no moto, no root: plain Python, subprocesses or servers on loopback",
    "moto": "a control plane (moto) but no hosts",
    "hosts": "needs root and network namespaces (skips with the reason without)",
    "lab": "a whole lab with hosts, built by `vpclab up` (minutes)",
    "breaks": "breaks a shared lab and mends it: runs after the lab's read-only tests",
    "pypi": "installs from PyPI: opt-in (`make test-pypi`), never in `make test`",
    "slow": "builds a virtualenv or starts servers and a browser (seconds, not ms)",
}

# Path under tests/ (a folder ending in "/", or a file) -> tier; the longest prefix wins.
PATH_TIERS = {
    "": "unit",
    "controlplane/": "moto",
    "controlplane/test_artefacts.py": "unit",
    "controlplane/test_layering.py": "unit",
    "controlplane/test_timings.py": "unit",
    "controlplane/test_user_data.py": "unit",
    "course/": "moto",
    "course/test_grade_file_blanks.py": "lab",
    "course/test_grade_hosts.py": "lab",
    "course/test_crash.py": "unit",
    "course/test_kernel.py": "unit",
    "course/test_slow_kernel.py": "unit",
    "deploy/": "lab",
    "localcloud/": "hosts",
    "localcloud/test_hosts_unit.py": "unit",
    "monitoring/test_grafana_aws.py": "moto",
    "monitoring/test_monitoring_live.py": "lab",
    "nonroot/": "hosts",
    "notebooks/test_break_it.py": "moto",
    "notebooks/test_live_notebooks.py": "lab",
    "notebooks/test_notebooks_nbval.py": "moto",
    "pipeline/test_aws_jenkins.py": "moto",
    "pipeline/test_checks.py": "moto",
    "pipeline/test_local_run.py": "lab",
}
# Fixtures (anywhere in a test's fixture closure) that raise its tier.
FIXTURE_TIERS = {
    "moto_endpoint": "moto",
    "spec_path": "moto",
    "readonly_lab": "moto",
    "cloud": "hosts",
    "data_plane": "hosts",
    "netlab": "hosts",
    "full_lab": "lab",
}
# Single tests whose file holds tests of a lower tier: "path::name" -> tier.
TEST_TIERS = {
    "course/test_grade.py::test_reference_graded_with_hosts_passes_the_live_checks": "lab",
    "course/test_grade_sandbox.py::"
    "test_with_hosts_a_cheating_kernel_enters_no_other_lab_and_cannot_touch_the_agent": "hosts",
    "notebooks/test_break_it.py::test_break_it_cells_against_live_hosts": "lab",
    "notebooks/test_report.py::test_control_plane_evidence_fills_without_hosts": "moto",
    "notebooks/test_report.py::test_every_evidence_cell_fills_against_the_whole_lab": "lab",
}
DROPPED = pytest.StashKey[list]()
PYPI_FIXTURES = {"fresh_venv"}  # a virtualenv installed from PyPI


# Break-and-mend tests of the shared lab ("path::name"; a `breaks` marker on a test works too).
BREAKS = {
    *(
        f"deploy/test_deploy.py::test_{name}"
        for name in (
            "redeploy_keeps_posts_and_the_app_outlives_the_ssh_session",
            "a_release_failing_its_health_check_is_rolled_back",
            "killing_the_gunicorn_master_brings_the_app_back_within_5_s",
            "gunicorn_bound_to_loopback_is_caught",
            "nginx_proxying_to_a_wrong_address_is_caught",
            "a_0644_private_key_is_caught",
            "an_app_key_usable_from_jenkins_is_caught",
            "a_broken_nginx_config_keeps_the_previous_one",
        )
    ),
    *(
        f"deploy/test_hardening.py::test_{name}"
        for name in (
            "jenkins_key_deploys_and_can_do_nothing_else",
            "the_keys_step_follows_no_planted_link",
            "the_env_file_is_read_as_values_never_run",
            "vpclab_up_mends_the_env_file_and_password_login",
        )
    ),
    "monitoring/test_monitoring_live.py::test_revoked_9100_rule_fails_with_a_hint_naming_it",
    "monitoring/test_monitoring_live.py::test_stopped_app_fires_instance_down_in_alertmanager",
    # Restarts the shared lab's agent (it adopts the hosts).
    "deploy/test_adopt_lab.py::test_new_code_adopts_the_running_hosts_and_verify_stays_green",
    "pipeline/test_local_run.py::test_a_commit_is_built_and_deployed",
    "pipeline/test_local_run.py::test_a_broken_unit_test_stops_at_test",
}


# The files whose tests use the session's one whole lab (`full_lab`): under `make test`'s
# workers they are one unit of work, so one worker builds that lab, once. tests/test_tiers.py
# checks this list against the tests' fixtures.
SHARED_LAB_FILES = frozenset(
    {
        "deploy/test_adopt_lab.py",
        "deploy/test_deploy.py",
        "deploy/test_hardening.py",
        "deploy/test_https.py",
        "monitoring/test_monitoring_live.py",
        "notebooks/test_report.py",
        "pipeline/test_local_run.py",
    }
)
SHARED_LAB_UNIT = "the shared lab"


def work_unit(nodeid: str) -> str:
    """What one xdist worker runs as a whole: the shared lab's files together, else a file (its
    module and class fixtures, some of them labs, are then built once)."""
    where = nodeid.split("::", 1)[0].removeprefix("tests/")
    return SHARED_LAB_UNIT if where in SHARED_LAB_FILES else where


@pytest.hookimpl(optionalhook=True)  # xdist's hook: the pipeline's Test stage has no xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """`--dist loadscope` (`make test`) with our units: xdist's own grouping marks do not
    take under pytest 9 (they rewrite a node id attribute pytest no longer reads). Units go
    out in the order the workers collected them, costliest first (`_costliest_first`)."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    config.option.loadscopereorder = False  # units in the workers' order: _costliest_first

    class SharedLabScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return SharedLabScheduling(config, log)


@pytest.fixture
def data_plane() -> None:
    """The one place a test asks whether the local hosts can run here: it skips, with the
    reason, where they cannot, and raises the test's tier to `hosts` at least."""
    from vpclab.localcloud import netns

    reason = netns.unsupported_reason()
    if reason:
        pytest.skip(f"needs the local data plane: {reason}")


@pytest.fixture(scope="session")
def full_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FullLab]:
    """The one whole lab of the session (tests/reallab.py), built on first use. Without xdist
    its tests run last, so no other lab of the suite runs beside it. Under `make test`'s
    workers they are one unit (`work_unit`): one worker builds it, other labs run beside it."""
    from tests import reallab  # not at the top: it needs vpclab, which a CI venv lacks

    with reallab.full_lab(tmp_path_factory.mktemp("full")) as lab:
        yield lab


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--tiers-report",
        metavar="PATH",
        help="write the collected tests, in order, with markers and fixtures as JSON",
    )


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")


def _where(item: pytest.Item) -> str:
    """The item's path under tests/, as "folder/file.py"."""
    path = item.nodeid.split("::", 1)[0]
    return path.removeprefix("tests/")


def _name(item: pytest.Item) -> str:
    return f"{_where(item)}::{getattr(item, 'originalname', item.name)}"


def tier_of(item: pytest.Item) -> str:
    where, name = _where(item), _name(item)
    if name in TEST_TIERS:
        return TEST_TIERS[name]
    prefix = max((p for p in PATH_TIERS if where.startswith(p)), key=len)
    found = [PATH_TIERS[prefix]]
    found += [FIXTURE_TIERS[f] for f in getattr(item, "fixturenames", ()) if f in FIXTURE_TIERS]
    return max(found, key=TIERS.index)


def _shared_lab_order(item: pytest.Item) -> int:
    """0 for tests of no shared lab; then the shared lab's read-only tests; then its breakers."""
    if "full_lab" not in getattr(item, "fixturenames", ()):
        return 0
    return 2 if item.get_closest_marker("breaks") else 1


def _costliest_first(item: pytest.Item) -> int:
    """Under `make test`'s workers, units are handed out in this order, so that no long one
    starts last and runs alone: the shared lab (its readers, then its breakers), then the
    other tests by tier, `lab` first. Stable: within a rank every test keeps its place."""
    shared = _shared_lab_order(item)
    if shared:
        return shared - 1
    tier = next(t for t in TIERS if item.get_closest_marker(t))
    return 2 + TIERS[::-1].index(tier)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if not any(item.get_closest_marker(t) for t in TIERS):
            item.add_marker(tier_of(item))
        if _name(item) in BREAKS:
            item.add_marker("breaks")
        if PYPI_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker("pypi")
    # PyPI installs only when asked for by name (`-m pypi`).
    dropped = []
    if "pypi" not in (config.getoption("markexpr") or ""):
        dropped = [i for i in items if i.get_closest_marker("pypi")]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = [i for i in items if not i.get_closest_marker("pypi")]
    if hasattr(config, "workerinput"):  # one of `make test`'s xdist workers
        items.sort(key=_costliest_first)
    else:
        items.sort(key=_shared_lab_order)  # stable: every other test keeps its place
    config.stash[DROPPED] = dropped


def pytest_collection_finish(session: pytest.Session) -> None:
    """After `-m` and `-k` too: what runs, in order, and what was held back for PyPI."""
    report = session.config.getoption("tiers_report")
    if report:
        dropped = session.config.stash.get(DROPPED, [])
        kept = _described(session.items)
        Path(report).write_text(json.dumps({"kept": kept, "dropped": _described(dropped)}))


def _described(items: list[pytest.Item]) -> list[dict]:
    return [
        {
            "id": i.nodeid,
            "markers": sorted({m.name for m in i.iter_markers()}),
            "fixtures": sorted(getattr(i, "fixturenames", ())),
        }
        for i in items
    ]
