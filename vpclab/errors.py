"""User-facing errors: one line that names the problem and the fix."""

import sys


class VpclabError(Exception):
    """A problem the user can fix. The CLI prints it as one line, never a traceback."""

    exit_code = 1

    def __init__(self, problem: str, fix: str = "") -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(self.line())

    def line(self) -> str:
        return f"{self.problem} — {self.fix}" if self.fix else self.problem


class SpecError(VpclabError):
    """The lab spec is invalid. Raised before any API call."""

    exit_code = 2


class UsageError(VpclabError):
    """A bad flag or argument."""

    exit_code = 2


class NotBuiltError(VpclabError):
    """A step the spec knows but the library does not build yet."""

    exit_code = 2


def brief_in_notebooks() -> None:
    """In IPython (a notebook's kernel), show a VpclabError as its one line, as the CLI
    does: a student's mistake is not a traceback into the kit. The cell still fails."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython else None
    if shell is not None:
        shell.set_custom_exc((VpclabError,), _one_line)


def _one_line(shell, etype, value, tb, tb_offset=None) -> list[str]:
    # IPython ignores what a handler returns: it shows it itself (a kernel sends it as the
    # cell's error output, ename and evalue kept, so graders and nbval still see the error).
    brief = [f"{etype.__name__}: {value}"]
    shell._showtraceback(etype, value, brief)
    return brief
