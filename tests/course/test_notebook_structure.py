"""Every notebook opens with its objectives, prerequisites and time (and, from 01 on, the
reference docs its calls come from), and closes with three self-check questions, their
answers in a collapsed cell, and the key points, after its last exercise and before the
checkpoint, which stays the last code cell."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

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
    assert [p.stem[:2] for p in NOTEBOOKS] == [f"{n:02d}" for n in range(11)]


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
