"""`vpclab pipeline run` on the local target: the Jenkins host of the lab runs the Jenkinsfile.

What the lab gives the build, in place of what real Jenkins on AWS has:
- the workspace is a checkout of the lab's git remote (the internet namespace's git daemon),
  at the branch's commit as the remote serves it;
- Build installs from the lab internet's wheel index (it serves the pipeline's tools beside
  the app's requirements), since the Jenkins host has no PyPI;
- Deploy and Verify find the lab as on AWS: the Jenkins host's own tags through its
  instance metadata, and the lab's state with its instance profile's keys, against moto with
  IAM enforced (`localcloud.imds`); the region and the control plane's address are in the
  host's AWS config file. Verify runs the kit's own vpclab (the "local image"): checks that
  need the data plane's root SKIP there, with the reason;
- vulnerability data is not in the lab's internet, so Security's audit says "not checked".

The build's environment is Jenkins' own variables, what Configuration as Code gives real
Jenkins (`render/jenkins/casc.yaml`), and the local image's differences below, each with its
reason; nothing names a host, the lab or an endpoint (tests/pipeline/test_build_env.py).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from vpclab import remote
from vpclab.errors import VpclabError
from vpclab.facts.ssh_keys import JENKINS_USER
from vpclab.localcloud import client
from vpclab.paths import local_dir
from vpclab.pipeline import builds
from vpclab.pipeline.builds import BuildSummary
from vpclab.pipeline.host import JOB, HostWorkspace
from vpclab.pipeline.jenkinsfile import read
from vpclab.pipeline.runner import BuildInfo, run
from vpclab.served import handout_project

HOST_PYTHON = "/usr/bin/python3"
NO_VULNERABILITY_DATA = "http://127.0.0.1:9/v1/query"  # nothing listens: the lab has no OSV
MIRROR_WAIT = 60.0  # seconds for the lab's mirror to serve a new commit

# Variables real Jenkins sets for every build of a multibranch job (so does the runner).
JENKINS_OWN = frozenset({"JOB_NAME", "GIT_URL", "GIT_BRANCH"})
# casc.yaml's variables a local build does not get, with the reason.
CASC_ONLY = {
    "DEPENDENCY_AUDIT": "the local image has no Dependency-Check (its stage is real Jenkins')",
    "DEPENDENCY_CHECK_HOME": "the local image has no Dependency-Check (its stage is real Jenkins')",
}
# What a local build gets that real Jenkins does not, with the reason.
LOCAL_IMAGE = {
    "PYTHON": "the local image's Python is the machine's, not the AMI's python3 on PATH",
    "PIP_ARGS": "the lab has no PyPI: the lab internet's wheel index serves the tools",
    "OSV_URL": "the lab's internet has no vulnerability data: the audit says 'not checked'",
    "AUDIT_TIMEOUT": "nothing answers at OSV_URL: give up at once",
    "VPCLAB": "the wheel index has no vpclab dependencies: the local image runs the kit's",
}


def build_env(git_url: str, branch: str, region: str, pip_args: str) -> dict[str, str]:
    """The environment of a local build (see the module's docstring)."""
    return {
        "JOB_NAME": JOB,
        "GIT_URL": git_url,
        "GIT_BRANCH": branch,
        "AWS_DEFAULT_REGION": region,  # casc.yaml: the instance profile gives no region
        "PYTHON": HOST_PYTHON,
        "PIP_ARGS": pip_args,
        "OSV_URL": NO_VULNERABILITY_DATA,
        "AUDIT_TIMEOUT": "3",
        "VPCLAB": kit_vpclab(),
    }


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
    handout_project(reach.spec_path)  # a handout's files as they are now, committed
    served = remote.services(reach)
    assert served is not None  # the local target always has them (or raised)
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
        env = build_env(served.git_url, branch, reach.spec.region, " ".join(served.pip_args))
        builds_dir = builds.builds_dir(reach.spec.name, reach.spec_path)
        number, folder = builds.new_build(builds_dir)
        info = BuildInfo(number, branch, commit, folder, env=env)
        say(f"build #{number}")
        return run(pipeline, ws, info, say=say)
    finally:
        remote.close(host)
