"""The checklist in a terminal: at 80 columns every check id stays whole on one line."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from vpclab import report
from vpclab.checklist import CheckResult, Status


@pytest.mark.parametrize("width", [80, 100, 160])
def test_check_ids_never_wrap(built_lab, width):
    results = built_lab.verify()
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
