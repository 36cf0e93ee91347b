"""Grading without hosts: it must be asked for, and a step nothing could judge is SKIPPED.

The untouched student edition of 05 (keys) and 08 (pipeline), graded with `--no-hosts`:
every check of those steps needs the hosts, so each SKIPs, and a SKIP is never a PASS."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vpclab import cli
from vpclab.localcloud import netns

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
GRADED = ("05_keys", "08_pipeline")


def test_grade_without_hosts_must_be_asked_for(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(netns, "unsupported_reason", lambda: "the local hosts need root")
    monkeypatch.setattr(sys, "argv", ["vpclab", "grade", str(tmp_path)])
    with pytest.raises(SystemExit) as stopped:
        cli.main()
    assert stopped.value.code == 2
    said = capsys.readouterr().err
    assert "the local hosts need root" in said and "--no-hosts" in said
    assert len(said.strip().splitlines()) <= 2  # one line (the console may wrap it)


@pytest.fixture(scope="module")
def untouched(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("untouched")
    edition, reference, out = root / "edition", root / "reference", root / "out"
    run = {"cwd": ROOT, "capture_output": True, "text": True, "timeout": 900}
    made = subprocess.run([sys.executable, "-m", "vpclab.cli", "assign", str(edition)], **run)
    assert made.returncode == 0, made.stdout + made.stderr
    reference.mkdir()
    for stem in GRADED:
        shutil.copy(NOTEBOOKS / f"{stem}.ipynb", reference)
    argv = [sys.executable, "-m", "vpclab.cli", "grade", str(edition), "--no-hosts"]
    argv += ["--notebooks", str(reference), "--cell-timeout", "60"]
    argv += ["--csv", str(out / "class.csv"), "--feedback", str(out / "feedback")]
    graded = subprocess.run(argv, **run)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    assert "WITHOUT hosts" in graded.stdout
    return out


def test_untouched_edition_without_hosts_is_skipped_never_pass(untouched):
    with (untouched / "class.csv").open() as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["keys"] == "SKIPPED" and row["pipeline"] == "SKIPPED", row
    assert row["hosts"] == "no"
    page = (untouched / "feedback" / "edition.md").read_text()
    assert "Graded without hosts" in page and "a SKIP is never a PASS" in page
    assert "0 of 2 steps earn credit" in page
