"""The notebooks' stored files: the notebooks' folder holds only the `.ipynb` files (what a
student sees), each matches its jupytext source in `course/src/` (a real jupytext pair), holds
executed reference outputs nbval can compare, ends with a checkpoint, and leaks nothing.

When a test here fails, run `.venv/bin/python course/refresh.py` and commit the result.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import jupytext
import nbformat
import pytest
from jupytext.cli import jupytext as jupytext_cli

from vpclab.spec import STEPS

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SOURCES = sorted((ROOT / "course" / "src").glob("[0-9][0-9]_*.py"))
STEP_SOURCES = [p for p in SOURCES if p.stem.split("_", 1)[1] in STEPS]
REFRESH = "run '.venv/bin/python course/refresh.py' and commit the .ipynb"
FORMATS = "notebooks//ipynb,course/src//py:percent"  # jupytext prefixes: the pair's two folders


def _refresh():
    """course/refresh.py (a script, not a package module): its own `sync` is what is tested."""
    spec = importlib.util.spec_from_file_location("refresh", ROOT / "course" / "refresh.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _stored(source: Path) -> Path:
    return NOTEBOOKS / f"{source.stem}.ipynb"


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _inputs(nb: nbformat.NotebookNode) -> list[tuple]:
    return [(c.get("id"), c.cell_type, c.source, c.metadata.get("tags", [])) for c in nb.cells]


def _code_cells(nb: nbformat.NotebookNode) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def test_notebooks_exist_in_pairs():
    names = [p.name for p in SOURCES]
    assert {"00_overview.py", "01_vpc.py", "02_nat.py", "03_jenkins.py", "04_instances.py"} <= set(
        names
    )
    stored = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert stored == [_stored(p).name for p in SOURCES], REFRESH


def test_notebook_folder_holds_only_the_notebooks():
    """What a student sees in JupyterLab: the NN_name.ipynb files, no sources, no helpers."""
    tracked = subprocess.run(
        ["git", "ls-files", "notebooks"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert tracked, "git lists no notebooks"
    assert [p for p in tracked if not re.fullmatch(r"notebooks/\d\d_\w+\.ipynb", p)] == []


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_jupytext_pairs_source_and_notebook(source, tmp_path, monkeypatch, capsys):
    """The `formats:` metadata names the real pair: `jupytext --sync` on the notebook, in a
    copy of the repository's layout, finds the source and changes none of its cells."""
    nb_dir, src_dir = tmp_path / "notebooks", tmp_path / "course" / "src"
    nb_dir.mkdir()
    src_dir.mkdir(parents=True)
    shutil.copy(_stored(source), nb_dir)
    shutil.copy(source, src_dir)
    for copy in (nb_dir / _stored(source).name, src_dir / source.name):
        assert jupytext.read(copy).metadata["jupytext"]["formats"] == FORMATS, REFRESH
    before = [cell[1:] for cell in _inputs(jupytext.read(src_dir / source.name))]  # not ids
    monkeypatch.chdir(tmp_path)
    assert jupytext_cli(["--sync", f"notebooks/{_stored(source).name}"]) == 0
    assert f"Loading {Path('course', 'src', source.name)}" in capsys.readouterr().out
    assert [cell[1:] for cell in _inputs(jupytext.read(src_dir / source.name))] == before


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_ipynb_in_sync_with_py(source, tmp_path):
    """`jupytext --to ipynb --update` into a copy changes no cell (id, type, source, tags).
    (`jupytext --diff` exits 0 even when the pair differs, so compare ourselves.)"""
    stored = _stored(source)
    (tmp_path / "notebooks").mkdir()
    copy = _refresh().sync(source, tmp_path / "notebooks")
    assert _inputs(_read(copy)) == _inputs(_read(stored)), (
        f"{stored.name} is out of date with {source.name}: {REFRESH}"
    )


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_reference_outputs_are_executed(source):
    """nbval never compares a cell stored with a null count, and fails one that has outputs."""
    nb = _read(_stored(source))
    counts = [c.execution_count for c in _code_cells(nb)]
    assert counts == list(range(1, len(counts) + 1)), f"not executed in order: {REFRESH}"
    for cell in _code_cells(nb):
        for out in cell.outputs:
            assert out.output_type != "error", f"stored error in {cell.source!r}"
            assert not (out.output_type == "stream" and out.name == "stderr"), (
                f"stderr in {cell.source!r}: nbval would compare it"
            )
            assert "text/html" not in out.get("data", {}), "rich/HTML output is not compared"
            text = out.get("text", "") + out.get("data", {}).get("text/plain", "")
            assert "\x1b[" not in text, f"ANSI escapes in {cell.source!r}: print plain text"
        assert "execution" not in cell.metadata, "timing metadata: refresh with record_timing off"


@pytest.mark.parametrize("source", STEP_SOURCES, ids=lambda p: p.stem)
def test_ends_with_a_checkpoint(source):
    """A step's notebook (NN_<step>) ends with its graded checkpoint; 00_overview has none."""
    step = source.stem.split("_", 1)[1]
    last = _code_cells(_read(_stored(source)))[-1]
    assert "checkpoint" in last.metadata.get("tags", [])
    assert "nbval-check-output" in last.metadata.get("tags", [])  # compared under --nbval-lax
    assert last.source.strip() == f'lab.checkpoint("{step}")'
    printed = "".join(o.get("text", "") for o in last.outputs).splitlines()
    assert printed and re.fullmatch(r"\d+ passed, 0 failed, \d+ skipped", printed[-1])
    assert not [line for line in printed if line.startswith("FAIL")]


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")) + SOURCES, ids=lambda p: p.name)
def test_nothing_machine_specific_or_secret(path):
    text = path.read_text()
    for needle in (str(ROOT), "/tmp/", "/root/", "/home/"):
        assert needle not in text, f"{path.name} holds the machine path {needle}"
    assert not re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", text)
    assert not re.search(r"\bAKIA[0-9A-Z]{16}\b", text)


HOST_STEPS = ("keys", "nginx", "scripts", "pipeline", "monitoring")
HOST_SOURCES = [p for p in STEP_SOURCES if p.stem.split("_", 1)[1] in HOST_STEPS]


@pytest.mark.parametrize("source", HOST_SOURCES, ids=lambda p: p.stem)
def test_host_cells_skip_with_their_reason(source):
    """The reference outputs are made with the data plane off: each cell that needs the hosts
    prints one line, "needs the hosts: <reason>", and nothing else."""
    nb = _read(_stored(source))
    cells = [c for c in _code_cells(nb) if "if offline:" in c.source]
    assert cells, f"{source.name} has no cell that checks for the hosts"
    for cell in cells:
        printed = "".join(o.get("text", "") for o in cell.outputs)
        assert re.fullmatch(r"needs the hosts: [^\n]+\n", printed), (cell.source[:80], printed)


@pytest.mark.parametrize("source", HOST_SOURCES, ids=lambda p: p.stem)
def test_solution_regions_are_marked(source):
    """The student's doing sits between solution markers, each the whole line, in pairs."""
    lines = [line.strip() for line in source.read_text().splitlines()]
    begins = [i for i, line in enumerate(lines) if line == "### BEGIN SOLUTION"]
    ends = [i for i, line in enumerate(lines) if line == "### END SOLUTION"]
    assert begins and len(begins) == len(ends)
    assert all(b < e for b, e in zip(begins, ends, strict=True))
    assert all(e < b for e, b in zip(ends, begins[1:], strict=False))
