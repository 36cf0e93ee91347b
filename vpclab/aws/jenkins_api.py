"""Real Jenkins (aws target) through its REST API: trigger the workload_4 job's build of
`main`, wait for it, and read builds as the checks' BuildSummary. The connection is a plain
HTTP stream handed in (an SSH direct-tcpip channel to the Jenkins host's 127.0.0.1:8080, or a
loopback socket in tests); the admin password comes from SSM, never from a file here.

Jenkins wants a CSRF crumb on every POST, valid only in the web session that asked for it, so
the session cookie is kept between the two requests."""

from __future__ import annotations

import base64
import http.client
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlparse

from vpclab.errors import VpclabError
from vpclab.pipeline.builds import BuildSummary, Result, StageResult, TestCounts

JOB = "workload_4"
BRANCH = "main"
PORT = 8080
AUDIT_UNCHECKED = "dependencies not checked"
# wfapi's stage statuses, as the local runner's results.
STAGE_RESULT = {
    "SUCCESS": Result.SUCCESS,
    "UNSTABLE": Result.UNSTABLE,
    "FAILED": Result.FAILURE,
    "ABORTED": Result.FAILURE,
    "NOT_EXECUTED": Result.SKIPPED,
}
BUILD_RESULT = {
    "SUCCESS": Result.SUCCESS,
    "UNSTABLE": Result.UNSTABLE,
    "FAILURE": Result.FAILURE,
    "ABORTED": Result.FAILURE,
    "NOT_BUILT": Result.SKIPPED,
}
TEST_SUITE = "pytest"  # the Test stage's JUnit (pytest's suite name); others are audits


class JenkinsError(VpclabError):
    """Jenkins answered something the kit cannot use."""


Connect = Callable[[], object]  # a connected, socket-like stream to Jenkins


