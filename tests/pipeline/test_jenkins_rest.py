"""Real Jenkins is watched through its REST API, here a small fake Jenkins on loopback that
behaves as Jenkins does where it matters: basic auth, a CSRF crumb valid only with its session
cookie, a multibranch job whose branch appears after a scan, a queue item that becomes a build,
wfapi stages and a JUnit test report. The `pipeline` step triggers and waits; the checks read
the builds; nothing here leaves 127.0.0.1."""

from __future__ import annotations

import base64
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from urllib.parse import urlparse

import pytest

from vpclab.aws.jenkins_api import Jenkins, JenkinsError
from vpclab.aws.retry import Pacing
from vpclab.checklist import Status
from vpclab.checks import REGISTRY
from vpclab.checks.pipeline import audit_only
from vpclab.errors import VpclabError
from vpclab.pipeline.builds import Result
from vpclab.site import site_for
from vpclab.steps import pipeline as pipeline_step

PASSWORD = "from-ssm"
COMMIT = "3f2a9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b"
BRANCH = "/job/workload_4/job/main"


def stages(deploy: str = "SUCCESS", audit: str = "UNSTABLE") -> list[dict]:
    names = {"Build": "SUCCESS", "Test": "SUCCESS", "Security": "SUCCESS"}
    names |= {"Dependency-Check": audit, "Deploy": deploy, "Verify": "SUCCESS"}
    if deploy != "SUCCESS":
        names["Verify"] = "NOT_EXECUTED"
    return [
        {"name": n, "status": s, "durationMillis": 1500}
        | ({"error": {"message": "script returned exit code 1"}} if s == "FAILED" else {})
        for n, s in names.items()
    ]


def junit_report(unchecked: bool = True) -> dict:
    pytest_cases = [
        {"className": "tests.app", "name": f"t{i}", "status": "PASSED"} for i in range(5)
    ]
    pytest_cases.append({"className": "tests.app", "name": "slow", "status": "SKIPPED"})
    audit = [
        {
            "className": "dependency-audit",
            "name": "dependencies checked by Dependency-Check",
            "status": "FAILED" if unchecked else "PASSED",
            "errorDetails": "dependencies not checked: no NVD API key" if unchecked else None,
        }
    ]
    return {
        "suites": [
            {"name": "pytest", "cases": pytest_cases},
            {"name": "dependency-audit", "cases": audit},
        ]
    }


