"""The aws target's Jenkins, validated offline: the user data is shellcheck-clean and installs
every listed plugin; Configuration as Code loads and makes the workload_4 job and the
credentials; the instance profile's policy is read-only EC2 plus SSM read on the lab's
parameters (moto checks the IAM calls), and teardown removes it."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import boto3
import pytest
import yaml
from moto import mock_aws

from vpclab.aws import jenkins_setup
from vpclab.aws.session import LOCAL_CREDENTIALS, new_session
from vpclab.pipeline.jenkinsfile import load

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def script(tmp_path: Path) -> str:
    return jenkins_setup.user_data("microblog", "us-east-1", "https://example.org/microblog.git")


def test_user_data_is_shellcheck_clean(script: str, tmp_path: Path) -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed")
    path = tmp_path / "user-data.sh"
    path.write_text(script)
    result = subprocess.run(["shellcheck", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_user_data_installs_jenkins_lts_and_every_plugin(script: str) -> None:
    assert "https://pkg.jenkins.io/debian-stable binary/" in script
    assert "apt_get install jenkins" in script and "DPkg::Lock::Timeout" in script
    assert "jenkins-plugin-cli --plugin-file" in script
    listed = re.search(r"<<'PLUGINS'\n(.*?)\nPLUGINS\n", script, re.S)[1].split()
    assert listed == jenkins_setup.plugins()
    assert {"configuration-as-code", "job-dsl", "workflow-multibranch"} <= set(listed)


def test_casc_loads_and_makes_the_job_and_credentials(script: str) -> None:
    embedded = re.search(r"<<'CASC'\n(.*?)CASC\n", script, re.S)[1]
    assert embedded == jenkins_setup.casc_yaml()
    casc = yaml.safe_load(embedded)
    creds = casc["credentials"]["system"]["domainCredentials"][0]["credentials"]
    ids = {next(iter(c.values()))["id"] for c in creds}
    assert ids == {"nvd-api-key"}  # Deploy uses Jenkins' own key file (the keys step makes it)
    users = casc["jenkins"]["securityRealm"]["local"]["users"]
    assert users == [{"id": "admin", "password": "${JENKINS_ADMIN_PASSWORD}"}]
    triggers = casc["jobs"][0]["script"]
    assert "periodicFolderTrigger" in triggers  # a later commit is built without a push
    assert "multibranchPipelineJob('workload_4')" in casc["jobs"][0]["script"]
    env = casc["jenkins"]["globalNodeProperties"][0]["envVars"]["env"]
    # The Jenkinsfile's Dependency-Check stage runs where CasC sets this variable.
    (gate,) = [c for s in load(ROOT / "Jenkinsfile").stages for c in s.when if c.kind != "branch"]
    assert {"key": gate.name, "value": gate.pattern} in env
    assert "PRIVATE KEY" not in embedded and "nvd" not in embedded.split("secret:")[1][:20]
    # Secrets reach Jenkins as files in Configuration as Code's SECRETS folder, never its unit.
    unit = re.search(r"<<'UNIT'\n(.*?)UNIT\n", script, re.S)[1]
    assert "SECRETS=/var/lib/jenkins/casc_secrets" in unit
    assert "PASSWORD" not in unit and "NVD_API_KEY" not in unit


@mock_aws
def test_instance_profile_is_read_only_and_torn_down() -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    said: list[str] = []
    name = jenkins_setup.ensure_profile(iam, "microblog", "us-east-1", "123456789012", said.append)
    assert len(said) == 3  # role, policy, profile
    assert name == "vpclab-microblog-us-east-1-jenkins"  # IAM is global: one per region
    profile = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == [name]
    trust = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    document = iam.get_role_policy(RoleName=name, PolicyName=jenkins_setup.POLICY_NAME)
    statements = document["PolicyDocument"]["Statement"]
    actions = [a for s in statements for a in s["Action"]]
    assert all(a.startswith(("ec2:Describe", "ssm:GetParameter")) for a in actions), actions
    assert "ec2:DescribeInstances" in actions and "ssm:GetParameter" in actions
    (ssm,) = [s for s in statements if s["Action"][0].startswith("ssm:")]
    assert ssm["Resource"] == (
        "arn:aws:ssm:us-east-1:123456789012:parameter/vpclab/microblog/jenkins/*"
    )

    said.clear()
    jenkins_setup.ensure_profile(iam, "microblog", "us-east-1", "123456789012", said.append)
    assert said == []  # idempotent

    jenkins_setup.delete_profile(iam, "microblog", "us-east-1", said.append)
    assert iam.list_instance_profiles()["InstanceProfiles"] == []
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == []
    jenkins_setup.delete_profile(iam, "microblog", "us-east-1", said.append)  # gone: no error
    assert json.dumps(said).count("deleted") == 2


@pytest.fixture
def aws_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Target aws on a throwaway moto server: a stand-in endpoint, so nothing connects to the
    addresses it reports and nothing leaves this machine."""
    from vpclab.aws.retry import Pacing
    from vpclab.aws.session import Cloud
    from vpclab.lab import Lab

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "VPCLAB_STATE": str(tmp_path / "state"),
        "VPCLAB_DATAPLANE": "off",
        "VPCLAB_REPO_URL": "https://example.org/microblog.git",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("VPCLAB_TARGET", raising=False)
    from vpclab.localcloud.motoserver import ephemeral

    with ephemeral() as server:
        session = new_session("us-east-1", **LOCAL_CREDENTIALS)
        cloud = Cloud("aws", "us-east-1", server.endpoint, session)
        image = cloud.ec2.register_image(Name="ubuntu-test", RootDeviceName="/dev/sda1")
        cloud.client("ssm").put_parameter(
            Name="/vpclab/tests/ubuntu", Value=image["ImageId"], Type="String"
        )
        spec = tmp_path / "lab.toml"
        spec.write_text(
            "\n".join(
                'ami_ssm_parameter = "/vpclab/tests/ubuntu"'
                if line.startswith("ami_ssm_parameter")
                else 'admin_cidr = "auto"'
                if line.startswith("admin_cidr")
                else line
                for line in (ROOT / "lab.toml").read_text().splitlines()
            )
            + "\n"
        )
        monkeypatch.setattr("vpclab.lab.connect", lambda *_a, **_k: cloud)
        monkeypatch.setattr(Lab, "pacing", Pacing.fake())
        monkeypatch.setattr(Lab, "ip_resolver", staticmethod(lambda: "100.24.5.6"))
        yield Lab(spec, "aws", say=lambda _line: None), cloud


