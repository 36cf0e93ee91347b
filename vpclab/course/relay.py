"""The grader's request log: a relay in the grading process between a submission's lab
(its kernel, the CLI from a `!` cell, the agent) and that lab's moto server.

Every request passes through; the relay keeps, in the grader's memory (out of the kernel's
reach), each request that carries the library's mark (`vpclab.aws.session.marking`), with
the notebook cell that was running when it came. A step with a marked change in the log was
built by the library, whatever the route."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from vpclab.aws.session import GRADER_MARK, STEP_MARK, is_mutating, read_mark
from vpclab.localcloud.passthrough import Passthrough, Request
from vpclab.localcloud.recording import action_of

# The read a host-only step sends at its end (see `vpclab.steps._marked`).
HOST_WORK = "GetCallerIdentity"


@dataclass(frozen=True)
class Marked:
    """One marked request: who sent it (the library for the student, or the grader)."""

    who: str
    step: str
    action: str
    where: str  # the cell that was running, e.g. "02_nat.ipynb cell 5"

    @property
    def builds(self) -> bool:
        return is_mutating(self.action) or self.action == HOST_WORK


class Relay(Passthrough):
    """Start with `start()`, stop with `stop()`; `endpoint` is what the lab is given."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream, self._note)
        self.where = "before the notebooks"
        self.log: list[Marked] = []
        self._lock = threading.Lock()

    def start(self) -> Relay:
        super().start()
        return self

    def built_by_library(self, step: str) -> list[Marked]:
        """The student's library calls that changed `step` (the grader's own are left out)."""
        with self._lock:
            return [m for m in self.log if m.step == step and m.who == STEP_MARK and m.builds]

    def mended(self, step: str) -> bool:
        with self._lock:
            return any(m.step == step and m.who == GRADER_MARK and m.builds for m in self.log)

    def _note(self, request: Request) -> None:
        """Log a marked request; every request passes."""
        mark = read_mark(request.headers.get("User-Agent", ""))
        if mark:
            action = action_of(request.headers, request.method, request.body, request.path)
            with self._lock:
                self.log.append(Marked(mark[0], mark[1], action, self.where))
