"""The one kernel runner (`vpclab.course.kernel`): cells run in order from the given folder,
the first failing cell raises, and the kernel is gone afterwards whatever happened."""

from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError, CellTimeoutError

from vpclab.course import kernel


def _notebook(*sources: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])


def _pid_written(path: Path) -> str:
    return f"import os\nopen({str(path)!r}, 'w').write(str(os.getpid()))"


def gone(pid: int, within: float = 10.0) -> bool:
    """True once the process is no more (or only a zombie waiting to be reaped)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.1)
    return False


def test_runs_every_cell_in_order_from_the_folder(tmp_path):
    nb = _notebook("import os\nprint(os.getcwd())", "print(6 * 7)")
    started: list[int] = []
    kernel.execute(nb, tmp_path, timeout=60, on_cell_start=started.append)
    assert started == [0, 1]
    assert [c.execution_count for c in nb.cells] == [1, 2]
    assert nb.cells[0].outputs[0].text.strip() == str(tmp_path)
    assert nb.cells[1].outputs[0].text == "42\n"
    assert "execution" not in nb.cells[0].metadata  # no timing metadata


def test_a_failing_cell_raises_and_the_kernel_is_shut_down(tmp_path):
    pid_file = tmp_path / "pid"
    nb = _notebook(_pid_written(pid_file), "raise ValueError('broken on purpose')", "print(1)")
    with pytest.raises(CellExecutionError, match="broken on purpose"):
        kernel.execute(nb, tmp_path, timeout=60)
    assert nb.cells[2].get("execution_count") is None  # stopped at the failing cell
    assert gone(int(pid_file.read_text()))


def test_a_looping_cell_is_stopped_at_the_limit_and_the_kernel_is_shut_down(tmp_path):
    pid_file = tmp_path / "pid"
    nb = _notebook(_pid_written(pid_file), "while True:\n    pass")
    started = time.monotonic()
    with pytest.raises(CellTimeoutError):
        kernel.execute(nb, tmp_path, timeout=2)
    assert time.monotonic() - started < 60
    pid = int(pid_file.read_text())
    assert pid != os.getpid() and gone(pid)
