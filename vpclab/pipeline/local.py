"""`vpclab pipeline run` on the local target: the Jenkins host of the lab runs the Jenkinsfile.

What the lab gives the build, in place of what real Jenkins on AWS has:
- the workspace is a checkout of the lab's git remote (the internet namespace's git daemon),
  at the branch's commit as the remote serves it;
- Build installs from the lab internet's wheel index (it serves the pipeline's tools beside
  the app's requirements), since the Jenkins host has no PyPI;
- Deploy gets the web server's private address from the lab's state (the web server's
  deploy gate knows the rest);
- Verify runs `vpclab verify --junit` on the Jenkins host with the kit's own vpclab (the
  "local image"), reading the control plane through a reverse SSH port forward to the
  build's gate (`gate`): the reads the Jenkins instance profile allows on AWS, no change and
  no `/moto-api`. Checks that need the data plane's root SKIP there, with the reason.
- vulnerability data is not in the lab's internet, so Security's audit says "not checked".
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

from vpclab.errors import VpclabError
from vpclab.hosts.ssh import Host
from vpclab.localcloud import client
from vpclab.paths import local_dir
from vpclab.pipeline import builds, forward, gate
from vpclab.pipeline.builds import BuildSummary
from vpclab.pipeline.host import JOB, HostWorkspace
from vpclab.pipeline.jenkinsfile import read
from vpclab.pipeline.runner import BuildInfo, run
from vpclab.steps import remote
from vpclab.steps.keys import JENKINS_USER

HOST_PYTHON = "/usr/bin/python3"
NO_VULNERABILITY_DATA = "http://127.0.0.1:9/v1/query"  # nothing listens: the lab has no OSV
MIRROR_WAIT = 60.0  # seconds for the lab's mirror to serve a new commit


def project_commit(reach: remote.Reach, branch: str) -> str | None:
    """The branch's commit in the project the lab's git remote mirrors, when known here."""
    record = client.running(local_dir(reach.spec_path))
    if record is None or not record.repo_root:
        return None
    done = subprocess.run(
        ["git", "-C", record.repo_root, "rev-parse", "--verify", "-q", f"refs/heads/{branch}"],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() or None


def kit_vpclab() -> str:
    """This kit's own vpclab command, which the Jenkins host (the local image) can run."""
    return str(Path(sys.executable).parent / "vpclab")


def run_on_lab(
    reach: remote.Reach,
    ref: str | None = None,
    say: Callable[[str], None] = print,
    verify_through: str | None = None,
) -> BuildSummary:
    """Run one build of the branch `ref` (default: the remote's default branch)."""
    if reach.cloud.site.runs_jenkins:
        raise VpclabError(
            "on the aws target the pipeline runs in Jenkins",
            f"start the {JOB} job in Jenkins (port 8080 of the Jenkins server)",
        )
    reason = remote.unreachable(reach)
    if reason:
        raise VpclabError(f"cannot run the pipeline: {reason}", "run 'vpclab up' as root")
    served = remote.services(reach)
    assert served is not None  # the local target always has them (or raised)
    web = remote.where(reach, "web")
    host = remote.open_role(reach, "jenkins")
    try:
        home = remote.home_of(host, JENKINS_USER)
        ws = HostWorkspace(host, JENKINS_USER, home, {"PIP_CONFIG_FILE": "/dev/null"})
        branch = ref or ws.remote_head_branch(served.git_url)
        wanted = project_commit(reach, branch)
        commit = ws.wait_for(served.git_url, branch, wanted, MIRROR_WAIT)
        say(f"checking out {branch} @ {commit[:12]} from {served.git_url} on the Jenkins host")
        ws.checkout(served.git_url, commit)
        pipeline = read(ws.run(f"cat {ws.root}/Jenkinsfile"))
        spec = ws.put_text("lab/lab.toml", reach.spec_path.read_text())
        verify_args = f"--spec {spec} --target local"
        if verify_through:
            verify_args += f" --through {verify_through}"
        pip_args = " ".join(served.pip_args)
        env = {
            "JOB_NAME": JOB,
            "GIT_URL": served.git_url,
            "GIT_BRANCH": branch,
            "PYTHON": HOST_PYTHON,
            "PIP_ARGS": pip_args,
            "WEB_HOST": web.private_ip,
            "OSV_URL": NO_VULNERABILITY_DATA,
            "AUDIT_TIMEOUT": "3",
            "VPCLAB": kit_vpclab(),
            "VPCLAB_ARGS": verify_args,
        }
        with control_plane_for_build(reach, host) as endpoint:
            env["AWS_ENDPOINT_URL"] = endpoint
            builds_dir = builds.builds_dir(reach.spec.name, reach.spec_path)
            number, folder = builds.new_build(builds_dir)
            info = BuildInfo(number, branch, commit, folder, env=env)
            say(f"build #{number}")
            return run(pipeline, ws, info, say=say)
    finally:
        remote.close(host)


@contextlib.contextmanager
def control_plane_for_build(reach: remote.Reach, host: Host) -> Iterator[str]:
    """The control plane as a build on the Jenkins host `host` sees it, as an endpoint URL
    there: a reverse SSH forward to the gate (`gate`), which allows what the Jenkins role
    may do on AWS and nothing else."""
    endpoint = urllib.parse.urlsplit(reach.cloud.endpoint or "")
    if not endpoint.hostname or not endpoint.port:
        raise VpclabError(f"no control-plane endpoint ({endpoint!r})", "'vpclab local start'")
    entry = gate.open_gate(reach.cloud.endpoint or "")
    try:
        # Not over loopback TCP: a jailed kernel's new connections may reach the relay only.
        with forward.reverse(host.transport, entry.attach) as port:
            yield f"http://127.0.0.1:{port}"
    finally:
        entry.stop()
