"""Every notebook opens with its objectives, prerequisites and time (and, from 01 on, the
reference docs its calls come from), and closes with three self-check questions, their
answers in a collapsed cell, and the key points, after its last exercise and before the
checkpoint, which stays the last code cell. Each solution region is short, and no code
outside one reads a name that only a solution region binds."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

from vpclab import blanks

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
DOCS_HOSTS = (
    "boto3.amazonaws.com",
    "docs.paramiko.org",
    "nginx.org",
    "supervisord.org",
    "www.jenkins.io",
    "prometheus.io",
    "man.openbsd.org",
)


def _cells(path: Path) -> list:
    return nbformat.read(path, as_version=4).cells


def _section(text: str, heading: str) -> str:
    """The lines under `### heading`, up to the next heading."""
    match = re.search(rf"^### {heading}\n(.*?)(?=^#|\Z)", text, re.M | re.S)
    assert match, f"no '### {heading}'"
    return match.group(1).strip()


def _items(text: str, marker: str) -> list[str]:
    return re.findall(rf"^{marker} (.+)$", text, re.M)


def _closing(cells: list) -> int:
    found = [i for i, c in enumerate(cells) if c.source.startswith("## Check yourself")]
    assert len(found) == 1, "one '## Check yourself' cell"
    return found[0]


def test_every_notebook_is_checked():
    assert [p.stem[:2] for p in NOTEBOOKS] == [f"{n:02d}" for n in range(12)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_opens_with_objectives_prerequisites_and_time(path):
    first = _cells(path)[0]
    assert first.cell_type == "markdown"
    assert first.source.startswith(f"# {path.stem[:2]} · "), "the title opens the notebook"
    assert 2 <= len(_items(_section(first.source, "Objectives"), "-")) <= 4
    assert re.search(r"`\d\d_\w+`|None", _section(first.source, "Prerequisites"))
    assert re.fullmatch(r"About \d+ minutes\.", _section(first.source, "Time"))


@pytest.mark.parametrize("path", NOTEBOOKS[1:], ids=lambda p: p.stem)
def test_step_notebooks_link_their_reference_docs(path):
    links = re.findall(
        r"\]\((https://[^)]+|http://supervisord\.org/[^)]*)\)", _cells(path)[0].source
    )
    assert links, "no reference docs linked"
    for url in links:
        assert url.split("/")[2] in DOCS_HOSTS, f"{url} is not a reference page"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_closes_with_questions_answers_and_key_points(path):
    cells = _cells(path)
    at = _closing(cells)
    questions, answers, points = cells[at : at + 3]
    assert len(_items(questions.source, r"\d\.")) == 3
    assert answers.cell_type == "markdown"
    assert answers.source.startswith("<details><summary>Answers</summary>")
    assert answers.source.rstrip().endswith("</details>")
    assert len(_items(answers.source, r"\d\.")) == 3, "one answer a question"
    assert points.source.startswith("## Key points")
    assert 3 <= len(_items(points.source, "-")) <= 5


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_closing_follows_the_exercises_and_precedes_the_checkpoint(path):
    cells = _cells(path)
    at = _closing(cells)
    code = [i for i, c in enumerate(cells) if c.cell_type == "code"]
    checkpoints = [i for i in code if "checkpoint" in cells[i].metadata.get("tags", [])]
    assert all(i < at for i in code if i not in checkpoints), "a code cell after the closing"
    assert all(i > at for i in checkpoints), "the checkpoint comes after the closing"
    if checkpoints:
        assert checkpoints == [code[-1]], "the checkpoint is the last code cell"


# Blanks stay small, and what follows a blank re-finds what it needs (by the lab's tags)
# rather than reading the student's names: a student may name things differently.
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
MAX_REGION_LINES = 20  # lines of code, blank lines aside


def _regions(source: str) -> list[range]:
    """The 1-based line numbers inside each solution region of a cell (markers excluded)."""
    regions, start = [], None
    for number, line in enumerate(source.splitlines(), 1):
        if line.strip() == BEGIN:
            start = number
        elif line.strip() == END:
            regions.append(range(start + 1, number))
    return regions


def _bindings(tree: ast.AST, module_level: bool) -> list[tuple[str, int]]:
    """(name, line) of each name bound in `tree`; only the module's own names when
    `module_level` (a function's locals and parameters are not the student's globals)."""
    found: list[tuple[str, int]] = []
    local = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
    comprehension = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            found.append((node.id, node.lineno))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.append((node.name, node.lineno))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            found.extend([((a.asname or a.name).split(".")[0], node.lineno) for a in node.names])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            found.append((node.name, node.lineno))
        elif isinstance(node, ast.arg) and not module_level:
            found.append((node.arg, node.lineno))
        if module_level and isinstance(node, local + comprehension):
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _student_name_reads(path: Path) -> list[str]:
    """Each place outside a solution region that reads a name bound only inside one."""
    student: set[str] = set()  # bound in a region so far
    public: set[str] = set()  # bound outside the regions so far
    reads = []
    code = [c for c in _cells(path) if c.cell_type == "code"]
    for index, cell in enumerate(code):
        tree = ast.parse(cell.source)
        inside = {n for region in _regions(cell.source) for n in region}
        here = [(n, line) for n, line in _bindings(tree, False) if line not in inside]
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)):
                continue
            if node.lineno in inside or node.id in public:
                continue
            bound_before = any(n == node.id and line <= node.lineno for n, line in here)
            regions_before = {
                n for n, line in _bindings(tree, True) if line in inside and line < node.lineno
            }
            if not bound_before and node.id in student | regions_before:
                reads.append(f"code cell {index} line {node.lineno} reads {node.id!r}")
        student |= {n for n, line in _bindings(tree, True) if line in inside}
        public |= {n for n, _ in here}
    return reads


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_solution_regions_are_short(path):
    long = []
    for i, cell in enumerate(c for c in _cells(path) if c.cell_type == "code"):
        lines = cell.source.splitlines()
        for region in _regions(cell.source):
            size = sum(1 for n in region if lines[n - 1].strip())
            if size > MAX_REGION_LINES:
                long.append(f"code cell {i}: a solution region of {size} lines")
    assert not long, f"{path.stem}: over {MAX_REGION_LINES} lines: {long}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_cell_outside_a_blank_reads_the_students_names(path):
    reads = _student_name_reads(path)
    assert not reads, f"{path.stem}: re-find these by the lab's tags: {reads}"


@pytest.mark.parametrize("blank", blanks.FILES, ids=lambda b: b.path)
def test_file_blanks_are_short_and_named_in_their_notebook(blank):
    """A blank in a project file (vpclab.blanks) is as small as a cell's, and the notebook
    its stub names tells the student the file to open."""
    text = (ROOT / blank.path).read_text()
    long = [
        f"'{r.name}' has {size} lines"
        for r in blanks.regions(text, blank.comment, blank.path)
        if (size := sum(1 for line in r.lines if line.strip())) > MAX_REGION_LINES
    ]
    assert not long, f"{blank.path}: over {MAX_REGION_LINES} lines: {long}"
    prose = "\n".join(
        c.source
        for c in _cells(ROOT / "notebooks" / f"{blank.notebook}.ipynb")
        if c.cell_type == "markdown"
    )
    assert blank.path in prose, f"{blank.notebook} never names {blank.path}"
