"""The deployment's hardening on real local hosts: Jenkins' key can only deploy, the keys
step follows no planted link, the env file is never run as shell, and `vpclab up` mends a
loosened env file, password login switched back on by an earlier sshd drop-in, and an extra
rule in the web security group."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import uuid

import pytest

from tests.deploy.conftest import DeployLab, git_mirror
from tests.reallab import all_green, eventually, git
from vpclab import remote
from vpclab.checklist import Status
from vpclab.facts import app_deploy, ssh_keys
from vpclab.steps import BUILT, keys

SSH = "ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=5"


@pytest.fixture(scope="module")
def up(deployed: DeployLab) -> DeployLab:
    """The shared lab, once `vpclab up` served the microblog all green (tests/reallab.py)."""
    return deployed


def _check(lab: DeployLab, step: str, check_id: str):
    return {r.id: r for r in lab.lab().verify(step=step)}[check_id]


def _as_jenkins(lab: DeployLab, line: str, timeout: float = 120):
    """A command line run on the Jenkins host as user jenkins."""
    host = remote.open_role(lab.lab().context(), "jenkins")
    try:
        return host.run(remote.as_user(ssh_keys.JENKINS_USER, line), check=False, timeout=timeout)
    finally:
        remote.close(host)


def _on(lab: DeployLab, role: str, line: str, sudo: bool = True):
    host = remote.open_role(lab.lab().context(), role)
    try:
        return host.run(line, sudo=sudo, check=False, timeout=120)
    finally:
        remote.close(host)


def _push_commit(lab: DeployLab, tmp_path) -> tuple[str, str]:
    """A new commit on a throwaway branch of the lab's git mirror: (branch, commit)."""
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", git_mirror(lab), str(work)], check=True)
    (work / "NOTES.md").write_text(f"deployed by Jenkins' gate {uuid.uuid4().hex[:6]}\n")
    branch = f"vpclab-test-gate-{uuid.uuid4().hex[:6]}"
    git(work, "add", "NOTES.md")
    git(work, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "gate")
    git(work, "push", "-q", "origin", f"HEAD:refs/heads/{branch}")
    return branch, git(work, "rev-parse", "HEAD")


def test_jenkins_key_deploys_and_can_do_nothing_else(up: DeployLab, tmp_path):
    ctx = up.lab().context()
    web, app = remote.where(ctx, "web").private_ip, remote.where(ctx, "app").private_ip
    login = f"{SSH} {ssh_keys.DEPLOY_USER}@{web}"

    shell = _as_jenkins(up, f"{login} 'id -un' </dev/null")
    assert shell.rc != 0 and ssh_keys.DEPLOY_USER not in shell.stdout, shell
    assert "deploy-gate: refused 'id -un'" in shell.stderr
    upload = _as_jenkins(up, f"echo x | {login} 'cat > .ssh/authorized_keys'")
    assert upload.rc != 0 and "deploy-gate: refused" in upload.stderr

    # A remote forward is refused at once (restrict); accepted, -N would hang until timeout.
    remote_fwd = _as_jenkins(
        up, f"timeout 15 {SSH} -N -o ExitOnForwardFailure=yes -R 0:127.0.0.1:22 "
        f"{ssh_keys.DEPLOY_USER}@{web} </dev/null",
    )  # fmt: skip
    assert remote_fwd.rc == 255, remote_fwd
    assert "forwarding failed" in remote_fwd.stderr
    hop = _as_jenkins(up, f"sleep 2 | timeout 15 {SSH} -W {app}:22 {ssh_keys.DEPLOY_USER}@{web}")
    assert "SSH-2.0" not in hop.stdout and hop.rc != 0, hop
    assert _check(up, "keys", "keys.jenkins_key_only_deploys").status is Status.PASS

    # What the key may do: deploy a commit of the lab's repository.
    before = up.healthz_commit()
    branch, commit = _push_commit(up, tmp_path)
    try:
        deploy = _as_jenkins(up, f"{login} 'deploy {commit}' </dev/null", timeout=600)
        assert deploy.ok, deploy.stderr[-2000:]
        assert up.healthz_commit() == commit
        back = _as_jenkins(up, f"{login} 'deploy {before}' </dev/null", timeout=600)
        assert back.ok, back.stderr[-2000:]
        assert up.healthz_commit() == before
    finally:
        mirror = subprocess.run(
            ["find", up.env["VPCLAB_STATE"], "-type", "d", "-name", "*.git"],
            capture_output=True,
            text=True,
        ).stdout.split()
        for repo in mirror:
            subprocess.run(["git", "--git-dir", repo, "branch", "-qD", branch], check=False)


