"""One line naming an unexpected error in the grader itself and where it was raised.

A grading process that stops on an error of its own (not the student's: theirs stay in
their cells) would otherwise report only the traceback's last line, and a bare `assert`
then says `AssertionError` and nothing more. This line carries the traceback's last frame
(file:line, function and source) and, when that frame is a library's, the project's last
frame on the way there, so a failure seen once names its place."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import vpclab

# The folder holding the `vpclab` package: project paths are shown from there on.
_PROJECT = Path(vpclab.__file__).resolve().parent.parent
_LONGEST = 200  # characters of the message kept: the line stays one line, and short


def _short(filename: str) -> str:
    """A frame's file from its import root (`vpclab/…`, `nbclient/…`, `asyncio/…`): the
    same on every machine, and no folder of the grader's."""
    path = Path(filename).resolve()
    roots = {_PROJECT, *(Path(p).resolve() for p in sys.path if p)}
    for root in sorted(roots, key=lambda r: len(r.parts), reverse=True):
        if path.is_relative_to(root):
            return path.relative_to(root).as_posix()
    return path.name


def _ours(frame: traceback.FrameSummary) -> bool:
    return Path(frame.filename).resolve().is_relative_to(_PROJECT / "vpclab")


def _at(frame: traceback.FrameSummary) -> str:
    return f"{_short(frame.filename)}:{frame.lineno}"


def line(exc: BaseException) -> str:
    """E.g. `AssertionError at nbclient/client.py:811 in _async_poll_for_reply (assert
    self.kc is not None), via vpclab/course/kernel.py:74`."""
    message = (str(exc).strip().splitlines() or [""])[0][:_LONGEST]
    said = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return said
    last = frames[-1]
    said += f" at {_at(last)} in {last.name}"
    if last.line:
        said += f" ({last.line.strip()[:_LONGEST]})"
    if not _ours(last):
        mine = [f for f in frames if _ours(f)]
        if mine:
            said += f", via {_at(mine[-1])}"
    return said
