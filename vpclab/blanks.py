"""Blanks in the project's real files: the artifacts students write themselves.

A file blank is a region between two comment lines, in the file's own comment syntax:

    # ### BEGIN SOLUTION location /
    location / { ... }
    # ### END SOLUTION

The words after the marker name the region. The reference holds the solution there; `vpclab
assign` replaces each region with one stub line, `# YOUR CODE HERE: location / (06_nginx)`,
which the student replaces with their own lines. The kit reads these files from the project
the lab deploys (the folder of its `lab.toml`: the kit's checkout, the student's handout, or
the grader's copy of a submission), so a student's file is what runs. A stub still in a file
is a one-line error naming the file and the region, before any tool sees it.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vpclab.errors import VpclabError

KIT_ROOT = Path(__file__).resolve().parents[1]
BEGIN, END, STUB = "### BEGIN SOLUTION", "### END SOLUTION", "YOUR CODE HERE:"


@dataclass(frozen=True)
class FileBlank:
    """A project file with blanks: its path in the project, its comment mark, the notebook
    whose prose says what goes in it."""

    path: str
    comment: str
    notebook: str


FILES = (
    FileBlank("vpclab/render/templates/authorized-key-app.j2", "#", "05_keys"),
    FileBlank("vpclab/render/templates/sshd-no-password.conf", "#", "05_keys"),
    FileBlank("vpclab/render/templates/nginx-site.conf.j2", "#", "06_nginx"),
    FileBlank("scripts/start_app.sh", "#", "07_scripts"),
    FileBlank("Jenkinsfile", "//", "08_pipeline"),
    FileBlank("vpclab/render/templates/prometheus-scrape-configs.yml.j2", "#", "09_monitoring"),
    FileBlank("vpclab/render/templates/alert-instance-down.yml.j2", "#", "09_monitoring"),
)
BY_PATH = {f.path: f for f in FILES}


@dataclass(frozen=True)
class Region:
    """One solution region of a file: its name and its lines (1-based, markers excluded)."""

    name: str
    first: int
    lines: list[str]


def _marker(line: str, comment: str, word: str) -> str | None:
    """The region name after a marker line, or None when `line` is not that marker."""
    stripped = line.strip()
    head = f"{comment} {word}"
    if not stripped.startswith(head):
        return None
    return stripped[len(head) :].strip()


def regions(text: str, comment: str, where: str = "the file") -> list[Region]:
    """The solution regions of a file's text, in order; unpaired markers are an error."""
    found: list[Region] = []
    current: Region | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        begin, end = _marker(line, comment, BEGIN), _marker(line, comment, END)
        if begin is not None:
            if current is not None:
                raise VpclabError(
                    f"{where}, line {number}: a second '{BEGIN}' before '{END}'",
                    "close each region before opening the next",
                )
            current = Region(begin or f"region {len(found) + 1}", number + 1, [])
        elif end is not None:
            if current is None:
                raise VpclabError(
                    f"{where}, line {number}: '{END}' without '{BEGIN}'", "pair the markers"
                )
            found.append(current)
            current = None
        elif current is not None:
            current.lines.append(line)
    if current is not None:
        raise VpclabError(f"{where}: region '{current.name}' is never closed", f"add '{END}'")
    return found


def clear(text: str, blank: FileBlank) -> str:
    """The student edition of a file: each region becomes one stub line, indented as its
    first marker, naming the region and the notebook that explains it."""
    regions(text, blank.comment, blank.path)  # unpaired markers stop here
    out: list[str] = []
    inside = False
    for line in text.splitlines(keepends=True):
        name = _marker(line, blank.comment, BEGIN)
        if name is not None:
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}{blank.comment} {STUB} {name} ({blank.notebook})\n")
            inside = True
        elif _marker(line, blank.comment, END) is not None:
            inside = False
        elif not inside:
            out.append(line)
    return "".join(out)


_STUB_LINE = re.compile(rf"^\s*(?://|#)\s*{re.escape(STUB)}\s*(.*?)\s*$", re.M)


def unfilled(text: str) -> list[str]:
    """The names of the stubs still in a file's text (each with its notebook)."""
    return [m[1] for m in _STUB_LINE.finditer(text)]


def check_filled(text: str, where: str) -> str:
    """`text` when no stub is left in it, else a one-line error naming the file and region."""
    left = unfilled(text)
    if left:
        raise VpclabError(
            f"{where}: the blank '{left[0]}' is not filled yet",
            "write it there (the notebook says what goes in it) and delete its "
            f"'{STUB}' line, then run this again",
        )
    return text


_REFERENCE: contextvars.ContextVar[bool] = contextvars.ContextVar("reference", default=False)


@contextlib.contextmanager
def reference_files() -> Iterator[None]:
    """Within: read the kit's own copies, whatever the project holds (the grader's repair of
    earlier steps brings them to the reference state, never charged to the student)."""
    token = _REFERENCE.set(True)
    try:
        yield
    finally:
        _REFERENCE.reset(token)


def source(project: Path | None, path: str) -> Path:
    """Where the kit reads `path` (a path in the project) from: the project's copy when it
    has one, else the kit's own."""
    if project is not None and not _REFERENCE.get():
        mine = project / path
        if mine.is_file():
            return mine
    return KIT_ROOT / path


def read(project: Path | None, path: str) -> str:
    """A project file's text, from the project the lab deploys (see `source`), with no stub
    left in it."""
    where = source(project, path)
    if not where.is_file():
        raise VpclabError(f"{path} is missing", "run vpclab from a checkout of the project")
    shown = path if project is not None and where == project / path else str(where)
    return check_filled(where.read_text(), shown)


def write_edition(root: Path, out_dir: Path) -> list[Path]:
    """The student edition of every file blank of `root` (a kit checkout), under `out_dir`
    at the same paths. Returns the files written."""
    written = []
    for blank in FILES:
        text = (root / blank.path).read_text()
        edition = clear(text, blank)
        if BEGIN in edition or END in edition:
            raise VpclabError(
                f"{blank.path}: a solution marker is left after clearing",
                f"start each marker line with '{blank.comment} ', in pairs",
            )
        target = out_dir / blank.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(edition)
        if (root / blank.path).stat().st_mode & 0o111:
            target.chmod(0o755)
        written.append(target)
    return written