def test_the_keys_step_follows_no_planted_link(up: DeployLab):
    token = f"TOP-SECRET-{uuid.uuid4().hex[:8]}"
    secret = f"/root/vpclab-secret-{uuid.uuid4().hex[:6]}"
    ctx = up.lab().context()
    jenkins = remote.open_role(ctx, "jenkins")
    try:
        known = f"{remote.home_of(jenkins, ssh_keys.JENKINS_USER)}/.ssh/known_hosts"
    finally:
        remote.close(jenkins)
    plant = (
        f"printf '%s\\n' {token} >{secret} && chmod 600 {secret} && "
        f"sudo -n -u {ssh_keys.JENKINS_USER} ln -sfn {secret} {known}"
    )
    assert _on(up, "jenkins", plant).ok
    web_secret = f"/etc/vpclab-secret-{uuid.uuid4().hex[:6]}"
    plant_web = (
        f"printf '%s\\n' {token} >{web_secret} && chmod 600 {web_secret} && "
        f"sudo -n -u {ssh_keys.DEPLOY_USER} ln -sfn {web_secret} {ssh_keys.WEB_KNOWN_HOSTS}"
    )
    assert _on(up, "web", plant_web).ok
    try:
        BUILT["keys"].apply(ctx)
        for role, path, target in (
            ("jenkins", known, secret),
            ("web", ssh_keys.WEB_KNOWN_HOSTS, web_secret),
        ):
            kind = _on(up, role, f"stat -c '%F %U' {path}").stdout.strip()
            assert kind.split()[:2] == ["regular", "file"], kind  # the link was replaced
            assert token not in _on(up, role, f"cat {path}").stdout, "root's file was read"
            assert _on(up, role, f"stat -c '%U %a' {target}").stdout.strip() == "root 600"
            assert _on(up, role, f"cat {target}").stdout.strip() == token  # not written through
    finally:
        _on(up, "jenkins", f"rm -f {secret}")
        _on(up, "web", f"rm -f {web_secret}")
    assert _check(up, "keys", "keys.jenkins_to_web").status is Status.PASS
    assert _check(up, "keys", "keys.web_to_app").status is Status.PASS


def test_the_env_file_is_read_as_values_never_run(up: DeployLab):
    marker = f"/tmp/vpclab-sourced-{uuid.uuid4().hex[:6]}"
    line = shlex.quote(f"EVIL=$(touch {marker})")
    breaks = f"echo {line} >>{app_deploy.ENV_FILE} && supervisorctl restart {app_deploy.PROGRAM}"
    assert _on(up, "app", breaks).ok

    def healthy() -> bool:
        """the restarted app answers /healthz"""
        return bool(up.healthz_commit())

    eventually(healthy, timeout=30, interval=0.5)
    assert not _on(up, "app", f"test -e {marker}").ok, "the env file ran as shell"
    assert _on(up, "app", f"sed -i '/^EVIL=/d' {app_deploy.ENV_FILE}").ok


