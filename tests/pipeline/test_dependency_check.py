"""The Dependency-Check stage (real Jenkins): scripts/ci/dependency_check.sh runs OWASP
Dependency-Check (a stand-in here, which writes the report the real tool writes) with its pip
analyzer on, the NVD key in a 0600 properties file. No key, no report, or a pin the analyzer
did not report: a failing "dependencies not checked" case, so Jenkins marks the stage
UNSTABLE, never green; a finding at or above the failing severity fails the stage."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "ci" / "dependency_check.sh"
PINS = [
    line.strip()
    for line in (ROOT / "app" / "requirements.txt").read_text().splitlines()
    if "==" in line and not line.startswith("#")
]


def report(pins: list[str], vulns: dict[str, list[dict]] | None = None) -> dict:
    deps = []
    for pin in pins:
        name, version = pin.split("==")
        deps.append(
            {
                "fileName": f"{name}:{version}",
                "packages": [{"id": f"pkg:pypi/{name.lower()}@{version}"}],
                "vulnerabilities": (vulns or {}).get(name, []),
            }
        )
    return {"reportSchema": "1.1", "dependencies": deps}


def run(tmp_path: Path, key: str, made: dict | None, code: int = 0):
    """Run the stage script in a copy of the workspace with a stand-in Dependency-Check."""
    home = tmp_path / "dc"
    (home / "bin").mkdir(parents=True)
    args_log, props_log = tmp_path / "args", tmp_path / "props"
    body = (
        f'echo "$*" > {args_log}\n'
        'while [ $# -gt 0 ]; do case "$1" in --out) out=$2;; --propertyfile) p=$2;; esac; '
        "shift; done\n"
        f'cp "$p" {props_log}; stat -c %a "$p" >> {props_log}\n'
    )
    if made is not None:
        report_file = tmp_path / "made.json"
        report_file.write_text(json.dumps(made))
        body += f'cp {report_file} "$out/dependency-check-report.json"\n'
    body += f"echo 'analysis done'; exit {code}\n"
    tool = home / "bin" / "dependency-check.sh"
    tool.write_text("#!/bin/bash\n" + body)
    tool.chmod(0o755)
    env = {
        **os.environ,
        "DEPENDENCY_CHECK_HOME": str(home),
        "NVD_API_KEY": key,
        "REPORTS": str(tmp_path / "reports"),
        "AUDIT_REQUIREMENTS": str(ROOT / "app" / "requirements.txt"),
    }
    done = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env=env, cwd=ROOT)
    junit = tmp_path / "reports" / "dependency-check.xml"
    cases = ET.parse(junit).getroot().findall("testcase") if junit.exists() else []
    failures = [c.find("failure").get("message") for c in cases if c.find("failure") is not None]
    return done, failures, args_log, props_log


def test_without_an_nvd_key_nothing_is_checked_and_says_so(tmp_path):
    done, failures, args_log, _props = run(tmp_path, "", report(PINS))
    assert done.returncode == 0, done.stderr  # UNSTABLE through junit, never FAILURE
    assert failures == [
        f"dependencies not checked: no NVD API key (Jenkins credential "
        f"nvd-api-key is empty); {len(PINS)} packages unaudited"
    ]
    assert not args_log.exists()  # the tool did not even run


def test_every_pin_analysed_and_clean_passes_with_the_pip_analyzer_on(tmp_path):
    done, failures, args_log, props_log = run(tmp_path, "k3y-123", report(PINS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert failures == []
    args = args_log.read_text()
    assert "--enableExperimental" in args and "--scan" in args and "k3y-123" not in args
    assert props_log.read_text() == "nvd.api.key=k3y-123\n600\n"
    assert f"{len(PINS)} packages checked, 0 finding(s)" in done.stdout


def test_a_pin_the_analyzer_did_not_report_is_not_a_pass(tmp_path):
    done, failures, _args, _props = run(tmp_path, "k", report(PINS[:3]))
    assert done.returncode == 0
    assert len(failures) == 1 and failures[0].startswith("dependencies not checked: the pip")
    assert f"reported 3 of {len(PINS)}" in failures[0]


def test_a_high_finding_fails_the_stage(tmp_path):
    name = PINS[0].split("==")[0]
    vuln = {"name": "CVE-2026-0001", "severity": "HIGH"}
    done, failures, _args, _props = run(tmp_path, "k", report(PINS, {name: [vuln]}))
    assert done.returncode == 1
    assert failures == ["1 finding(s) at or above HIGH"]


@pytest.mark.parametrize("code", [13, 0])
def test_no_report_means_not_checked(tmp_path, code):
    done, failures, _args, _props = run(tmp_path, "k", None, code=code)
    assert done.returncode == 0
    assert failures and failures[0].startswith(
        f"dependencies not checked: Dependency-Check did not finish (exit {code}): analysis done"
    )
