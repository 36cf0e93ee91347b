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


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz (dot) is not installed")
def test_diagram_shows_the_web_server_on_https(tmp_path):
    """The same drawing as graphviz source: users reach Nginx on 443, port 80 only redirects."""
    source = draw(load_spec(ROOT / "lab.toml"), tmp_path / "Diagram.dot").read_text()
    assert "digraph" in source
    assert "HTTPS :443 (80→443)" in source
    assert "web: Nginx :443" in source
    assert "HTTP :80" not in source