def test_vpclab_up_mends_the_env_file_and_password_login(up: DeployLab):
    dropin = "/etc/ssh/sshd_config.d/00-aaa-password.conf"
    assert _on(up, "app", f"chmod 644 {app_deploy.ENV_FILE}").ok
    turn_on = (
        f"printf 'PasswordAuthentication yes\\nKbdInteractiveAuthentication yes\\n' >{dropin} "
        '&& sshd -t && kill -HUP "$(cat /run/sshd.pid)"'
    )
    assert _on(up, "web", turn_on).ok
    loose = _check(up, "scripts", "scripts.env_file_private")
    assert loose.status is Status.FAIL and "644" in loose.detail, loose
    assert "chmod 600" in loose.hint
    eventually(
        lambda: _check(up, "keys", "keys.no_password_login").status is Status.FAIL, timeout=10
    )
    ctx = up.lab().context()
    web_sg = ctx.state().security_groups["web"]["GroupId"]
    opened = {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080}
    ctx.ec2.authorize_security_group_ingress(
        GroupId=web_sg, IpPermissions=[{**opened, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    extra = _check(up, "instances", "instances.web_security_group")
    assert extra.status is Status.FAIL and "8080 from 0.0.0.0/0" in extra.detail, extra

    again = up.cli("up")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-2000:]
    assert all_green(again.stdout), again.stdout[-3000:]
    assert _check(up, "scripts", "scripts.env_file_private").status is Status.PASS
    assert _check(up, "keys", "keys.no_password_login").status is Status.PASS
    assert _check(up, "instances", "instances.web_security_group").status is Status.PASS
    assert "web security group: removed tcp 8080 from 0.0.0.0/0" in again.stderr
    text = _on(up, "web", f"cat {dropin}").stdout
    assert re.search(
        r"^# \(vpclab: password login stays off\) PasswordAuthentication yes", text, re.M
    )
    web = remote.open_role(up.lab().context(), "web")
    try:
        assert not keys.password_login_on(web)
    finally:
        remote.close(web)


# Run on the Jenkins host as `jenkins` with the kit's Python (the local image has it), with
# no keys and no endpoint given: boto3's default chain finds the instance profile's keys at
# the host's IMDS, and the region and endpoint in ~/.aws/config, as on an EC2 instance.
BUILD_CALLS = """
import urllib.request, urllib.error
import boto3, botocore
session = boto3.Session()
print("keys:", session.get_credentials().method)
print("who:", session.client("sts").get_caller_identity()["Arn"].split("/")[1])
ec2 = session.client("ec2")
print("read:", len(ec2.describe_instances()["Reservations"]) > 0)
try:
    ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)
    print("run: answered")
except botocore.exceptions.ClientError as exc:
    print("run:", exc.response["Error"]["Code"])
endpoint = ec2.meta.endpoint_url
try:
    urllib.request.urlopen(urllib.request.Request(endpoint + "/moto-api/reset", method="POST"))
    print("reset: answered")
except urllib.error.HTTPError as exc:
    print("reset:", exc.code)
try:  # IMDSv2 only: no token, no answer
    urllib.request.urlopen("http://169.254.169.254/latest/meta-data/instance-id", timeout=5)
    print("imdsv1: answered")
except urllib.error.HTTPError as exc:
    print("imdsv1:", exc.code)
"""


def test_a_build_reads_the_lab_but_cannot_launch_or_reset_it(up: DeployLab):
    """Against the local moto server with IAM enforced, the Jenkins host's keys come from its
    IMDS (the instance profile's role): describe works, run-instances is denied."""
    from vpclab.aws import jenkins_setup

    ctx = up.lab().context()
    before = up.lab().status()
    host = remote.open_role(ctx, "jenkins")
    try:
        line = shlex.join([sys.executable, "-c", BUILD_CALLS])
        done = host.run(remote.as_user(ssh_keys.JENKINS_USER, line), check=False, timeout=120)
    finally:
        remote.close(host)
    role = jenkins_setup.names(ctx.spec.name, ctx.spec.region)
    assert done.stdout.splitlines() == [
        "keys: iam-role", f"who: {role}", "read: True", "run: AccessDenied", "reset: 403",
        "imdsv1: 401",
    ], done  # fmt: skip
    assert up.lab().status().instances == before.instances  # nothing launched, nothing reset


def test_the_project_is_built_as_its_own_user_and_the_app_cannot_rewrite_it(up: DeployLab):
    """start_app.sh clones the release and runs pip as `microblog-build`: the project's
    install code never runs as root, and gunicorn's user cannot change the code it runs."""
    site = "/opt/microblog/venv/lib/python3*/site-packages/flask/__init__.py"
    owners = _on(up, "app", f"stat -c %U {site} $(readlink -f /opt/microblog/current)/app")
    assert owners.stdout.split() == ["microblog-build", "microblog-build"], owners
    write = "setpriv --reuid=microblog --regid=microblog --init-groups touch /opt/microblog/venv/x"
    assert _on(up, "app", write).rc != 0
