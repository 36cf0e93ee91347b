"""The benchmarks' statistics (benchmarks/steady.py): medians with their spread, "unsteady"
instead of a result past 20%, alternating rounds, and the core plan and pin commands."""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load_steady():
    spec = importlib.util.spec_from_file_location("steady", BENCHMARKS / "steady.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("steady", module)
    spec.loader.exec_module(module)
    return module


steady = _load_steady()


def test_median_and_spread() -> None:
    figure = steady.Figure("x", (100.0, 104.0, 98.0, 101.0, 110.0))
    assert figure.median == 101.0
    assert figure.spread == pytest.approx(12 / 101)
    assert figure.steady
    line = figure.line()
    assert "101.0 req/s" in line and "spread 12%" in line and "unsteady" not in line


def test_bimodal_rounds_are_unsteady_never_a_result() -> None:
    # the pattern seen before pinning: rounds at about 400 or 1000-1300 req/s
    figure = steady.Figure("through nginx", (410.0, 1180.0, 395.0, 1010.0, 1290.0))
    assert not figure.steady and figure.spread > steady.MAX_SPREAD
    line = figure.line()
    assert line.startswith("through nginx") and "unsteady" in line and "no result" in line
    assert f"{figure.median:.1f} req/s" not in line  # the median is not printed as a figure


def test_spread_at_the_limit_is_steady_and_just_over_is_not() -> None:
    assert steady.Figure("x", (90.0, 100.0, 100.0, 100.0, 110.0)).steady  # 20% exactly
    assert not steady.Figure("x", (90.0, 100.0, 100.0, 100.0, 110.5)).steady


def test_too_few_rounds_are_unsteady() -> None:
    figure = steady.Figure("x", (100.0, 100.0, 100.0))
    assert not figure.steady and "only 3 rounds" in figure.line()


def test_empty_or_zero_has_no_spread() -> None:
    assert steady.Figure("x", ()).spread == math.inf
    assert not steady.Figure("x", (0.0,) * 5).steady


def test_paired_ratio_cancels_a_shared_drift() -> None:
    # both sides slow down together (another job on the machine): the sides are unsteady,
    # their per-round ratio is not, and the cost is reported from it
    top = steady.Figure("a", (900.0, 450.0, 880.0, 430.0, 910.0))
    bottom = steady.Figure("b", (1000.0, 500.0, 1000.0, 480.0, 1010.0))
    ratio = steady.paired_ratio("a / b", top, bottom)
    assert not top.steady and not bottom.steady and ratio.steady
    assert ratio.median == pytest.approx(0.9)
    assert steady.cost_line("proxy cost", ratio).startswith("proxy cost: +10.0% of throughput")
    assert steady.change_line("cpu", ratio).startswith("cpu: -10.0%")
    wild = steady.paired_ratio("a / b", top, steady.Figure("b", (1000.0, 1000.0) * 2 + (1.0,)))
    assert "unsteady" in steady.cost_line("proxy cost", wild)


def _quiet() -> tuple[int, int]:
    return (0, 0)  # no time passes, none is stolen


def test_alternate_flips_the_order_each_round() -> None:
    order: list[str] = []
    runs = steady.alternate(
        ["A", "B"], 5, lambda side: order.append(side) or len(order), clock=_quiet
    )
    assert order == ["A", "B", "B", "A", "A", "B", "B", "A", "A", "B"]
    assert runs == {"A": [1, 4, 5, 8, 9], "B": [2, 3, 6, 7, 10]}


def _clock(shares: list[float]):
    """Readings of (steal, total) ticks such that round i had shares[i] of its time stolen."""
    steal, total = 0, 0
    readings = []
    for share in shares:
        readings.append((steal, total))
        steal, total = steal + round(share * 1000), total + 1000
        readings.append((steal, total))
    return iter(readings).__next__


def test_a_round_other_guests_took_from_is_run_again_both_sides_and_keeps_the_order() -> None:
    order: list[str] = []
    said: list[str] = []
    runs = steady.alternate(
        ["A", "B"],
        3,
        lambda side: order.append(side) or len(order),
        redo=2,
        clock=_clock([0.0, 0.10, 0.01, 0.0]),  # the second round: 10% stolen
        say=said.append,
    )
    # The dropped round (runs 3 and 4) is run again in the same order, B A.
    assert order == ["A", "B", "B", "A", "B", "A", "A", "B"]
    assert runs == {"A": [1, 6, 7], "B": [2, 5, 8]}
    assert said == ["round 2: other guests took 10% of the CPUs; run again"]


def test_rounds_are_run_again_a_bounded_number_of_times() -> None:
    said: list[str] = []
    runs = steady.alternate(
        ["A", "B"], 5, lambda side: side, redo=2, clock=_clock([0.5] * 7), say=said.append
    )
    assert len(runs["A"]) == len(runs["B"]) == 5
    assert sum(line.endswith("; run again") for line in said) == 2
    assert sum("kept" in line for line in said) == 5


def test_steal_is_read_from_the_machine() -> None:
    before = steady.cpu_times()
    time.sleep(0.05)
    after = steady.cpu_times()
    assert 0 <= before[0] <= before[1] and after[1] >= before[1] and after[0] >= before[0]
    assert 0.0 <= steady.stolen(before, after) <= 1.0
    assert steady.stolen((5, 100), (15, 300)) == pytest.approx(0.05)
    assert steady.stolen((5, 100), (5, 100)) == 0.0


def test_plan_cores() -> None:
    assert steady.plan_cores([0]) is None
    two = steady.plan_cores([1, 0])
    assert (two.load, two.server, two.every) == ("0", "1", "0,1")
    four = steady.plan_cores([0, 1, 2, 3])
    assert (four.load, four.server) == ("0", "1,2,3")
    assert steady.taskset(None, "wrk x") == "wrk x"
    assert steady.taskset("0", "wrk x") == "taskset -c 0 wrk x"
    assert f"{os.cpu_count()} CPUs, load average " in steady.machine()


def test_pin_moves_every_thread_of_the_matched_process_and_counts_it() -> None:
    """The benchmarks pin a host's servers from the machine: the processes whose command line
    matches, every thread of each; the count is what they check before trusting a run."""
    cpus = sorted(os.sched_getaffinity(0))
    marker = f"vpclab-pin-test-{os.getpid()}"
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", marker])
    try:
        deadline = time.monotonic() + 10
        found = steady.matching([child.pid, os.getpid()], marker)
        while not found and time.monotonic() < deadline:  # until the child has exec'd
            time.sleep(0.02)
            found = steady.matching([child.pid, os.getpid()], marker)
        assert found == [child.pid]
        assert steady.pin(found, str(cpus[-1])) == 1
        assert os.sched_getaffinity(child.pid) == {cpus[-1]}
        assert steady.pin(found, ",".join(map(str, cpus))) == 1
        assert os.sched_getaffinity(child.pid) == set(cpus)
    finally:
        child.kill()
        child.wait()
    assert steady.matching([child.pid], marker) == []  # gone: left out, no error
    assert steady.pin([child.pid], str(cpus[0])) == 0


def test_time_wait_reuse_is_set_in_one_namespace_and_given_back(data_plane):
    """The load benchmarks let a lab host reuse TIME_WAIT ports for a run: the setting is the
    namespace's own (the machine's stays), and the previous value is returned to restore."""
    netns = f"vpclab-steadytest{os.getpid() % 100000}"
    subprocess.run(["ip", "netns", "add", netns], check=True, timeout=10)
    try:
        machine = Path("/proc/sys/net/ipv4/tcp_tw_reuse").read_text().strip()
        before = steady.time_wait_reuse(netns, "1")
        assert before in ("0", "1", "2")
        assert steady.time_wait_reuse(netns, before) == "1"
        assert steady.time_wait_reuse(netns, before) == before
        assert Path("/proc/sys/net/ipv4/tcp_tw_reuse").read_text().strip() == machine
    finally:
        subprocess.run(["ip", "netns", "delete", netns], check=True, timeout=10)
