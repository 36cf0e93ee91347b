"""Regenerate the notebooks' `.ipynb` files from their jupytext sources, with reference outputs.

    .venv/bin/python course/refresh.py            # rewrite notebooks/NN_name.ipynb
    .venv/bin/python course/refresh.py --check    # exit 1 if they are not current

1. Sync each source `course/src/NN_name.py` into its pair `notebooks/NN_name.ipynb`
   (`jupytext --to ipynb --update`: cell ids and metadata of unchanged cells are kept, so
   diffs stay small; the sources' `formats:` header names the pair).
2. Execute the notebooks in filename order, one kernel each (`vpclab.course.kernel`), from the
   notebooks' folder, against a fresh seeded moto server and a throwaway state folder: the
   same environment the nbval run gets from `vpclab.course.nbval_plugin`. Any error (a
   failing checkpoint included) stops the refresh.
3. Store the outputs, with execution counts, each stream's chunks merged, no timing metadata.

`--check` does the same into a scratch copy and compares it with the stored files the way
nbval does (inputs, tags and counts exactly; outputs after the sanitize file).

Run it after editing a source, or when the library's output changes; then
`pytest --nbval notebooks/` (and tests/notebooks) must pass. Commit the `.py` and `.ipynb`.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from jupytext.cli import jupytext as jupytext_cli
from nbval.plugin import get_sanitize_patterns

from vpclab.course import kernel
from vpclab.course.overlay import SANITIZE
from vpclab.localcloud.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "course" / "src"  # the jupytext sources, NN_name.py
NOTEBOOKS = ROOT / "notebooks"  # their pairs, NN_name.ipynb: all a student sees
CELL_TIMEOUT = 120  # seconds; each notebook takes a few


def notebook_sources() -> list[Path]:
    """The notebooks' jupytext sources, in the order they run (zero-padded names)."""
    return sorted(SOURCES.glob("[0-9][0-9]_*.py"))


def sync(source: Path, into: Path) -> Path:
    """`jupytext --to ipynb --update`: the source's cells into `into`'s copy of its .ipynb,
    keeping that copy's outputs and cell ids. `into` is a folder named `notebooks`, so the
    copy is still in the pair and keeps the `formats:` metadata."""
    stored = NOTEBOOKS / f"{source.stem}.ipynb"
    target = into / stored.name
    if into != NOTEBOOKS and stored.exists():
        shutil.copy(stored, target)
    # In this process: a `python -m jupytext` per notebook costs a second and a half each.
    done = jupytext_cli(
        ["--quiet", "--to", "ipynb", "--update", "--output", str(target), str(source)]
    )
    if done != 0:
        raise RuntimeError(f"jupytext could not update {target.name} from {source.name}")
    return target


def coalesce_streams(nb: nbformat.NotebookNode) -> None:
    """Merge consecutive chunks of one stream: how the kernel splits them depends on timing,
    and nbval merges them anyway, so storing them merged keeps refreshes free of noise."""
    for cell in nb.cells:
        merged: list = []
        for out in cell.get("outputs", []):
            prev = merged[-1] if merged else None
            if (
                out.output_type == "stream"
                and prev is not None
                and prev.output_type == "stream"
                and prev.name == out.name
            ):
                prev.text += out.text
            else:
                merged.append(out)
        if "outputs" in cell:
            cell.outputs = merged


def execute(notebook: Path) -> float:
    """Run every cell in a fresh kernel (this interpreter) from the notebooks' folder (they
    open `../lab.toml`); store the result."""
    nb = nbformat.read(notebook, as_version=4)
    started = time.monotonic()
    kernel.execute(nb, NOTEBOOKS, CELL_TIMEOUT)
    elapsed = time.monotonic() - started
    coalesce_streams(nb)
    nbformat.validate(nb)
    nbformat.write(nb, notebook)
    return elapsed


def leaks(notebook: Path, forbidden: list[str]) -> list[str]:
    """Machine paths or key material in the stored outputs: they must never be committed."""
    text = notebook.read_text()
    found = [f for f in forbidden if f and f in text]
    if re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", text):
        found.append("a private key")
    return found


def sanitized(nb: nbformat.NotebookNode) -> list[tuple]:
    """What nbval compares, after the sanitize file: inputs, tags, counts, masked outputs."""
    patterns = get_sanitize_patterns(SANITIZE.read_text())

    def mask(value: object) -> object:
        if isinstance(value, str):
            for regex, replace in patterns:
                value = re.sub(regex, replace, value)
        return value

    return [
        (
            c.get("id"),
            c.cell_type,
            c.source,
            c.metadata.get("tags", []),
            c.get("execution_count"),
            [
                (
                    o.output_type,
                    mask(o.get("text")),
                    {k: mask(v) for k, v in sorted(o.get("data", {}).items())},
                )
                for o in c.get("outputs", [])
            ],
        )
        for c in nb.cells
    ]


def main(argv: list[str]) -> int:
    check = "--check" in argv
    sources = notebook_sources()
    with tempfile.TemporaryDirectory(prefix="vpclab-refresh-") as scratch:
        into = Path(scratch) / "notebooks" if check else NOTEBOOKS
        into.mkdir(exist_ok=True)
        notebooks = [sync(source, into) for source in sources]
        cloud = Sandbox().start()
        try:
            forbidden = [str(ROOT), str(cloud.tmp), str(Path.home()) + "/"]
            for notebook in notebooks:
                elapsed = execute(notebook)
                print(f"{'checked' if check else 'refreshed'} {notebook.name} in {elapsed:.1f} s")
                found = leaks(notebook, forbidden)
                if found:
                    print(f"{notebook.name}: outputs contain {found}", file=sys.stderr)
                    return 1
        finally:
            cloud.stop()
        stale = [
            n.name
            for n in notebooks
            if sanitized(nbformat.read(n, as_version=4))
            != sanitized(nbformat.read(NOTEBOOKS / n.name, as_version=4))
        ]
    if check and stale:
        print(f"out of date: {', '.join(stale)}; run course/refresh.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
