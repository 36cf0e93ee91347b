"""Generated artefacts are current: re-running their command changes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from vpclab.diagram import draw
from vpclab.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz (dot) is not installed")
def test_diagram_is_current(tmp_path):
    fresh = draw(load_spec(ROOT / "lab.toml"), tmp_path / "Diagram.jpg")
    assert fresh.stat().st_size > 10_000
    assert fresh.read_bytes() == (ROOT / "Diagram.jpg").read_bytes(), (
        "Diagram.jpg is stale: run 'vpclab diagram'"
    )
