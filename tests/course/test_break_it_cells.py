"""Every "break it and watch" cell of 01-09 is tagged, restores what it broke from what it
saved in a `finally`, and never rebuilds with the library (which would repair a student's
own mistakes before the grader reads the checklist). The cells of 01-04 run against a live
lab in tests/notebooks/test_break_it.py."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("0[1-9]_*.ipynb"))
LIBRARY_BUILDS = re.compile(r"lab\.up\(|catch_up\(|\.apply\(|vpclab up|apply_steps\(")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_break_it_cells_are_tagged_and_restore_without_the_library(path):
    nb = nbformat.read(path, as_version=4)
    heading = next((i for i, c in enumerate(nb.cells) if "## Break it and watch" in c.source), None)
    assert heading is not None, f"{path.name} has no break-it section"
    end = next(
        (i for i, c in enumerate(nb.cells) if i > heading and c.source.startswith("## ")), None
    )
    section = [c for c in nb.cells[heading:end] if c.cell_type == "code"]
    tagged = [c for c in nb.cells if "break-it" in c.metadata.get("tags", [])]
    assert tagged, f"{path.name}: no cell tagged break-it"
    # Every code cell of the section that breaks something (calls a host or the API) is tagged.
    for cell in section:
        if "finally:" in cell.source or "put_text" in cell.source or "delete_" in cell.source:
            assert cell in tagged, cell.source[:200]
    for cell in tagged:
        assert "finally:" in cell.source, f"{path.name}: {cell.source[:120]}"
        assert not LIBRARY_BUILDS.search(cell.source), f"{path.name}: {cell.source[:200]}"