class FakeJenkins(BaseHTTPRequestHandler):
    state: dict = {}

    def log_message(self, *_args) -> None:
        pass

    def _send(self, code: int, body: object = None, headers: dict | None = None) -> None:
        data = json.dumps(body if body is not None else {}).encode()
        self.send_response(code)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        want = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
        return self.headers.get("Authorization") == want

    def do_GET(self) -> None:  # noqa: N802
        st = self.state
        st["requests"].append(("GET", self.path))
        if not self._authorized():
            return self._send(401)
        path = urlparse(self.path).path
        if path == "/crumbIssuer/api/json":
            st["session"] = "JSESSIONID.x=abc123"
            headers = {"Set-Cookie": f"{st['session']}; Path=/; HttpOnly"}
            body = {"crumbRequestField": "Jenkins-Crumb", "crumb": "c0ffee"}
            return self._send(200, body, headers)
        if path == f"{BRANCH}/api/json":
            if not st["branch"]:
                return self._send(404)
            if "builds" in self.path:
                numbers = sorted(st["builds"], reverse=True)
                return self._send(200, {"builds": [{"number": n} for n in numbers]})
            return self._send(200, {"name": "main"})
        if path.startswith("/queue/item/"):
            st["queue_polls"] += 1
            if st["queue_polls"] < 2:
                return self._send(200, {"why": "Waiting for next available executor"})
            return self._send(200, {"executable": {"number": st["next"]}})
        parts = path.removeprefix(BRANCH + "/").split("/")
        if parts[0].isdigit() and int(parts[0]) in st["builds"]:
            build = st["builds"][int(parts[0])]
            if parts[1:] == ["api", "json"]:
                build["polls"] = build.get("polls", 0) + 1
                running = build["polls"] < 2
                return self._send(
                    200,
                    {
                        "number": int(parts[0]),
                        "building": running,
                        "result": None if running else build["result"],
                        "timestamp": 1796000000000,
                        "duration": 123000,
                        "actions": [{}, {"lastBuiltRevision": {"SHA1": build["commit"]}}],
                    },
                )
            if parts[1:] == ["wfapi", "describe"]:
                return self._send(200, {"stages": build["stages"]})
            if parts[1:] == ["testReport", "api", "json"]:
                return self._send(200, build["tests"])
        return self._send(404)

    def do_POST(self) -> None:  # noqa: N802
        st = self.state
        st["requests"].append(("POST", self.path))
        if not self._authorized():
            return self._send(401)
        if self.headers.get("Jenkins-Crumb") != "c0ffee" or self.headers.get("Cookie") != st.get(
            "session"
        ):
            return self._send(403, {"message": "No valid crumb was included in the request"})
        path = urlparse(self.path).path
        if path == "/job/workload_4/build":
            st["branch"] = True
            return self._send(200)
        if path == f"{BRANCH}/build":
            st["queue_polls"] = 0
            number = st["next"] = max(st["builds"] or [0]) + 1
            st["builds"][number] = {
                "result": "UNSTABLE",
                "commit": st["head"],
                "stages": stages(),
                "tests": junit_report(),
            }
            st["triggered"] += 1
            return self._send(201, headers={"Location": "http://127.0.0.1:8080/queue/item/42/"})
        return self._send(404)


@pytest.fixture
def fake_jenkins():
    FakeJenkins.state = {
        "requests": [],
        "branch": False,
        "builds": {},
        "next": 0,
        "queue_polls": 0,
        "triggered": 0,
        "head": COMMIT,
    }
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeJenkins)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, FakeJenkins.state
    finally:
        server.shutdown()
        server.server_close()


def client(server, password: str = PASSWORD) -> Jenkins:
    return Jenkins(lambda: socket.create_connection(("127.0.0.1", server.server_port)), password)


def test_a_post_carries_the_crumb_with_its_session_cookie(fake_jenkins):
    server, state = fake_jenkins
    jenkins = client(server)
    assert not jenkins.branch_exists()
    jenkins.scan()
    assert jenkins.branch_exists()
    queue = jenkins.trigger()
    assert queue == "/queue/item/42/"
    assert jenkins.queued_number(queue) is None and jenkins.queued_number(queue) == 1
    assert jenkins.summary(1) is None  # still building
    summary = jenkins.summary(1)
    assert summary.result is Result.UNSTABLE and summary.commit == COMMIT
    assert [s.name for s in summary.stages][-2:] == ["Deploy", "Verify"]
    test = summary.stage("Test")
    assert (test.tests.total, test.tests.failed, test.tests.skipped) == (6, 0, 1)
    audit = summary.stage("Dependency-Check")
    assert audit.result is Result.UNSTABLE and "no NVD API key" in audit.reason
    assert audit_only(summary)  # UNSTABLE only because the audit could not check


def test_a_refused_password_is_one_clear_error(fake_jenkins):
    server, _state = fake_jenkins
    with pytest.raises(JenkinsError, match="refused the admin password from SSM"):
        client(server, "wrong").branch_exists()


