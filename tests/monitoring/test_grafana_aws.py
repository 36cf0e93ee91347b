"""Grafana on the aws target, validated offline. The monitoring server's user data installs
Grafana from its apt repository and stays small; the `monitoring` step copies the same
provisioning files that are committed under monitoring/grafana, the port and the admin password
(from SSM) over SSH, like Prometheus' files; the `monitoring.grafana` check reads Grafana's API
(here a small fake Grafana on loopback). On the local target Grafana is not installed: the
check SKIPs and says why, never PASS."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws

from vpclab.aws import limits
from vpclab.checklist import Status
from vpclab.checks import REGISTRY
from vpclab.hosts.ssh import Result
from vpclab.monitoring import grafana
from vpclab.monitoring.grafana_api import inspect
from vpclab.site import site_for
from vpclab.spec import load_spec
from vpclab.steps import monitoring
from vpclab.steps.compute import render_user_data

ROOT = Path(__file__).resolve().parents[2]
SPEC = load_spec(ROOT / "lab.toml")


def user_data(role: str, target: str) -> str:
    return render_user_data(SimpleNamespace(spec=SPEC, site=site_for(target)), role)


def test_only_the_aws_monitoring_server_installs_grafana_and_its_files_stay_out() -> None:
    aws = user_data("monitoring", "aws")
    assert (
        "deb [signed-by=/etc/apt/keyrings/grafana.asc] https://apt.grafana.com stable main" in aws
    )
    assert "apt_get install grafana" in aws
    assert grafana.PROVISIONING_DIR not in aws and '"panels"' not in aws
    assert len(aws.encode()) <= limits.USER_DATA_MAX_BYTES
    assert "grafana" not in user_data("monitoring", "local")
    assert "grafana" not in user_data("web", "aws")


def test_aws_monitoring_user_data_passes_shellcheck(tmp_path: Path) -> None:
    assert shutil.which("shellcheck"), "shellcheck is a test tool: scripts/bootstrap.sh installs it"
    path = tmp_path / "user-data.sh"
    path.write_text(user_data("monitoring", "aws"))
    result = subprocess.run(["shellcheck", "-s", "bash", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


# --- the monitoring step's Grafana part, over a stand-in SSH host ------------------------------


class FakeMonitoringHost:
    """A monitoring server as the step sees it over SSH: files, systemd, curl and Grafana's
    CLI, recorded."""

    name = "monitoring"
    via = None

    def __init__(self, password_ok: bool = True) -> None:
        self.files: dict[str, str] = {}
        self.owners: dict[str, str] = {}
        self.active = False
        self.restarts = 0
        self.password_ok = password_ok
        self.reset_with: list[str] = []

    def put_text(self, text: str, path: str, mode: int, sudo: bool = False, owner: str = ""):
        self.files[path] = text
        self.owners[path] = f"{owner} {mode:o}"

    def close(self) -> None:
        pass

    def run(self, cmd: str, sudo=False, check=True, timeout=300.0, env=None, input=None):
        if cmd.startswith("cat "):
            path = cmd.split(" ", 1)[1].strip("'")
            found = self.files.get(path)
            return Result(0 if found is not None else 1, found or "", "")
        if "systemctl is-active" in cmd:
            return Result(0 if self.active else 3, "", "")
        if "systemctl restart grafana-server" in cmd:
            self.restarts += 1
            self.active = True
        if cmd.startswith("curl "):
            assert input and "admin:" in input and "admin:" not in cmd  # password on stdin
            code = 200 if self.password_ok else 401
            return Result(0, f"{{}}\n{code}", "")
        if "reset-admin-password --password-from-stdin" in cmd:
            self.reset_with.append(input)
            self.password_ok = True
        return Result(0, "", "")


@pytest.fixture
def step_ctx(monkeypatch):
    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-east-1")
        said: list[str] = []
        ctx = SimpleNamespace(
            spec=SPEC,
            cloud=SimpleNamespace(client=lambda _service: ssm),
            site=site_for("aws"),
            say=said.append,
            creator=None,
        )
        yield ctx, ssm, said


def use_host(monkeypatch, host: FakeMonitoringHost) -> None:
    monkeypatch.setattr(monitoring.remote, "open_role", lambda _ctx, role: host)
    monkeypatch.setattr(monitoring.remote, "close", lambda _host: None)


def test_the_step_copies_grafanas_files_port_and_ssm_password_over_ssh(step_ctx, monkeypatch):
    ctx, ssm, said = step_ctx
    host = FakeMonitoringHost()
    use_host(monkeypatch, host)
    monitoring.grafana(ctx)
    password = ssm.get_parameter(
        Name="/vpclab/microblog/grafana/admin-password", WithDecryption=True
    )["Parameter"]
    assert password["Type"] == "SecureString"
    for path, content in grafana.host_files(SPEC).items():
        assert host.files[path] == content
        relative = path.split("/grafana/", 1)[1]
        assert (ROOT / "monitoring" / "grafana" / relative).read_text() == content
        assert host.owners[path] == "root:grafana 640"
    assert host.files[grafana.PASSWORD_FILE] == password["Value"] + "\n"
    dropin = host.files[grafana.UNIT_DROPIN]
    assert f"GF_SERVER_HTTP_PORT={SPEC.ports.grafana}" in dropin
    assert password["Value"] not in dropin  # the unit names the file, not the secret
    assert host.restarts == 1 and host.reset_with == []
    # A second run with nothing changed and Grafana running restarts nothing.
    monitoring.grafana(ctx)
    assert host.restarts == 1


def test_a_refused_password_is_reset_from_ssm_on_stdin(step_ctx, monkeypatch):
    ctx, ssm, _said = step_ctx
    host = FakeMonitoringHost(password_ok=False)
    use_host(monkeypatch, host)
    monitoring.grafana(ctx)
    value = ssm.get_parameter(Name="/vpclab/microblog/grafana/admin-password", WithDecryption=True)[
        "Parameter"
    ]["Value"]
    assert host.reset_with == [value + "\n"]


def test_on_the_local_target_grafana_is_skipped_and_says_why(step_ctx, monkeypatch):
    ctx, ssm, said = step_ctx
    ctx.site = site_for("local")
    monkeypatch.setattr(monitoring.remote, "open_role", lambda *_a: pytest.fail("no SSH"))
    monitoring.grafana(ctx)
    assert said == [f"monitoring: Grafana skipped: {grafana.NOT_ON_LOCAL}"]
    assert ssm.describe_parameters()["Parameters"] == []


# --- the check: Grafana's API (a fake Grafana on loopback) ---------------------------------------


class FakeGrafana(BaseHTTPRequestHandler):
    password = "right-password"
    dashboard = True
    datasource_ok = True

    def log_message(self, *_args) -> None:
        pass

    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path == "/api/health":
            return self._send(200, {"database": "ok", "version": "12.0.0"})
        expected = "Basic " + base64.b64encode(f"admin:{self.password}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            return self._send(401, {"message": "Invalid username or password"})
        uid = grafana.DATASOURCE_UID
        if self.path == f"/api/datasources/uid/{uid}":
            return self._send(200, {"name": "Prometheus", "url": "http://127.0.0.1:9090"})
        if self.path == f"/api/datasources/uid/{uid}/health":
            if self.datasource_ok:
                return self._send(200, {"status": "OK", "message": "Successfully queried"})
            return self._send(400, {"status": "ERROR", "message": "connection refused"})
        if self.path == f"/api/dashboards/uid/{grafana.DASHBOARD_UID}" and self.dashboard:
            board = json.loads(grafana.files(SPEC)["dashboards/microblog.json"])
            return self._send(200, {"dashboard": board})
        return self._send(404, {"message": "Not found"})


@pytest.fixture
def fake_grafana():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeGrafana)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        FakeGrafana.dashboard = FakeGrafana.datasource_ok = True


def http_get(server, password: str):
    def get(path: str) -> tuple[int, str]:
        url = f"http://127.0.0.1:{server.server_port}{path}"
        auth = base64.b64encode(f"admin:{password}".encode()).decode()
        request = urllib.request.Request(url, headers={"Authorization": f"Basic {auth}"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    return get


def test_inspect_reads_health_datasource_and_dashboard(fake_grafana) -> None:
    state = inspect(http_get(fake_grafana, "right-password"), "prometheus", grafana.DASHBOARD_UID)
    assert state.ok, state.detail
    panels = len(grafana.dashboard(SPEC).panels)
    assert f"{panels} panels" in state.detail and "Prometheus" in state.detail
    refused = inspect(http_get(fake_grafana, "wrong"), "prometheus", grafana.DASHBOARD_UID)
    assert not refused.ok and "401" in refused.detail
    FakeGrafana.datasource_ok = False
    broken = inspect(http_get(fake_grafana, "right-password"), "prometheus", "x")
    assert not broken.ok and "connection refused" in broken.detail
    FakeGrafana.datasource_ok, FakeGrafana.dashboard = True, False
    missing = inspect(http_get(fake_grafana, "right-password"), "prometheus", "vpclab-microblog")
    assert not missing.ok and "no dashboard" in missing.detail


def grafana_check():
    import vpclab.checks.monitoring  # noqa: F401 (registers the checks)

    (found,) = [c for c in REGISTRY if c.id == "monitoring.grafana"]
    return found


def test_the_check_skips_on_the_local_target_and_inside_a_build(monkeypatch) -> None:
    check = grafana_check()
    facts = SimpleNamespace(spec=SPEC, site=site_for("local"))
    result = check.result(facts)
    assert result.status is Status.SKIP and result.detail == grafana.NOT_ON_LOCAL
    monkeypatch.setenv("BUILD_NUMBER", "3")
    monkeypatch.setenv("WORKSPACE", "/tmp/ws")
    facts.site = site_for("aws")
    result = check.result(facts)
    assert result.status is Status.SKIP and "operator's, not Jenkins'" in result.detail
