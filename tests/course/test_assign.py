"""`vpclab assign`: the student edition holds no solution code, keeps the checkpoints, and
runs up to its first NotImplementedError."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from vpclab.course.assign import BEGIN, END
from vpclab.course.runner import run_notebook
from vpclab.localcloud.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"


def solution_lines(nb: nbformat.NotebookNode) -> set[str]:
    """The distinctive lines inside the reference's solution regions. A bare call opening
    (`ec2.create_route(`) only names an API, which the prose names too and the break-it
    cells must call: its arguments, on the lines after it, are what the student writes."""
    found, inside = set(), False
    for cell in nb.cells:
        for line in cell.source.splitlines():
            if line.strip() == BEGIN:
                inside = True
            elif line.strip() == END:
                inside = False
            elif inside and len(line.strip()) > 12 and not re.fullmatch(r"[\w.]+\(", line.strip()):
                found.add(line.strip())
    return found


@pytest.fixture(scope="module")
def edition(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("edition")
    proc = subprocess.run(
        [sys.executable, "-m", "vpclab.cli", "assign", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_edition_has_no_solution_code(edition):
    steps = ["01_vpc", "02_nat", "03_jenkins", "04_instances"]
    for name in steps:
        reference = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        student = nbformat.read(edition / "notebooks" / f"{name}.ipynb", as_version=4)
        secret = solution_lines(reference)
        assert secret, f"{name} has no solution region"
        text = "\n".join(c.source for c in student.cells)
        leaked = [line for line in secret if line in text]
        assert not leaked, f"{name} leaks {leaked[:3]}"
        assert BEGIN not in text and END not in text
        assert text.count("raise NotImplementedError()") >= 1
        # Outputs cleared; the checkpoint and the explanations stay.
        assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")
        tagged = [c for c in student.cells if "checkpoint" in c.metadata.get("tags", [])]
        assert len(tagged) == 1 and "lab.checkpoint(" in tagged[0].source
        assert sum(c.cell_type == "markdown" for c in student.cells) == sum(
            c.cell_type == "markdown" for c in reference.cells
        )
        # Unpaired: the edition ships without the jupytext sources.
        assert "formats" in reference.metadata["jupytext"] and "jupytext" not in student.metadata
    assert (edition / "lab.toml").read_text() == (ROOT / "lab.toml").read_text()


def test_edition_runs_every_cell_and_records_its_first_not_implemented_error(edition):
    nb = nbformat.read(edition / "notebooks" / "01_vpc.ipynb", as_version=4)
    first_stub = next(
        i for i, c in enumerate(nb.cells) if "raise NotImplementedError()" in c.source
    )
    with Sandbox():
        problems = run_notebook(nb, edition / "notebooks", timeout=60)
    assert problems and problems[0].startswith(f"cell {first_stub + 1}: NotImplementedError")
    ran = [c for c in nb.cells[:first_stub] if c.cell_type == "code"]
    assert ran and all(c.execution_count for c in ran)
    assert not any(o.output_type == "error" for c in ran for o in c.outputs)
    # As nbgrader does, the cells after it ran too (the checkpoint last).
    assert all(c.execution_count for c in nb.cells if c.cell_type == "code")


def test_the_handouts_jupyter_command_opens_its_notebooks_not_the_reference(edition):
    # The handout has no Makefile: its README sends students to the kit's `make jupyter`,
    # which must then serve the handout's notebooks (the kit's own hold the solutions).
    readme = (edition / "README.md").read_text()
    command = re.search(r"`(make jupyter NOTEBOOKS=[^`]+)`", readme)
    assert command, readme
    folder = edition / "notebooks"
    args = command.group(1).replace("<this folder>", str(edition)).split()
    dry = subprocess.run([*args, "-n"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert f"--notebook-dir {folder}" in " ".join(dry.split()), dry
    assert "--notebook-dir notebooks" not in dry


def test_handout_holds_what_the_notebooks_read_and_no_solution_anywhere(edition):
    from vpclab import blanks

    jenkinsfile = blanks.clear((ROOT / "Jenkinsfile").read_text(), blanks.BY_PATH["Jenkinsfile"])
    assert (edition / "Jenkinsfile").read_text() == jenkinsfile
    assert "notebooks/" in (edition / "README.md").read_text()
    secrets = {}
    for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"):
        reference = nbformat.read(p, as_version=4)
        given = set()  # lines the notebook also shows outside its solution regions
        for cell in reference.cells:
            for part in cell.source.split(BEGIN):
                given.update(line.strip() for line in part.split(END)[-1].splitlines())
        secrets[p.name] = solution_lines(reference) - given
    everything = {line for lines in secrets.values() for line in lines if len(line) > 25}
    for path in edition.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert BEGIN not in text and END not in text, path
            if path.suffix == ".ipynb":  # the cells, not the JSON around them
                cells = nbformat.read(path, as_version=4).cells
                text = "\n".join(c.source for c in cells)
            own = secrets.get(path.name, everything)
            assert not own & {line.strip() for line in text.splitlines()}, path


def test_assign_without_the_course_extras_says_what_to_install(monkeypatch, tmp_path, capsys):
    import importlib.util

    from vpclab import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "nbgrader" else real(name)
    )
    monkeypatch.setattr(sys, "argv", ["vpclab", "assign", str(tmp_path / "out")])
    with pytest.raises(SystemExit) as stopped:
        cli.main()
    said = capsys.readouterr().err
    assert stopped.value.code == 2 and "nbgrader" in said and "pip install" in said, said
    assert not (tmp_path / "out").exists()


def test_edition_clears_the_blanks_of_the_projects_files(edition):
    from vpclab import blanks

    for blank in blanks.FILES:
        reference = (ROOT / blank.path).read_text()
        student = (edition / blank.path).read_text()
        given = {line.strip() for line in blanks.clear(reference, blank).splitlines()}
        secret = {
            line.strip()
            for region in blanks.regions(reference, blank.comment)
            for line in region.lines
            if len(line.strip()) > 12
        } - given  # a line the file also has outside its blanks is no secret
        leaked = [line for line in secret if line in student]
        assert not leaked, f"{blank.path} leaks {leaked[:3]}"
        assert blanks.unfilled(student), f"{blank.path} has no stub"
        assert f"({blank.notebook})" in student
