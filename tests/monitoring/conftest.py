"""A whole lab on the local target with the monitoring step, its intervals and alert windows
shortened in its own spec (see tests/reallab.py: own name, state folder and moto server,
all removed after)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.reallab import RealLab, real_lab, require_local_hosts

FAST = {
    "scrape_interval": "1s",
    "evaluation_interval": "1s",
    "rate_window": "10s",
    "instance_down_for": "5s",
}


@dataclass
class MonitoredLab(RealLab):
    up_output: str = ""  # what `vpclab up` printed


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MonitoredLab]:
    require_local_hosts("prometheus", "prometheus-alertmanager", "prometheus-node-exporter")
    folder = tmp_path_factory.mktemp("monitoring")
    with real_lab(
        MonitoredLab, folder, "mon", settings=FAST, down_timeout=300, cli_timeout=900
    ) as lab:
        yield lab
