"""A submission that tries to cheat the grader: it writes `result.json` files wherever it
finds them, and reads the reference, the kit's solutions and a classmate's notebooks. Its
kernel runs as a throwaway user in a mount namespace of its own: it reads nothing, writes
nothing, reaches no server on the machine but the grader's relay, and nobody's score
changes."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from vpclab.course import jail

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
STEMS = ("01_vpc", "02_nat")

CHEAT = """
import glob, os
uid, leaked, wrote = os.getuid(), [], []
for path in glob.glob("/tmp/vpclab-grade-result-*") + glob.glob("/tmp/vpclab-grade-*"):
    try:
        with open(os.path.join(path, "result.json"), "w") as out:
            out.write('{"name": "x", "steps": []}')
        wrote.append(path)
    except OSError:
        pass
targets = [REFERENCE, CLASSMATE, KIT + "/notebooks/02_nat.ipynb", KIT + "/course/src/02_nat.py"]
for target in targets:
    for path in [target] + glob.glob(target + "/*"):
        try:
            if os.path.isfile(path) and open(path).read(64):
                leaked.append(path)
        except OSError:
            pass
for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
    try:
        if REFERENCE.encode() in open(cmdline, "rb").read():
            leaked.append(cmdline)
    except OSError:
        pass
# Around the relay, straight to moto (or any other server of the grader on this machine).
import socket
relay = int(os.environ["AWS_ENDPOINT_URL"].rsplit(":", 1)[1])
reached, tried = [], 0
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    for row in open(table).read().splitlines()[1:]:
        fields = row.split()
        port, state, owner = int(fields[1].rsplit(":", 1)[1], 16), fields[3], int(fields[7])
        if state != "0A" or owner == uid or port == relay:  # 0A: listening
            continue
        tried += 1
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            reached.append(port)
        except OSError:
            pass
# With hosts: another lab's namespace through the grader's broker, the agent's record, the
# agent itself.
entered, signalled = [], []
if os.environ.get("VPCLAB_NETNS_BROKER"):
    from vpclab.localcloud import netns_socket
    try:
        netns_socket.socket_in("vpclab-v00000-web").close()
        entered.append("vpclab-v00000-web")
    except Exception:
        pass
    record = os.path.join(os.environ["VPCLAB_STATE"], "local", "agent.json")
    try:
        with open(record, "a") as out:
            out.write(" ")
        wrote.append(record)
    except OSError:
        pass
    try:
        import json, signal
        os.kill(json.load(open(record))["pid"], signal.SIGTERM)
        signalled.append(record)
    except (OSError, ValueError, KeyError):
        pass
found = f"uid={uid} leaked={leaked} wrote={wrote} reached={reached} tried={tried}"
found += f" broker={bool(os.environ.get('VPCLAB_NETNS_BROKER'))}"
found += f" entered={entered} signalled={signalled}"
raise RuntimeError(f"cheat report: {found}")
"""


def _grade(root: Path, hosts: bool) -> Path:
    reason = jail.unsupported_reason()
    if reason:
        pytest.skip(f"the kernel jail needs root on Linux: {reason}")
    reference, subs, out = root / "reference", root / "subs", root / "out"
    for folder in (reference, subs / "honest", subs / "cheat"):
        folder.mkdir(parents=True)
        for stem in STEMS:
            shutil.copy(NOTEBOOKS / f"{stem}.ipynb", folder)
    path = subs / "cheat" / "01_vpc.ipynb"
    nb = nbformat.read(path, as_version=4)
    source = CHEAT.replace("REFERENCE", repr(str(reference)))
    source = source.replace("CLASSMATE", repr(str(subs / "honest")))
    source = source.replace("KIT", repr(str(ROOT)))
    nb.cells.insert(2, nbformat.v4.new_code_cell(source))
    nbformat.write(nb, path)
    argv = [sys.executable, "-m", "vpclab.cli", "grade", str(subs / "honest"), str(subs / "cheat")]
    argv += ["--notebooks", str(reference), "--jobs", "2", "--cell-timeout", "60"]
    argv += [] if hosts else ["--no-hosts"]
    argv += ["--csv", str(out / "class.csv"), "--feedback", str(out / "feedback")]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Path:
    return _grade(tmp_path_factory.mktemp("cheat"), hosts=False)


def test_a_cheating_kernel_reads_nothing_writes_nothing_and_changes_no_score(graded):
    _nobody_changed(graded)


def test_with_hosts_a_cheating_kernel_enters_no_other_lab_and_cannot_touch_the_agent(
    tmp_path, data_plane
):
    """The same class graded with hosts (the kernel gets sockets from the grader's broker):
    besides the above, another lab's namespace is refused, and the agent's record and the
    agent itself are out of its reach."""
    graded = _grade(tmp_path, hosts=True)
    report = _nobody_changed(graded)
    assert "broker=True entered=[] signalled=[]" in report, report


def _nobody_changed(graded: Path) -> str:
    with (graded / "class.csv").open() as handle:
        table = {row["student"]: row for row in csv.DictReader(handle)}
    page = (graded / "feedback" / "cheat.md").read_text()
    for name in ("honest", "cheat"):
        # The feedback says why a step is not a PASS (an ERROR names where grading stopped).
        why = (graded / "feedback" / f"{name}.md").read_text()
        assert (table[name]["vpc"], table[name]["nat"]) == ("PASS", "PASS"), (table, why)
    assert table["cheat"]["total"] == table["honest"]["total"]
    report = next(line for line in page.splitlines() if "cheat report" in line)
    assert "uid=0 " not in report and "leaked=[]" in report and "wrote=[]" in report, report
    assert "reached=[]" in report and "tried=0" not in report, report  # moto listens, at least
    return report
