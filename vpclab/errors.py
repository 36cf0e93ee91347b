"""User-facing errors: one line that names the problem and the fix."""


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
