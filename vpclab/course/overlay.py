"""The reference checkpoints laid over a student's notebook, and the comparison of their
outputs under the notebooks' sanitize file, the way nbval compares them.

nbval compares a notebook with its own stored outputs, so a student's re-run notebook would
pass against itself. Grading therefore keeps the student's cells but takes each checkpoint
cell (source and expected outputs) from the reference notebook."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

CHECKPOINT_TAG = "checkpoint"
# The notebooks' sanitize patterns: nbval's run of the reference notebooks and `vpclab grade`
# mask the same volatile values (ids, addresses, times), so the file ships with the package.
SANITIZE = Path(__file__).with_name("nbval_sanitize.cfg")
_STEP = re.compile(r"""lab\.checkpoint\(\s*["']([a-z_]+)["']\s*\)""")


@dataclass(frozen=True)
class ReferenceStep:
    """A reference step notebook: its step, its checkpoint cell (with stored outputs)."""

    step: str
    path: Path
    checkpoint: nbformat.NotebookNode


def _is_checkpoint(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and CHECKPOINT_TAG in cell.metadata.get("tags", [])


def reference_steps(folder: Path) -> list[ReferenceStep]:
    """The step notebooks among `folder`'s NN_*.ipynb (those with a checkpoint), in order."""
    found = []
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        cell = next((c for c in nb.cells if _is_checkpoint(c)), None)
        match = _STEP.search(cell.source) if cell else None
        if cell is not None and match:
            found.append(ReferenceStep(match.group(1), path, cell))
    return found


def overlay(student: nbformat.NotebookNode, ref: ReferenceStep) -> int | None:
    """Replace the student's checkpoint cell (found by tag, else by the reference cell's id)
    with the reference one, outputs included. Returns its index, or None when it is gone."""
    for index, cell in enumerate(student.cells):
        if _is_checkpoint(cell) or cell.get("id") == ref.checkpoint.get("id"):
            student.cells[index] = nbformat.from_dict(ref.checkpoint)
            return index
    return None


def load_patterns(sanitize: Path) -> list[tuple[str, str]]:
    """The sanitize file's (regex, replacement) pairs, parsed by nbval itself."""
    from nbval.plugin import get_sanitize_patterns

    return get_sanitize_patterns(sanitize.read_text())


# The reference outputs are stored with the data plane off, where live checks SKIP; a lab
# graded with its hosts PASSes them. Either is fine here (a FAIL raises, and the checklist
# read after the step scores it): the ids, titles and order are what is compared.
_DONE = re.compile(r"^(?:PASS|SKIP) ([\w.]+): ([^|\n]*?)(?: \|[^\n]*)?$", re.M)
_TOTALS = re.compile(r"^(\d+) passed, (\d+) failed, (\d+) skipped$", re.M)


def _mask(text: str, patterns: list[tuple[str, str]]) -> str:
    for regex, replace in patterns:
        text = re.sub(regex, replace, text)
    text = _DONE.sub(r"PASS/SKIP \1: \2", text)
    return _TOTALS.sub(lambda m: f"{int(m[1]) + int(m[3])} passed or skipped, {m[2]} failed", text)


def comparable(outputs: list, patterns: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """What nbval compares: each output's kind and text, masked; streams merged."""
    shown: list[tuple[str, str]] = []
    for out in outputs:
        if out.output_type == "stream":
            kind, text = f"stream:{out.name}", out.text
        elif out.output_type == "error":
            kind, text = "error", f"{out.ename}: {out.evalue}"
        else:
            kind, text = out.output_type, out.get("data", {}).get("text/plain", "")
        if shown and kind.startswith("stream") and shown[-1][0] == kind:
            shown[-1] = (kind, shown[-1][1] + text)
        else:
            shown.append((kind, text))
    return [(kind, _mask(text, patterns)) for kind, text in shown]


def differences(expected: list, got: list, patterns: list[tuple[str, str]]) -> list[str]:
    """Readable differences between the reference outputs and the student's, after masking:
    empty when they match. The student's stderr is left out: the references hold none, and a
    library's log line there (paramiko's "Error reading SSH protocol banner" on a loaded
    machine, before its retry connects) says nothing about the student's lab."""
    got = [o for o in got if not (o.output_type == "stream" and o.name == "stderr")]
    want, have = comparable(expected, patterns), comparable(got, patterns)
    if want == have:
        return []
    want_lines = "\n".join(text for _, text in want).splitlines()
    have_lines = "\n".join(text for _, text in have).splitlines()
    for index in range(max(len(want_lines), len(have_lines))):
        a = want_lines[index] if index < len(want_lines) else "(nothing)"
        b = have_lines[index] if index < len(have_lines) else "(nothing)"
        if a != b:
            return [f"checkpoint output differs from the reference: expected {a!r}, got {b!r}"]
    kinds = ", ".join(kind for kind, _ in have) or "no output"
    return [f"checkpoint output differs from the reference in kind: got {kinds}"]