def test_jenkins_step_on_aws_gets_user_data_and_the_profile(aws_lab) -> None:
    lab, cloud = aws_lab
    lab.up("jenkins", yes=True)
    iam = cloud.client("iam")
    name = jenkins_setup.names(lab.spec.name, lab.spec.region)
    profile = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
    jenkins = lab.context().state().instances["jenkins"]
    (association,) = cloud.ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [jenkins["InstanceId"]]}]
    )["IamInstanceProfileAssociations"]
    assert association["IamInstanceProfile"]["Arn"] == profile["Arn"]
    data = cloud.ec2.describe_instance_attribute(
        InstanceId=jenkins["InstanceId"], Attribute="userData"
    )["UserData"]["Value"]
    expected = jenkins_setup.user_data(
        lab.spec.name, lab.spec.region, "https://example.org/microblog.git"
    )
    assert base64.b64decode(data).decode() == expected

    cloud.log.clear()
    lab.up("jenkins")
    assert cloud.log.mutating == []  # the profile and its association are there already

    lab.down()
    assert iam.list_instance_profiles()["InstanceProfiles"] == []
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == []


def test_jenkins_step_on_aws_needs_the_repository(aws_lab, monkeypatch) -> None:
    from vpclab.errors import VpclabError

    lab, _cloud = aws_lab
    monkeypatch.delenv("VPCLAB_REPO_URL")
    with pytest.raises(VpclabError, match="VPCLAB_REPO_URL"):
        lab.up("jenkins", yes=True)


@mock_aws
def test_a_profile_someone_else_made_is_refused_never_adopted() -> None:
    from vpclab.errors import VpclabError

    iam = boto3.client("iam", region_name="us-east-1")
    alice = "arn:aws:iam::123456789012:user/alice"
    name = jenkins_setup.ensure_profile(iam, "microblog", "us-east-1", "1", print, creator=alice)
    tags = {t["Key"]: t["Value"] for t in iam.get_role(RoleName=name)["Role"]["Tags"]}
    assert tags["vpclab:creator"] == alice
    bob = "arn:aws:iam::123456789012:user/bob"
    with pytest.raises(VpclabError, match="made by .*alice"):
        jenkins_setup.ensure_profile(iam, "microblog", "us-east-1", "1", print, creator=bob)
    with pytest.raises(VpclabError, match="made by .*alice"):
        jenkins_setup.delete_profile(iam, "microblog", "us-east-1", print, creator=bob)
    # The same lab name in another region is another role.
    other = jenkins_setup.ensure_profile(iam, "microblog", "eu-west-1", "1", print, creator=bob)
    assert other != name and iam.get_role(RoleName=name)


