"""An error of the grader itself is reported in one line that names its place: the exception,
the traceback's last frame (file:line, function, source) and the project's frame on the way,
never a bare `AssertionError` (as a grading run under load once reported, with nothing to
go on). PYTEST_DONT_REWRITE: the bare `assert` below must stay bare."""

from __future__ import annotations

import inspect

from vpclab.course import crash, grade
from vpclab.course.overlay import load_patterns
from vpclab.course.scores import Score


def _bare_assert() -> None:
    started = None
    assert started is not None


def _raised(call, *args) -> BaseException:
    try:
        call(*args)
    except Exception as exc:  # noqa: BLE001 - the test keeps whatever it raised
        return exc
    raise AssertionError(f"{call.__name__} raised nothing")


def test_a_bare_assert_names_its_file_line_function_and_source():
    said = crash.line(_raised(_bare_assert))
    lineno = inspect.getsourcelines(_bare_assert)[1] + 2
    assert said == (
        f"AssertionError at tests/course/test_crash.py:{lineno} in _bare_assert "
        "(assert started is not None)"
    ), said


def test_a_library_error_names_the_projects_frame_on_the_way(tmp_path):
    said = crash.line(_raised(load_patterns, tmp_path / "missing.cfg"))
    assert said.startswith("FileNotFoundError: [Errno 2] No such file or directory"), said
    assert " at pathlib.py:" in said and ", via vpclab/course/overlay.py:" in said, said
    assert str(tmp_path.parent) not in said.split(" at ", 1)[1]  # no folder of the grader's
    assert "\n" not in said


def test_the_grading_process_names_its_own_error_in_the_report(tmp_path, capsys):
    """The real grading process, stopped by an error of its own (a sanitize file that is
    not there): every step is an ERROR whose one line names the error and where, and the
    grader's stderr gets the whole traceback."""
    (tmp_path / "reference").mkdir()
    (tmp_path / "student").mkdir()
    settings = grade.GradeSettings(
        reference=tmp_path / "reference",
        spec=tmp_path / "lab.toml",
        sanitize=tmp_path / "missing.cfg",
        jail=False,
    )
    result = grade._run_child(tmp_path / "student", settings, ["vpc", "nat"], [])
    assert [s.score for s in result.steps] == [Score.ERROR, Score.ERROR]
    (why,) = result.steps[0].reasons
    assert why.startswith("grading stopped (exit 1): the grader failed: FileNotFoundError"), why
    assert " at pathlib.py:" in why and "via vpclab/course/overlay.py:" in why, why
    assert "\n" not in why
    said = capsys.readouterr().err
    assert f"grading student stopped: {why}" in said and "Traceback" in said, said


def test_what_is_printed_after_the_error_does_not_hide_it(tmp_path):
    crashed = tmp_path / "crash.txt"
    crashed.write_text("AssertionError at nbclient/client.py:811 in _async_poll_for_reply")
    noisy = "Traceback ...\nAssertionError\nTask exception was never retrieved\nAssertionError\n"
    why = grade.stopped(1, noisy, crashed)
    assert why == (
        "grading stopped (exit 1): the grader failed: "
        "AssertionError at nbclient/client.py:811 in _async_poll_for_reply"
    )


def test_without_a_named_error_the_report_says_how_it_ended_and_what_it_printed(tmp_path):
    none = tmp_path / "crash.txt"
    assert (
        grade.stopped(1, "starting\nOSError: no\n", none) == "grading stopped (exit 1): OSError: no"
    )
    assert grade.stopped(1, "", none) == "grading stopped (exit 1): no output"
    # Killed (out of memory, say): what it printed last may be an error it survived.
    why = grade.stopped(-9, "Task exception was never retrieved\nAssertionError\n", none)
    assert why == "grading stopped (killed by SIGKILL); it last printed: AssertionError"