@dataclass
class Jenkins:
    connect: Connect
    password: str
    user: str = "admin"
    host: str = f"127.0.0.1:{PORT}"
    _cookie: str = field(default="", repr=False)

    def request(self, method: str, path: str) -> tuple[int, dict[str, str], str]:
        crumb = self._crumb() if method == "POST" else {}  # first: it sets the session cookie
        auth = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        headers = {"Authorization": f"Basic {auth}", "Host": self.host, **crumb}
        if self._cookie:
            headers["Cookie"] = self._cookie
        if method == "POST":
            headers["Content-Length"] = "0"
        conn = http.client.HTTPConnection(self.host, timeout=30)
        conn.sock = self.connect()
        try:
            conn.request(method, path, headers=headers)
            reply = conn.getresponse()
            body = reply.read().decode(errors="replace")
            found = {k.lower(): v for k, v in reply.getheaders()}
        finally:
            conn.close()
        if "set-cookie" in found:
            self._cookie = found["set-cookie"].split(";", 1)[0]
        if reply.status == 401:
            raise JenkinsError(
                "Jenkins refused the admin password from SSM (HTTP 401)",
                "the Jenkins server keeps the password it first started with: replace it with "
                "'vpclab down' and 'vpclab up'",
            )
        return reply.status, found, body

    def _crumb(self) -> dict[str, str]:
        status, _headers, body = self.request("GET", "/crumbIssuer/api/json")
        if status == 404:  # CSRF protection off: no crumb needed
            return {}
        data = json.loads(body)
        return {data["crumbRequestField"]: data["crumb"]}

    def get_json(self, path: str) -> dict | None:
        status, _headers, body = self.request("GET", path)
        if status == 404:
            return None
        if status != 200:
            raise JenkinsError(f"Jenkins answered HTTP {status} for {path.split('?')[0]}")
        return json.loads(body)

    def post(self, path: str) -> dict[str, str]:
        status, headers, _body = self.request("POST", path)
        if status not in (200, 201, 302):
            raise JenkinsError(f"Jenkins answered HTTP {status} for POST {path.split('?')[0]}")
        return headers

    # -- the job ---------------------------------------------------------------------------

    @property
    def branch(self) -> str:
        return f"/job/{JOB}/job/{BRANCH}"

    def branch_exists(self) -> bool:
        return self.get_json(f"{self.branch}/api/json?tree=name") is not None

    def scan(self) -> None:
        """Scan the multibranch job's repository now (it also scans every 5 minutes)."""
        self.post(f"/job/{JOB}/build?delay=0")

    def trigger(self) -> str:
        """Start a build of main; the queue item's path."""
        headers = self.post(f"{self.branch}/build?delay=0sec")
        location = headers.get("location", "")
        if "/queue/item/" not in location:
            raise JenkinsError("Jenkins queued the build but gave no queue item")
        return urlparse(location).path

    def queued_number(self, queue_path: str) -> int | None:
        """The build number a queue item became, or None while it waits."""
        item = self.get_json(f"{queue_path.rstrip('/')}/api/json") or {}
        if item.get("cancelled"):
            raise JenkinsError("Jenkins cancelled the queued build", "start it again in Jenkins")
        executable = item.get("executable") or {}
        return executable.get("number")

    def numbers(self, count: int = 10) -> list[int]:
        found = self.get_json(f"{self.branch}/api/json?tree=builds[number]{{0,{count}}}") or {}
        return [b["number"] for b in found.get("builds", [])]

    def building(self, number: int) -> bool:
        data = self.get_json(f"{self.branch}/{number}/api/json?tree=building") or {}
        return bool(data.get("building", True))

    def summary(self, number: int) -> BuildSummary | None:
        """A finished build as the checks read it, or None while it runs."""
        tree = "number,result,building,timestamp,duration,actions[lastBuiltRevision[SHA1]]"
        data = self.get_json(f"{self.branch}/{number}/api/json?tree={tree}")
        if data is None or data.get("building") or data.get("result") is None:
            return None
        commit = next(
            (
                a["lastBuiltRevision"]["SHA1"]
                for a in data.get("actions", [])
                if a and a.get("lastBuiltRevision")
            ),
            "",
        )
        cases = self._cases(number)
        stages = [
            self._stage(s, cases)
            for s in (self.get_json(f"{self.branch}/{number}/wfapi/describe") or {}).get(
                "stages", []
            )
        ]
        started = datetime.fromtimestamp(data.get("timestamp", 0) / 1000, UTC)
        return BuildSummary(
            number=number,
            branch=BRANCH,
            commit=commit,
            result=BUILD_RESULT.get(data["result"], Result.FAILURE),
            started=started.isoformat(timespec="seconds"),
            seconds=data.get("duration", 0) / 1000,
            stages=stages,
        )

    def _cases(self, number: int) -> list[dict]:
        tree = "suites[name,cases[className,name,status,errorDetails]]"
        report = self.get_json(f"{self.branch}/{number}/testReport/api/json?tree={tree}") or {}
        return [
            {**case, "suite": suite.get("name", "")}
            for suite in report.get("suites", [])
            for case in suite.get("cases", [])
        ]

    @staticmethod
    def _stage(stage: dict, cases: list[dict]) -> StageResult:
        result = STAGE_RESULT.get(stage.get("status", ""), Result.FAILURE)
        failing = [c for c in cases if c.get("status") in ("FAILED", "REGRESSION")]
        reason = None
        if result is Result.UNSTABLE:
            unchecked = [c for c in failing if AUDIT_UNCHECKED in (c.get("errorDetails") or "")]
            if unchecked and len(unchecked) == len(failing):
                reason = unchecked[0]["errorDetails"]
            elif failing:
                reason = f"{failing[0]['name']}: {failing[0].get('errorDetails') or 'failed'}"
        tests = None
        if stage.get("name") == "Test":
            own = [c for c in cases if c["suite"] == TEST_SUITE]
            tests = TestCounts(
                total=len(own),
                failed=sum(c.get("status") in ("FAILED", "REGRESSION") for c in own),
                skipped=sum(c.get("status") == "SKIPPED" for c in own),
            )
        return StageResult(
            name=stage.get("name", "?"),
            result=result,
            seconds=stage.get("durationMillis", 0) / 1000,
            reason=reason,
            first_error=(stage.get("error") or {}).get("message"),
            tests=tests,
        )

    def summaries(self, count: int = 10) -> list[BuildSummary]:
        """The last finished builds of main, newest first."""
        found = (self.summary(n) for n in self.numbers(count))
        return [s for s in found if s is not None]