@pytest.fixture
def step_on(fake_jenkins, monkeypatch):
    server, state = fake_jenkins
    said: list[str] = []
    ctx = SimpleNamespace(
        spec=SimpleNamespace(name="microblog"),
        cloud=SimpleNamespace(target="aws"),
        site=site_for("aws"),
        say=said.append,
        pacing=Pacing.fake(),
    )
    ctx.wait_for = lambda read, done, what, hint="": pipeline_step.retry.poll(
        read, done, what=what, budget=60, pacing=ctx.pacing
    )
    monkeypatch.setattr(pipeline_step.remote, "unreachable", lambda _reach: None)
    monkeypatch.setattr(pipeline_step, "jenkins_of", lambda _reach: client(server))
    served = {"commit": None}
    monkeypatch.setattr(pipeline_step, "served_commit", lambda _ctx: served["commit"])
    return ctx, state, said, served


def test_the_step_triggers_main_once_the_keys_exist_waits_and_is_then_idempotent(step_on):
    ctx, state, said, served = step_on
    summary = pipeline_step.watch_jenkins(ctx)
    assert state["triggered"] == 1 and summary.number == 1
    assert ("POST", "/job/workload_4/build?delay=0") in state["requests"]  # scanned first
    assert any("build #1 of 3f2a9c0d1e2f: UNSTABLE" in line for line in said)
    # The deploy served that commit: a second `up` triggers nothing.
    served["commit"] = COMMIT
    again = pipeline_step.watch_jenkins(ctx)
    assert state["triggered"] == 1 and again.number == 1


def test_a_failed_build_stops_the_step_naming_the_stage(step_on, monkeypatch):
    ctx, state, _said, _served = step_on
    state["branch"] = True
    original = FakeJenkins.do_POST

    def failing_deploy(handler) -> None:
        original(handler)
        for build in state["builds"].values():
            build.update(result="FAILURE", stages=stages(deploy="FAILED"))

    monkeypatch.setattr(FakeJenkins, "do_POST", failing_deploy)
    with pytest.raises(VpclabError, match="failed at Deploy: script returned exit code 1"):
        pipeline_step.watch_jenkins(ctx)


def test_a_stand_in_is_not_reached(monkeypatch):
    said: list[str] = []
    ctx = SimpleNamespace(say=said.append)
    monkeypatch.setattr(pipeline_step.remote, "unreachable", lambda _r: "a stand-in")
    monkeypatch.setattr(pipeline_step, "jenkins_of", lambda _r: pytest.fail("no Jenkins"))
    assert pipeline_step.watch_jenkins(ctx) is None
    assert said == ["pipeline: Jenkins not reached: a stand-in"]


def check(check_id: str):
    import vpclab.checks.pipeline  # noqa: F401 (registers the checks)

    (found,) = [c for c in REGISTRY if c.id == check_id]
    return found


def test_the_checks_read_real_jenkins_on_aws(fake_jenkins, monkeypatch):
    server, state = fake_jenkins
    state["branch"] = True
    jenkins = client(server)
    jenkins.trigger()
    assert jenkins.summary(1) is None  # running: the checks see finished builds only
    monkeypatch.setattr("vpclab.checks.pipeline.remote.unreachable", lambda _f: None)
    monkeypatch.setattr("vpclab.facts.server_apis.jenkins_of", lambda _f: client(server))
    for key in ("BUILD_NUMBER", "WORKSPACE"):
        monkeypatch.delenv(key, raising=False)
    facts = SimpleNamespace(
        spec=SimpleNamespace(name="microblog"),
        cloud=SimpleNamespace(target="aws"),
        site=site_for("aws"),
    )
    green = check("pipeline.last_build_green").result(facts)
    assert green.status is Status.PASS and "dependencies not checked" in green.detail
    tests = check("pipeline.tests_published").result(facts)
    assert tests.status is Status.PASS and "6 tests" in tests.detail
    state["builds"][1].update(result="FAILURE", stages=stages(deploy="FAILED"))
    facts = SimpleNamespace(spec=facts.spec, cloud=facts.cloud, site=facts.site)  # reads again
    red = check("pipeline.last_build_green").result(facts)
    assert red.status is Status.FAIL and "stage Deploy" in red.detail
    assert "script returned exit code 1" in red.hint
