"""The Security stage: a finding at or above the configured severity fails it when the
vulnerability data is reachable (a fixture OSV service on loopback), and it is UNSTABLE with
"dependencies not checked" when the data is not; bandit runs and the SBOM is archived."""

from __future__ import annotations

import dataclasses
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from tests.pipeline.osv_fixture import RECORD, osv_server
from vpclab.pipeline import builds
from vpclab.pipeline.builds import Result
from vpclab.pipeline.jenkinsfile import load
from vpclab.pipeline.runner import BuildInfo, run
from vpclab.pipeline.workspace import LocalWorkspace

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).parent / "fixtures" / "vulnerable-requirements.txt"
AUDIT = ROOT / "scripts" / "ci" / "dependency_audit.py"
BIN = Path(sys.executable).parent


def closed_port_url() -> str:
    """An OSV URL on loopback where nothing listens: the data is unreachable."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1/query"


def audit(tmp_path: Path, osv_url: str, severity: str = "HIGH") -> subprocess.CompletedProcess:
    if not (BIN / "pip-audit").exists():
        pytest.fail("pip-audit is missing from the dev extras")
    return subprocess.run(
        [sys.executable, str(AUDIT), "-r", str(FIXTURE), "--fail-severity", severity]
        + ["--osv-url", osv_url, "--timeout", "5", "--pip-audit", str(BIN / "pip-audit")]
        + ["--junit", str(tmp_path / "audit.xml"), "--json", str(tmp_path / "audit.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )


def failures(path: Path) -> list[str]:
    return [f.get("message", "") for f in ET.parse(path).getroot().iter("failure")]


def test_a_high_finding_fails_when_the_data_is_reachable(tmp_path: Path) -> None:
    with osv_server() as url:
        result = audit(tmp_path, url)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"werkzeug==2.2.2: {RECORD['id']} severity HIGH (fixed in 2.2.3)" in result.stdout
    assert failures(tmp_path / "audit.xml") == ["1 finding(s) at or above HIGH"]


def test_a_finding_below_the_severity_is_reported_not_failed(tmp_path: Path) -> None:
    with osv_server() as url:
        result = audit(tmp_path, url, severity="CRITICAL")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"note werkzeug==2.2.2: {RECORD['id']}" in result.stdout
    assert "2 packages checked, 0 finding(s) at or above CRITICAL" in result.stdout
    assert failures(tmp_path / "audit.xml") == []


def test_unreachable_data_is_not_checked_never_green(tmp_path: Path) -> None:
    result = audit(tmp_path, closed_port_url())
    assert result.returncode == 0  # the junit step makes it UNSTABLE, not FAILURE
    assert result.stdout.startswith("dependencies not checked: http://127.0.0.1:")
    (message,) = failures(tmp_path / "audit.xml")
    assert message.startswith("dependencies not checked:") and "2 packages unaudited" in message


def security_stage(tmp_path: Path, osv_url: str):
    """The Jenkinsfile's own Security stage, run by the local runner on a copy of the app."""
    ws = tmp_path / "ws"
    shutil.copytree(ROOT / "app", ws / "app", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "scripts", ws / "scripts")
    pipeline = load(ROOT / "Jenkinsfile")
    stage = next(s for s in pipeline.stages if s.name == "Security")
    # The CI venv is this test environment's (it has the tools); the rest as the Jenkinsfile says.
    environment = {**pipeline.environment, "CI_VENV": str(BIN.parent)}
    pipeline = dataclasses.replace(pipeline, stages=[stage], post={}, environment=environment)
    number, folder = builds.new_build(tmp_path / "builds")
    env = {
        "PATH": f"{BIN}:/usr/bin:/bin",
        "OSV_URL": osv_url,
        "AUDIT_TIMEOUT": "5",
        "AUDIT_REQUIREMENTS": str(FIXTURE),
    }
    info = BuildInfo(number, "main", "0" * 40, folder)
    return run(pipeline, LocalWorkspace(ws, env), info, say=lambda _l: None), folder


def test_security_stage_is_unstable_offline_and_fails_on_a_finding(tmp_path: Path) -> None:
    summary, folder = security_stage(tmp_path / "offline", closed_port_url())
    stage = summary.stage("Security")
    assert stage.result is Result.UNSTABLE, (folder / stage.log).read_text()
    assert stage.reason.startswith("dependency-audit.vulnerability data reachable: ")
    assert "dependencies not checked" in stage.reason
    assert {"reports/sbom.json", "reports/bandit.json"} <= set(summary.artifacts)
    sbom = (folder / "artifacts" / "reports" / "sbom.json").read_text()
    assert '"bomFormat": "CycloneDX"' in sbom and "Werkzeug" in sbom

    with osv_server() as url:
        summary, folder = security_stage(tmp_path / "online", url)
    stage = summary.stage("Security")
    assert stage.result is Result.FAILURE
    assert (
        stage.first_error == f"FAIL werkzeug==2.2.2: {RECORD['id']} severity HIGH (fixed in 2.2.3)"
    )
