"""Regenerate the notebooks' `.ipynb` files from their jupytext sources, with reference outputs.

    .venv/bin/python notebooks/refresh.py            # rewrite the .ipynb files
    .venv/bin/python notebooks/refresh.py --check    # exit 1 if they are not current

1. Sync each `NN_name.py` into `NN_name.ipynb` (`jupytext --to ipynb --update`: cell ids and
   metadata of unchanged cells are kept, so diffs stay small).
2. Execute the notebooks in filename order, one kernel each, against a fresh seeded moto
   server and a throwaway state folder: the same environment the nbval run gets from
   `conftest.py`. Any error (a failing checkpoint included) stops the refresh.
3. Store the outputs, with execution counts, each stream's chunks merged, no timing metadata.

`--check` does the same into a scratch copy and compares it with the stored files the way
nbval does (inputs, tags and counts exactly; outputs after the sanitize file).

Run it after editing a notebook's `.py`, or when the library's output changes; then
`pytest --nbval notebooks/` (and tests/notebooks) must pass. Commit the `.py` and `.ipynb`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbval.kernel import CURRENT_ENV_KERNEL_NAME, NbvalKernelspecManager
from nbval.plugin import get_sanitize_patterns

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cloud import HERE, SANITIZE, NotebookCloud, notebook_sources  # noqa: E402

CELL_TIMEOUT = 120  # seconds; each notebook takes a few


def sync(source: Path, into: Path) -> Path:
    """`jupytext --to ipynb --update`: the .py's cells into `into`'s copy of the .ipynb,
    keeping its outputs and cell ids."""
    stored = source.with_suffix(".ipynb")
    if into != source.parent:
        shutil.copy(source, into / source.name)
        if stored.exists():
            shutil.copy(stored, into / stored.name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "jupytext",
            "--quiet",
            "--to",
            "ipynb",
            "--update",
            str(into / source.name),
        ],
        check=True,
    )
    return into / stored.name


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
    """Run every cell in a fresh kernel (this interpreter) from this folder; store the result."""
    nb = nbformat.read(notebook, as_version=4)
    km = KernelManager(
        kernel_name=CURRENT_ENV_KERNEL_NAME, kernel_spec_manager=NbvalKernelspecManager()
    )
    client = NotebookClient(
        nb,
        km=km,
        timeout=CELL_TIMEOUT,
        record_timing=False,
        allow_errors=False,
        resources={"metadata": {"path": str(HERE)}},
    )
    started = time.monotonic()
    client.execute(stderr=subprocess.DEVNULL)  # as nbval starts its kernels
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
        into = Path(scratch) if check else HERE
        notebooks = [sync(source, into) for source in sources]
        cloud = NotebookCloud().start()
        try:
            forbidden = [str(HERE.parent), str(cloud.tmp), str(Path.home()) + "/"]
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
            != sanitized(nbformat.read(HERE / n.name, as_version=4))
        ]
    if check and stale:
        print(f"out of date: {', '.join(stale)}; run notebooks/refresh.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
