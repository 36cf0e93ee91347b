"""The monitoring tests' lab: the session's shared whole lab (`full_lab`, tests/reallab.py),
its intervals and alert windows shortened (SHARED_LAB_MONITORING), under its old names."""

from __future__ import annotations

import pytest

from tests.reallab import FullLab

MonitoredLab = FullLab


@pytest.fixture(scope="module")
def monitored(full_lab: FullLab) -> FullLab:
    return full_lab
