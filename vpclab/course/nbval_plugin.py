"""The nbval run of the notebooks: `pytest --nbval notebooks/` from the repository root
(tests/notebooks runs it too). pyproject's pytest `addopts` loads this plugin (`-p`), since
the notebooks' folder holds only the notebooks; runs without `--nbval` are left alone.

nbval's cells are plain pytest Items, not test functions, so fixtures (autouse or not) never
reach them. The shared moto server (`vpclab.localcloud.sandbox.Sandbox`) is therefore
started in `pytest_configure`, before any kernel, and stopped in `pytest_unconfigure`. Each
kernel inherits this process's environment, which is how AWS_ENDPOINT_URL and VPCLAB_STATE
reach the notebooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from vpclab.localcloud.sandbox import Sandbox

_cloud: Sandbox | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _cloud
    opt = config.option
    if not (getattr(opt, "nbval", False) or getattr(opt, "nbval_lax", False)):
        return
    if getattr(opt, "numprocesses", None) or getattr(opt, "dist", "no") != "no":
        raise pytest.UsageError("the notebooks share one lab and run in order: no xdist")
    # Imported here: every pytest run loads this plugin, only the nbval run needs these.
    from vpclab.course.overlay import SANITIZE
    from vpclab.localcloud.sandbox import Sandbox

    # The lab's own sanitize file and kernel, unless the command line names others.
    if not opt.nbval_sanitize_with:
        opt.nbval_sanitize_with = str(SANITIZE)
    if not opt.nbval_kernel_name:
        opt.nbval_current_env = True  # this interpreter, not a kernel spec found elsewhere
    if _cloud is None:
        _cloud = Sandbox().start()


def pytest_unconfigure(config: pytest.Config) -> None:
    global _cloud
    if _cloud is not None:
        _cloud.stop()
        _cloud = None
