"""A kernel slow to start, as a jailed one is on a loaded machine: it is waited for up to a
deadline, and started once more if it does not answer (or dies starting); past that the
step is an ERROR that says so, the rest of the submission is graded,
and nothing prints a bare AssertionError at exit (nbclient's own clean-up at exit, left
registered after a failed start, once did, and hid the real error from the grader's report).

The slow start is a real one: the kernel's command behind a shell that sleeps first, where
the jail's prefix goes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat

from tests.course.test_kernel import gone
from vpclab.course import kernel
from vpclab.course.overlay import reference_steps
from vpclab.course.relay import Relay
from vpclab.course.runner import grade_step
from vpclab.course.scores import Score

ROOT = Path(__file__).resolve().parents[2]


class SlowStart:
    """A jail's place in the kernel's command: sleeps `delay` s, then execs the kernel (each
    start's pid appended to `pid_file`)."""

    def __init__(self, delay: float, pid_file: Path) -> None:
        self.delay, self.pid_file = delay, pid_file

    def prefix(self, connection_file: str) -> list[str]:
        script = f'echo $$ >> {self.pid_file}; sleep {self.delay}; exec "$@"'
        return ["sh", "-c", script, "sh"]

    def environment(self) -> dict[str, str]:
        return {}


class DiesFirst:
    """A kernel that dies at its first start (as one whose port another process took) and
    starts at the second."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def prefix(self, connection_file: str) -> list[str]:
        script = f'if [ -e {self.marker} ]; then exec "$@"; fi; touch {self.marker}; exit 1'
        return ["sh", "-c", script, "sh"]

    def environment(self) -> dict[str, str]:
        return {}


def _all_gone(pid_file: Path) -> bool:
    pids = [int(p) for p in pid_file.read_text().split()]
    return len(pids) == 2 and all(gone(pid, within=15.0) for pid in pids)


def test_a_kernel_slow_to_start_is_waited_for(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    slow = SlowStart(3, tmp_path / "pid")
    kernel.execute(nb, tmp_path, timeout=60, jail=slow, start_timeout=60)
    assert nb.cells[0].outputs[0]["text"] == "42\n"


def test_a_kernel_that_dies_starting_is_started_again(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    kernel.execute(nb, tmp_path, timeout=60, jail=DiesFirst(tmp_path / "died"))
    assert (tmp_path / "died").exists()  # the first start died
    assert nb.cells[0].outputs[0]["text"] == "42\n"


SCRIPT = """
import sys
from pathlib import Path
import nbformat
from tests.course.test_slow_kernel import SlowStart
from vpclab.course import kernel
nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
try:
    kernel.execute(nb, Path(sys.argv[1]), 60, jail=SlowStart(30, Path(sys.argv[2])),
                   start_timeout=2)
except kernel.KernelNotStarted as exc:
    print(exc)
    sys.exit(3)
"""


def test_past_the_deadline_it_is_kernel_not_started_and_nothing_fails_at_exit(tmp_path):
    pid_file = tmp_path / "pid"
    argv = [sys.executable, "-c", SCRIPT, str(tmp_path), str(pid_file)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "the kernel did not start: Kernel didn't respond in 2 seconds" in done.stdout
    # Before, nbclient's clean-up at exit printed this last: a bare AssertionError.
    assert "AssertionError" not in done.stderr and "atexit" not in done.stderr, done.stderr
    assert _all_gone(pid_file), "a slow kernel (started twice) was left running"


def test_a_step_whose_kernel_does_not_start_is_an_error_that_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(kernel, "START_TIMEOUT", 2.0)
    ref = reference_steps(ROOT / "notebooks")[0]
    relay = Relay("http://127.0.0.1:9").start()  # nothing reaches it: no cell runs
    try:
        score, checks = grade_step(
            None, ref, ROOT / "notebooks", tmp_path, 60, [], relay, SlowStart(30, tmp_path / "p")
        )
    finally:
        relay.stop()
    assert score.score is Score.ERROR and checks == [], score
    (why,) = score.reasons
    assert why.startswith(f"{ref.path.name} did not run, through no fault of the submission")
    assert "Kernel didn't respond in 2 seconds" in why and why.endswith("grade it again"), why
    assert _all_gone(tmp_path / "p")
