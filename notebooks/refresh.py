"""Regenerate the notebooks' `.ipynb` files from their jupytext sources, with reference outputs.

    .venv/bin/python notebooks/refresh.py

1. Sync each `NN_name.py` into `NN_name.ipynb` (`jupytext --to ipynb --update`: cell ids and
   metadata of unchanged cells are kept, so diffs stay small).
2. Execute the notebooks in filename order, one kernel each, against a fresh seeded moto
   server and a throwaway state folder: the same environment the nbval run gets from
   `conftest.py`. Any error (a failing checkpoint included) stops the refresh.
3. Store the outputs, with execution counts and without timing metadata.

Run it after editing a notebook's `.py`, or when the library's output changes; then
`pytest --nbval notebooks/` (and tests/notebooks) must pass. Commit the `.py` and `.ipynb`.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbval.kernel import CURRENT_ENV_KERNEL_NAME, NbvalKernelspecManager

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cloud import HERE, NotebookCloud, notebook_sources  # noqa: E402

CELL_TIMEOUT = 120  # seconds; each notebook takes a few


def sync(source: Path) -> Path:
    """`jupytext --to ipynb --update`: the .py's cells into the .ipynb, keeping outputs."""
    subprocess.run([sys.executable, "-m", "jupytext", "--quiet", "--to", "ipynb", "--update",
                    str(source)], check=True)
    return source.with_suffix(".ipynb")


def execute(notebook: Path) -> float:
    """Run every cell in a fresh kernel (this interpreter) from the notebook's folder."""
    nb = nbformat.read(notebook, as_version=4)
    km = KernelManager(kernel_name=CURRENT_ENV_KERNEL_NAME,
                       kernel_spec_manager=NbvalKernelspecManager())
    client = NotebookClient(nb, km=km, timeout=CELL_TIMEOUT, record_timing=False,
                            allow_errors=False, resources={"metadata": {"path": str(HERE)}})
    started = time.monotonic()
    client.execute(stderr=subprocess.DEVNULL)  # as nbval starts its kernels
    elapsed = time.monotonic() - started
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


def main() -> int:
    sources = notebook_sources()
    notebooks = [sync(source) for source in sources]
    cloud = NotebookCloud().start()
    try:
        forbidden = [str(HERE.parent), str(cloud.tmp), str(Path.home())]
        for notebook in notebooks:
            elapsed = execute(notebook)
            print(f"refreshed {notebook.name} in {elapsed:.1f} s")
            found = leaks(notebook, forbidden)
            if found:
                print(f"{notebook.name}: stored outputs contain {found}", file=sys.stderr)
                return 1
    finally:
        cloud.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
