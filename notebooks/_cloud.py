"""The notebooks' run settings: where they are, their sanitize file, and the throwaway
control plane they run against (`vpclab.localcloud.sandbox.Sandbox`). Used by `conftest.py`
(the nbval run) and `refresh.py` (which stores the reference outputs), so both run the
notebooks the same way.

Not a notebook: the notebooks are the `NN_name.py` files beside it.
"""

from __future__ import annotations

from pathlib import Path

from vpclab.localcloud.sandbox import SEED, Sandbox

HERE = Path(__file__).resolve().parent
SANITIZE = HERE / "nbval_sanitize.cfg"
NOTEBOOK_GLOB = "[0-9][0-9]_*.py"
NotebookCloud = Sandbox

__all__ = ["HERE", "SANITIZE", "SEED", "NotebookCloud", "notebook_sources"]


def notebook_sources() -> list[Path]:
    """The notebooks' jupytext sources, in the order they run (zero-padded names)."""
    return sorted(HERE.glob(NOTEBOOK_GLOB))
