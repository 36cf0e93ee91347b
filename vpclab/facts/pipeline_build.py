"""Whether this process runs inside a pipeline build: checks, remote reads and the checklist
each behave a little differently there (no operator CA, the build's own admin address)."""

from __future__ import annotations

import os


def inside_build() -> str | None:
    """'pipeline build #N' when the checklist runs in a pipeline build's Verify stage (Jenkins
    sets BUILD_NUMBER and WORKSPACE; so does `vpclab pipeline run`), else None."""
    if os.environ.get("BUILD_NUMBER") and os.environ.get("WORKSPACE"):
        return f"pipeline build #{os.environ['BUILD_NUMBER']}"
    return None
