"""11_report, the student's write-up: five headings, each with guiding questions, evidence
cells (tagged `evidence`) read from the live lab, and a "Your answer" cell for the prose.

The reference outputs come from an empty lab (it runs after 10_teardown there), so each
evidence cell stored says in one line that its evidence is not available. Against a lab
with only a control plane the control-plane evidence fills; against the shared whole lab
(`full_lab`) every evidence cell fills, images included, with no "not available" line."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat

from tests.reallab import all_green
from vpclab.course import kernel

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "notebooks" / "11_report.ipynb"
HEADINGS = ["Decisions", "Network layout", "Security boundaries", "Deployment flow", "Trade-offs"]
UNAVAILABLE = re.compile(r"^[\w ]+ not available: \S.*$")
CELL_TIMEOUT = 300  # seconds: the checklist's live checks and the dashboard's queries


def _evidence(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if "evidence" in c.metadata.get("tags", [])]


def _text(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for o in cell.outputs)  # what it printed


def _images(cell: nbformat.NotebookNode) -> list[str]:
    return [k for o in cell.outputs for k in o.get("data", {}) if k.startswith("image/")]


def _run(spec: Path) -> nbformat.NotebookNode:
    """The report run from a folder beside `spec` (it opens ../lab.toml), as a student runs
    it; a cell that raises fails here."""
    folder = spec.parent / "report"
    folder.mkdir(exist_ok=True)
    shutil.copy(REPORT, folder)
    nb = nbformat.read(folder / REPORT.name, as_version=4)
    kernel.execute(nb, folder, CELL_TIMEOUT)
    return nb


def test_five_headings_each_with_questions_evidence_and_an_answer_cell():
    cells = nbformat.read(REPORT, as_version=4).cells
    starts = [i for i, c in enumerate(cells) if re.match(r"## \d\. ", c.source)]
    assert [cells[i].source.splitlines()[0] for i in starts] == [
        f"## {n}. {h}" for n, h in enumerate(HEADINGS, 1)
    ]
    ends = [*starts[1:], next(i for i, c in enumerate(cells) if c.source.startswith("## Hand"))]
    for heading, start, end in zip(HEADINGS, starts, ends, strict=True):
        part = cells[start:end]
        assert len(re.findall(r"^- ", part[0].source, re.M)) >= 3, f"{heading}: questions"
        assert _evidence(nbformat.v4.new_notebook(cells=part)), f"{heading}: no evidence cell"
        answers = [c for c in part if c.source.startswith("**Your answer: ")]
        assert len(answers) == 1 and answers[0].cell_type == "markdown", heading
        assert answers[0].source.startswith(f"**Your answer: {heading.lower()}.**")


def test_it_says_to_come_before_the_teardown_and_the_teardown_sends_students_to_it():
    first = nbformat.read(REPORT, as_version=4).cells[0].source
    assert "**Do this notebook before `10_teardown`.**" in first
    teardown = nbformat.read(ROOT / "notebooks" / "10_teardown.ipynb", as_version=4)
    assert "`11_report`" in teardown.cells[0].source


def test_reference_evidence_cells_say_in_one_line_why_they_are_empty():
    """The reference run's lab is torn down and has no hosts: no traceback, one line each."""
    cells = _evidence(nbformat.read(REPORT, as_version=4))
    assert len(cells) == 7
    for cell in cells:
        assert UNAVAILABLE.fullmatch(_text(cell).strip()), (cell.source[:60], _text(cell))


def test_control_plane_evidence_fills_without_hosts(tmp_path, monkeypatch):
    """A lab built with the data plane off (as a student without root has): the status, the
    checklist, the diagram, the groups and the cost fill; the build and dashboard say why."""
    from vpclab.lab import Lab
    from vpclab.localcloud import motoserver

    spec = tmp_path / "lab.toml"
    shutil.copy(ROOT / "lab.toml", spec)
    with motoserver.ephemeral() as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
        monkeypatch.setenv("VPCLAB_STATE", str(tmp_path / "state"))
        monkeypatch.setenv("VPCLAB_DATAPLANE", "off")
        monkeypatch.delenv("VPCLAB_TARGET", raising=False)
        Lab(spec, "local", say=lambda _line: None).up()
        cells = _evidence(_run(spec))
    empty = [c for c in cells if UNAVAILABLE.match(_text(c).strip())]
    assert [_text(c).split(" not available: ")[0] for c in empty] == [
        "last pipeline build",
        "dashboard",
    ]
    full = [c for c in cells if c not in empty]
    assert all(_text(c).strip() for c in full)
    assert any(_images(c) for c in full), "the live diagram is drawn"
    text = "\n".join(_text(c) for c in full)
    assert re.search(r"^\S+-app +in +tcp 22 +\S+-web$", text, re.M), "the app admits web only"
    assert re.search(r"\d+ passed, 0 failed, \d+ skipped", text), text[-2000:]


def test_every_evidence_cell_fills_against_the_whole_lab(full_lab, monkeypatch):
    """The shared whole lab (vpclab up, hosts, one pipeline build): no evidence is missing."""
    monkeypatch.setenv("VPCLAB_STATE", full_lab.env["VPCLAB_STATE"])  # the kernel inherits it
    for key in ("VPCLAB_DATAPLANE", "VPCLAB_TARGET", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    nb = _run(full_lab.spec)
    cells = _evidence(nb)
    assert len(cells) == 7
    for cell in cells:
        text = _text(cell)
        assert "not available" not in text, (cell.source[:60], text)
        assert text.strip() or _images(cell), f"no evidence from {cell.source[:60]!r}"
    drawn = [c for c in cells if _images(c)]
    assert len(drawn) == 2, "the live diagram and the dashboard"
    (checklist,) = [_text(c) for c in cells if "report.to_text(" in c.source]
    assert all_green(checklist), checklist[-2000:]
    setup = next(c for c in nb.cells if c.cell_type == "code")
    assert "hosts skipped" not in _text(setup), _text(setup)
