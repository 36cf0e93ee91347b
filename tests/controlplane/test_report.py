"""The checklist in a terminal: at 80 columns every check id stays whole on one line."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from vpclab import report
from vpclab.checklist import CheckResult, Status


@pytest.mark.parametrize("width", [80, 100, 160])
def test_check_ids_never_wrap(readonly_lab, width):
    results = readonly_lab.verify()
    # A FAIL too, so a long hint is part of the layout.
    results.append(
        CheckResult(
            "instances.internet_to_app_5000_blocked",
            "instances",
            "The internet cannot reach the app on 5000 " * 2,
            Status.FAIL,
            "a connection from the internet namespace to 10.0.2.15:5000 succeeded " * 2,
            "revoke the open rule and allow 22 and 5000 from the web SG only " * 2,
        )
    )
    out = io.StringIO()
    report.to_rich(results, Console(file=out, width=width, color_system=None))
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= width
    for r in results:
        assert any(r.id in line for line in lines), f"{r.id} is broken across lines"


def test_check_order_does_not_depend_on_import_order():
    """A module imported early (by a test, a notebook) must not move its checks up a step."""
    import subprocess
    import sys

    script = (
        "import importlib, sys\n"
        "for name in sys.argv[1:]: importlib.import_module('vpclab.checks.' + name)\n"
        "from vpclab import checks\n"
        "print([c.id for c in checks.registered()])\n"
    )
    orders = {
        subprocess.run(
            [sys.executable, "-c", script, *first], capture_output=True, text=True, check=True
        ).stdout
        for first in ([], ["userdata"], ["monitoring", "userdata", "vpc"], ["live", "nat"])
    }
    assert len(orders) == 1, orders


def test_a_check_that_gets_no_answer_points_at_the_earlier_failure(monkeypatch):
    """A probe that times out says why it could not look, instead of its own hint (which
    assumes it could: "the app serving is not the release ...")."""
    from vpclab import remote
    from vpclab.checks import Check
    from vpclab.checks.hosts import UNANSWERED, on_hosts

    monkeypatch.setattr(remote, "unreachable", lambda _facts: None)

    def times_out(_facts):
        raise TimeoutError("timed out")

    result = Check("scripts.example", "an example", "the check's own hint", on_hosts(times_out))
    outcome = result.result(facts=None)
    assert (outcome.status, outcome.detail) == ("FAIL", "TimeoutError: timed out")
    assert outcome.hint == UNANSWERED


def test_one_registry_holds_every_check_read_or_probed_each_id_once():
    """The checklist's lines come from one registry: the control-plane reads (`@check`) and the
    live probes (checks.live), each with exactly one way to run, each id once."""
    from vpclab import checks
    from vpclab.checks import live

    every = checks.registered()
    ids = [c.id for c in every]
    assert len(ids) == len(set(ids))
    assert set(live.CHECKS) <= set(every) and len(live.CHECKS) == 7
    assert all((c.run is None) != (c.probe is None) for c in every)
    nat = checks.step_check_ids("nat")
    assert nat[-1] == "nat.app_reaches_internet" and "nat.app_reaches_internet" not in nat[:-1]
