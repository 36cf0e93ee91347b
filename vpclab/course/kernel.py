"""Run one notebook in a fresh kernel of this interpreter, and always shut that kernel down.

The one way the project executes a notebook: storing the reference outputs
(`course/refresh.py`), running the host notebooks for real (`course/live.py`) and grading a
submission (`runner`). The kernel is nbval's `CURRENT_ENV_KERNEL_NAME`, so it is the same
interpreter (and environment) that nbval's own run of the notebooks uses.
"""

from __future__ import annotations

import atexit
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat

if TYPE_CHECKING:
    from vpclab.course.jail import Jail

CellStarted = Callable[[int], None]

# Seconds a started kernel may take to answer (nbclient's default is 60). A jailed kernel is
# started through unshare, mounts and a uid change before IPython's imports: on a loaded
# machine (two cores, two labs being built beside the grading) 60 s was once not enough.
# A kernel that dies starting is seen at once; only a slow one is waited for this long.
START_TIMEOUT = 300.0


class KernelNotStarted(RuntimeError):
    """The notebook's kernel did not answer within its deadline, or died before it did:
    no cell ran. Not the notebook's fault."""


def execute(
    nb: nbformat.NotebookNode,
    cwd: Path,
    timeout: float,
    *,
    quiet: bool = True,
    on_cell_start: CellStarted | None = None,
    keep_going: bool = False,
    jail: Jail | None = None,
    start_timeout: float | None = None,
) -> None:
    """Execute every cell of `nb` in place, from `cwd`, with `timeout` seconds per cell.

    Raises nbclient's CellExecutionError, CellTimeoutError or DeadKernelError on the first
    cell that fails; with `keep_going` every cell runs (as nbgrader runs them), an error is
    left in its cell's outputs, and a cell past `timeout` is interrupted (a KeyboardInterrupt
    in its outputs) and the next one runs. `quiet` drops the kernel process's own stderr (as
    nbval starts its kernels); `on_cell_start(index)` is called as each cell starts; `jail`
    runs the kernel as its throwaway user, with what it must not read hidden.

    Raises KernelNotStarted when the kernel, started twice, does not answer within
    `start_timeout` seconds (None: START_TIMEOUT) of its start either time."""
    from jupyter_client.client import KernelClient
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync
    from nbclient import NotebookClient
    from nbval.kernel import CURRENT_ENV_KERNEL_NAME, NbvalKernelspecManager

    # The async manager: with a blocking one, nbclient's wait for output blocks its event
    # loop, so a cell that loops forever is never timed out.
    class Manager(AsyncKernelManager):
        def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
            cmd = super().format_kernel_cmd(extra_arguments)
            if jail is None:
                return cmd
            return jail.prefix(os.path.realpath(self.connection_file)) + cmd

    class Client(NotebookClient):
        async def async_start_new_kernel_client(self) -> KernelClient:
            try:
                return await super().async_start_new_kernel_client()
            except RuntimeError as exc:  # "didn't respond in N seconds", "died before replying"
                raise KernelNotStarted(f"the kernel did not start: {exc}") from exc

    limit = START_TIMEOUT if start_timeout is None else start_timeout
    start: dict = {"stderr": subprocess.DEVNULL} if quiet else {}
    if jail is not None:
        start["env"] = {**os.environ, **jail.environment()}

    def once() -> None:
        km = Manager(
            kernel_name=CURRENT_ENV_KERNEL_NAME, kernel_spec_manager=NbvalKernelspecManager()
        )
        client = Client(
            nb,
            km=km,
            timeout=timeout,
            startup_timeout=max(1, round(limit)),
            record_timing=False,
            allow_errors=keep_going,
            interrupt_on_timeout=keep_going,
            resources={"metadata": {"path": str(cwd)}},
        )
        if on_cell_start is not None:
            client.on_cell_start = lambda cell_index, **_: on_cell_start(cell_index)
        try:
            client.execute(**start)
        finally:
            # nbclient's own clean-up at exit stays registered when the kernel did not
            # start, and then fails (a bare AssertionError printed last, hiding the real
            # error): ours is here.
            atexit.unregister(client._cleanup_kernel)
            # nbclient leaves a kernel it did not create running: stop it (a looping one
            # too).
            if run_sync(km.is_alive)():
                run_sync(km.shutdown_kernel)(now=True)

    # A second start when the first kernel never answered (no cell ran, so nothing runs
    # twice): a kernel can die starting through no fault of the notebook, e.g. when another
    # process took one of the free ports it was handed before it could listen on it.
    try:
        once()
    except KernelNotStarted:
        once()
