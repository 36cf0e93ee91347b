"""Grading and the live notebook run shorten the spec's monitoring timings, and only those."""

from __future__ import annotations

import tomllib
from pathlib import Path

from vpclab.course.timings import FAST_MONITORING, fast_monitoring
from vpclab.spec import parse_spec

ROOT = Path(__file__).resolve().parents[2]


def test_the_projects_spec_gets_the_fast_timings_and_keeps_the_rest():
    text = (ROOT / "lab.toml").read_text()
    fast = tomllib.loads(fast_monitoring(text))
    before = tomllib.loads(text)
    for key, value in FAST_MONITORING.items():
        assert fast["monitoring"][key] == value
    assert fast["monitoring"]["error_ratio_for"] == before["monitoring"]["error_ratio_for"]
    assert {k: v for k, v in fast.items() if k != "monitoring"} == {
        k: v for k, v in before.items() if k != "monitoring"
    }
    assert parse_spec(fast, "lab.toml").monitoring.instance_down_for == "6s"


def test_a_spec_without_a_monitoring_table_gets_one():
    text = 'name = "x"\n\n[instances.web]\ninstance_type = "t3.micro"\n'
    fast = tomllib.loads(fast_monitoring(text))
    assert fast["monitoring"] == FAST_MONITORING
    assert fast["instances"]["web"]["instance_type"] == "t3.micro"


def test_keys_missing_from_the_table_are_added_inside_it():
    text = '[monitoring]\nscrape_interval = "30s"  # slow\n\n[ports]\nhttp = 80\n'
    fast = tomllib.loads(fast_monitoring(text))
    assert fast["monitoring"] == FAST_MONITORING and fast["ports"] == {"http": 80}