def run_user_data(tmp_path: Path, fingerprint: str) -> tuple[subprocess.CompletedProcess, Path]:
    """Run the Jenkins user data with apt, curl, gpg, snap, the AWS CLI and the rest stood in,
    every absolute path moved under a temporary root."""
    root, bin_dir = tmp_path / "root", tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    log = tmp_path / "calls.log"
    aws = root / "snap/bin/aws"
    fakes = {
        "dpkg-query": "exit 1",
        "apt-get": f'echo "apt-get $*" >> {log}',
        "curl": f'echo "curl $*" >> {log}; while [ $# -gt 1 ]; do '
        '[ "$1" = -o ] && echo key > "$2"; shift; done',
        "gpg": f'echo "gpg $*" >> {log}; echo "pub:-:4096:1:7198F4B714ABFC68:::::::scESC:"; '
        f'echo "fpr:::::::::{fingerprint}:"',
        "unzip": 'while [ $# -gt 1 ]; do [ "$1" = -d ] && d=$2; shift; done; '
        'mkdir -p "$d/dependency-check/bin"; printf "#!/bin/sh\\necho 12\\n" '
        '> "$d/dependency-check/bin/dependency-check.sh"; chmod +x "$d"/dependency-check/bin/*',
        "java": f'echo "java $*" >> {log}',
        "snap": f'echo "snap $*" >> {log}',
        "chown": "true",
        "install": 'a=(); while [ $# -gt 0 ]; do case "$1" in -o|-g) shift 2;; '
        '*) a+=("$1"); shift;; esac; done; exec /usr/bin/install "${a[@]}"',
    }
    for name, body in fakes.items():
        (bin_dir / name).write_text(f"#!/bin/bash\n{body}\n")
        (bin_dir / name).chmod(0o755)
    aws.parent.mkdir(parents=True)
    aws.write_text(
        '#!/bin/bash\ncase "$*" in *admin-password*) echo s3cret-from-ssm;; *) exit 254;; esac\n'
    )
    aws.chmod(0o755)
    text = jenkins_setup.user_data("microblog", "us-east-1", "https://example.org/m.git")
    for top in ("/etc/", "/var/lib/jenkins", "/usr/local/", "/opt/", "/tmp/dep", "/usr/share/"):
        text = text.replace(top, f"{root}{top}")
    text = text.replace("/snap/bin/aws", str(aws))
    text = text.replace("/run/systemd/system", str(tmp_path / "no-systemd"))
    for folder in ("etc/apt/sources.list.d", "usr/local/bin", "usr/local/lib", "usr/local/share"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "var/lib/jenkins/plugins").mkdir(parents=True)
    script = tmp_path / "user-data.sh"
    script.write_text(text)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env)
    return done, root


def test_user_data_checks_jenkins_key_by_fingerprint_and_reads_secrets_as_files(tmp_path):
    from vpclab.aws import limits

    done, root = run_user_data(tmp_path / "good", limits.JENKINS_KEY_FINGERPRINT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (root / "etc/vpclab/user-data").read_text() == "ok\n"
    keyring = root / "etc/apt/keyrings/jenkins-keyring.asc"
    assert keyring.exists()
    secrets_dir = root / "var/lib/jenkins/casc_secrets"
    assert (secrets_dir / "JENKINS_ADMIN_PASSWORD").read_text() == "s3cret-from-ssm\n"
    assert (secrets_dir / "NVD_API_KEY").read_text() == ""  # none in SSM: "not checked"
    assert oct((secrets_dir / "JENKINS_ADMIN_PASSWORD").stat().st_mode)[-3:] == "600"
    calls = (tmp_path / "good" / "calls.log").read_text()
    assert "openjdk-21-jre-headless" in calls and "jenkins.io-2026.key" in calls
    assert calls.index("gpg") < calls.index("install jenkins")

    done, root = run_user_data(tmp_path / "bad", "0" * 40)
    assert done.returncode != 0
    assert "not " + limits.JENKINS_KEY_FINGERPRINT in done.stderr
    assert (root / "etc/vpclab/user-data").read_text().startswith("failed: line ")
    assert not (root / "etc/apt/keyrings/jenkins-keyring.asc").exists()
    assert "install jenkins" not in (tmp_path / "bad" / "calls.log").read_text()


def test_jenkins_step_on_aws_keeps_the_admin_password_in_ssm(aws_lab) -> None:
    lab, cloud = aws_lab
    lab.up("jenkins", yes=True)
    ssm = cloud.client("ssm")
    name = "/vpclab/microblog/jenkins/admin-password"
    found = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
    assert found["Type"] == "SecureString" and len(found["Value"]) >= 24
    tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"]
    assert {"Key": "vpclab:lab", "Value": "microblog"} in tags
    jenkins = lab.context().state().instances["jenkins"]
    data = cloud.ec2.describe_instance_attribute(
        InstanceId=jenkins["InstanceId"], Attribute="userData"
    )["UserData"]["Value"]
    assert found["Value"] not in base64.b64decode(data).decode()  # never in the user data
    lab.down()
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name=name)
