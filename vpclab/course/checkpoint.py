"""A notebook's checkpoint: the step's checklist as plain text, or an error carrying it."""

from __future__ import annotations

from vpclab import report
from vpclab.checklist import CheckResult, failed


class CheckpointFailed(AssertionError):
    """A notebook checkpoint with a FAIL: the message is the checklist."""


def checkpoint_text(step: str, results: list[CheckResult]) -> str:
    """The checklist text to print; raises CheckpointFailed with it if anything FAILs."""
    text = report.to_text(results)
    if failed(results):
        raise CheckpointFailed(f"checkpoint {step} failed:\n{text}")
    return text
