"""AWS's, Ubuntu's, Jenkins' and Dependency-Check's limits (vpclab/aws/limits.py) as tests:
each fails when the kit breaks the fact. moto enforces none of them, so nothing else would.

- every role's rendered user data fits in 16 KB;
- the AMI's Ubuntu Python meets the least Requires-Python of every pinned wheel;
- Jenkins' key is the current one, checked by fingerprint, and the JDK is one Jenkins runs on;
- Dependency-Check is at least the mandatory version, with its pip analyzer on;
- the Jenkins role allows every action `vpclab verify`/`status` and the pipeline scripts call
  (derived by running them against moto with botocore's event hooks), and no more secrets.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path
from types import SimpleNamespace

import pytest
from packaging.utils import canonicalize_name

from vpclab.aws import jenkins_setup, limits
from vpclab.aws.session import LOCAL_CREDENTIALS, Cloud, new_session
from vpclab.pipeline.jenkinsfile import load
from vpclab.render import render
from vpclab.site import site_for
from vpclab.spec import ROLES, load_spec
from vpclab.steps.compute import USER_DATA_PACKAGES, grafana_values

ROOT = Path(__file__).resolve().parents[2]
PINNED = [ROOT / "app" / "requirements.txt", ROOT / "scripts" / "ci" / "requirements.txt"]
REPO = "https://github.com/example-org/a-rather-long-repository-name-for-the-microblog.git"


def spec_at(root: Path):
    return load_spec(root / "lab.toml")


def user_data_of(spec, role: str) -> str:
    """What `up --target aws` sends as the role's user data."""
    if role == "jenkins":
        return jenkins_setup.user_data(spec.name, spec.region, REPO)
    ctx = SimpleNamespace(spec=spec, site=site_for("aws"))
    values = grafana_values(ctx, role)  # type: ignore[arg-type]
    packages = USER_DATA_PACKAGES[role]
    return render("user-data.sh.j2", lab=spec.name, role=role, packages=packages, **values)


# --- user data --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_every_roles_user_data_fits_in_16_kb(role: str) -> None:
    spec = spec_at(ROOT).model_copy(update={"name": "a-twenty-char-name-x"})  # the longest
    size = len(user_data_of(spec, role).encode())
    assert size <= limits.USER_DATA_MAX_BYTES, (
        f"the {role} server's user data is {size} bytes; EC2 accepts at most "
        f"{limits.USER_DATA_MAX_BYTES} ({limits.USER_DATA_SOURCE.url})"
    )


# --- the AMI's Python against the pins ------------------------------------------------------


def pins(files: list[Path]) -> dict[str, str]:
    found = {}
    for path in files:
        for raw in path.read_text().splitlines():
            line = raw.split("#", 1)[0].strip()
            if "==" in line:
                name, version = line.split("==", 1)
                found[canonicalize_name(name)] = version.strip()
    return found


def _wheel_requires(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        meta = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(archive.read(meta).decode()).get("Requires-Python") or ""


def _wheel_index(folder: Path) -> dict[tuple[str, str], Path]:
    index = {}
    for wheel in folder.glob("*.whl"):
        name, version = wheel.name.split("-")[:2]
        index[(canonicalize_name(name), version)] = wheel
    return index


def requires_python(wanted: dict[str, str], cache: Path) -> dict[str, str]:
    """Each pinned wheel's Requires-Python, read from the wheel's own metadata: from the
    machine's wheel store when it has the wheel, else downloaded once by pip (no deps)."""
    from vpclab.localcloud.internet import wheel_store

    index: dict[tuple[str, str], Path] = {}
    for folder in [p for p in wheel_store().glob("*") if p.is_dir()] + [cache]:
        index.update(_wheel_index(folder))
    missing = [f"{n}=={v}" for n, v in wanted.items() if (n, v) not in index]
    if missing:
        cache.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
            + ["--only-binary=:all:", "--dest", str(cache), *missing],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr[-800:]
        index.update(_wheel_index(cache))
    return {f"{n}=={v}": _wheel_requires(index[(n, v)]) for n, v in wanted.items()}


def least_python_ok(root: Path, cache: Path) -> list[str]:
    """The pins (and vpclab itself, which the CI venv installs) that the AMI's Python does
    not satisfy; the AMI's release is read from the spec's Canonical SSM parameter."""
    spec = spec_at(root)
    ubuntu = limits.ubuntu_of_parameter(spec.ami_ssm_parameter)
    assert ubuntu is not None, f"{spec.ami_ssm_parameter} is not a Canonical Ubuntu parameter"
    needs = requires_python(pins([root / p.relative_to(ROOT) for p in PINNED]), cache)
    project = re.search(r'requires-python\s*=\s*"([^"]+)"', (root / "pyproject.toml").read_text())
    needs["vpclab"] = project[1]
    return [
        f"{pin} needs Python {spec_}, Ubuntu {ubuntu.version} has {ubuntu.python[0]}."
        f"{ubuntu.python[1]}"
        for pin, spec_ in needs.items()
        if spec_ and not limits.python_satisfies(ubuntu.python, spec_)
    ]


def test_the_amis_python_meets_every_pinned_wheel(tmp_path_factory) -> None:
    cache = tmp_path_factory.getbasetemp().parent / "vpclab-pinned-wheels"
    assert least_python_ok(ROOT, cache) == []
    spec = spec_at(ROOT)
    assert limits.ubuntu_of_parameter(spec.ami_ssm_parameter) == limits.UBUNTU_RELEASE
    assert spec.ami_ssm_parameter == limits.UBUNTU_AMI_PARAMETER  # the spec's default too


def test_ubuntu_releases_are_read_from_parameters_and_image_names() -> None:
    assert limits.ubuntu_of_parameter(limits.UBUNTU_AMI_PARAMETER).codename == "noble"
    jammy = "/aws/service/canonical/ubuntu/server/jammy/stable/current/amd64/hvm/ebs-gp2/ami-id"
    assert limits.ubuntu_of_parameter(jammy).python == (3, 10)
    assert limits.ubuntu_of_parameter("/vpclab/tests/ubuntu") is None
    name = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20261101"
    assert limits.ubuntu_of_image_name(name) == "24.04"
    assert not limits.python_satisfies((3, 10), ">=3.11")
    assert limits.python_satisfies((3, 12), ">=3.9,<4")


# --- Jenkins: its key, its Java -------------------------------------------------------------


def jenkins_facts(script: str) -> tuple[str, str, int]:
    """(key URL, the fingerprint it is checked against, the JDK installed) from user data."""
    url = re.search(r"curl [^\n]*?(https://pkg\.jenkins\.io/\S+\.key)", script)
    fingerprint = re.search(r'if \[ "\$fingerprint" != "([0-9A-F]{40})" \]', script)
    java = re.search(r"openjdk-(\d+)-jre", script)
    return (url[1] if url else ""), (fingerprint[1] if fingerprint else ""), int(java[1])


def test_jenkins_key_is_the_current_one_checked_by_fingerprint() -> None:
    url, fingerprint, _java = jenkins_facts(user_data_of(spec_at(ROOT), "jenkins"))
    assert url == f"{limits.JENKINS_APT_REPO}/{limits.JENKINS_KEY_FILE}"
    assert fingerprint == limits.JENKINS_KEY_FINGERPRINT


def test_jenkins_runs_on_a_java_it_supports_from_the_amis_archive() -> None:
    _url, _fp, java = jenkins_facts(user_data_of(spec_at(ROOT), "jenkins"))
    assert java in limits.JENKINS_JAVA, f"Jenkins LTS needs Java {limits.JENKINS_JAVA}"
    assert java == limits.UBUNTU_RELEASE.openjdk  # noble's default OpenJDK: in its archive


# --- Dependency-Check -------------------------------------------------------------------------


def dependency_check_facts(root: Path) -> tuple[tuple[int, ...], bool]:
    """(the version Jenkins installs, whether the stage runs the pip analyzer)."""
    text = (root / "vpclab" / "aws" / "jenkins_setup.py").read_text()
    version = re.search(r'DEPENDENCY_CHECK_VERSION = "([\d.]+)"', text)[1]
    pipeline = load(root / "Jenkinsfile")
    assert "Dependency-Check" in [s.name for s in pipeline.stages]
    # The stage's text (its sh step sits inside withCredentials, which the model keeps opaque).
    text = (root / "Jenkinsfile").read_text()
    commands = text[text.index("stage('Dependency-Check')") :].split("stage('", 2)[1]
    for script in re.findall(r"scripts/ci/[\w.]+\.sh", commands):
        commands += (root / script).read_text()
    return limits.version_tuple(version), limits.DEPENDENCY_CHECK_PIP_FLAG in commands


def test_dependency_check_is_current_with_its_pip_analyzer_on() -> None:
    version, pip_on = dependency_check_facts(ROOT)
    assert version >= limits.DEPENDENCY_CHECK_MINIMUM, limits.DEPENDENCY_CHECK_MINIMUM_SOURCE.url
    assert pip_on, f"the pip analyzer needs {limits.DEPENDENCY_CHECK_PIP_FLAG}"


# --- the Jenkins role's policy ----------------------------------------------------------------


def allowed(policy: dict, action: str, resource: str) -> bool:
    """IAM's answer for an Allow-only policy: some statement matches action and resource."""
    for statement in policy["Statement"]:
        actions = statement["Action"]
        resources = statement["Resource"]
        actions = [actions] if isinstance(actions, str) else actions
        resources = [resources] if isinstance(resources, str) else resources
        if statement["Effect"] == "Allow" and any(
            fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions
        ):
            if any(fnmatch.fnmatchcase(resource, r) for r in resources):
                return True
    return False


def vpclab_commands(root: Path) -> list[list[str]]:
    """Every `vpclab SUBCOMMAND --flags` the pipeline scripts run (shell variables dropped)."""
    found = []
    for script in sorted((root / "scripts" / "ci").glob("*.sh")):
        for line in script.read_text().splitlines():
            match = re.search(r"vpclab\}?\"?\s+([a-z]+)((?:\s+--?[a-z-]+)*)", line)
            if match and not line.lstrip().startswith("#"):
                found.append([match[1], *shlex.split(match[2])])
    return found


def test_the_pipeline_scripts_run_vpclab_status_and_verify() -> None:
    commands = {c[0] for c in vpclab_commands(ROOT)}
    assert {"status", "verify"} <= commands


@pytest.fixture
def aws_view(built_lab, moto_endpoint, monkeypatch):
    """The built lab seen as Jenkins sees it: target aws, inside a build, every API call
    recorded by the Cloud's botocore hooks."""
    session = new_session("us-east-1", **LOCAL_CREDENTIALS)
    cloud = Cloud("aws", "us-east-1", moto_endpoint, session)
    monkeypatch.setattr("vpclab.lab.connect", lambda *_a, **_k: cloud)
    for key, value in {"BUILD_NUMBER": "7", "WORKSPACE": "/tmp/ws", "VPCLAB_TARGET": "aws"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return built_lab, cloud


def test_jenkins_role_allows_every_call_of_verify_status_and_the_pipeline(
    aws_view, monkeypatch, capsys
):
    from tests.controlplane.conftest import run_cli

    lab, cloud = aws_view
    commands = vpclab_commands(ROOT)
    for command in commands:
        args = [a for a in command if a not in ("--junit",)]
        run_cli(monkeypatch, capsys, *args, "--spec", str(lab.spec_path))
    lab.verify()
    lab.status()
    called = {
        (service, op, json.dumps(params, default=str)) for service, op, params in cloud.log.calls
    }
    assert called, "nothing was recorded"
    policy = jenkins_setup.policy(lab.spec.name, "us-east-1", "123456789012")
    missing = set()
    for service, op, params in called:
        action = limits.iam_action(service, op)
        if action in limits.UNAUTHORIZED_CALLS:
            continue
        name = json.loads(params).get("Name", "")
        resource = (
            f"arn:aws:ssm:us-east-1:123456789012:parameter{name}" if service == "ssm" else "*"
        )
        if not allowed(policy, action, resource):
            missing.add(action)
    assert not missing, f"the Jenkins role lacks {sorted(missing)}"


def test_jenkins_role_reads_its_own_secrets_and_no_others() -> None:
    lab, region, account = "microblog", "us-east-1", "123456789012"
    policy = jenkins_setup.policy(lab, region, account)

    def arn(role: str, key: str) -> str:
        return f"arn:aws:ssm:{region}:{account}:parameter/vpclab/{lab}/{role}/{key}"

    script = jenkins_setup.user_data(lab, region, REPO)
    read = re.findall(r"param (/vpclab/\S+)", script)
    assert read and all(
        allowed(policy, "ssm:GetParameter", f"arn:aws:ssm:{region}:{account}:parameter{p}")
        for p in read
    )
    assert not allowed(policy, "ssm:GetParameter", arn("microblog", "SECRET_KEY"))
    assert not allowed(policy, "ssm:GetParameter", arn("grafana", "admin-password"))
    for action in ("ec2:RunInstances", "ec2:TerminateInstances", "ssm:PutParameter"):
        assert not allowed(policy, action, "*")


def test_docs_name_every_permission_the_operator_needs(spec_path, moto_endpoint, monkeypatch):
    """up, verify, status, cost and down on target aws against moto: every IAM action they
    call is named in docs/aws.md's list of the operator's permissions."""
    from vpclab.aws.retry import Pacing
    from vpclab.lab import Lab

    session = new_session("us-east-1", **LOCAL_CREDENTIALS)
    image = session.client("ec2", endpoint_url=moto_endpoint).register_image(
        Name="ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20261101",
        RootDeviceName="/dev/sda1",
    )["ImageId"]
    text = spec_path.read_text().replace('ami_id = ""', f'ami_id = "{image}"')
    spec_path.write_text(text.replace("198.51.100.0/24", "100.24.5.6/32"))
    cloud = Cloud("aws", "us-east-1", moto_endpoint, session)
    monkeypatch.setattr("vpclab.lab.connect", lambda *_a, **_k: cloud)
    monkeypatch.setattr(Lab, "pacing", Pacing.fake())
    monkeypatch.setenv("VPCLAB_REPO_URL", "https://example.org/microblog.git")
    lab = Lab(spec_path, "aws", say=lambda _line: None)
    lab.up(yes=True)
    lab.verify()
    lab.status()
    lab.cost()
    lab.down()
    called = {limits.iam_action(s, o) for s, o, _ in cloud.log.calls}
    docs = (ROOT / "docs" / "aws.md").read_text()
    section = docs.split("## The IAM permissions the operator needs", 1)[1].split("\n## ", 1)[0]
    missing = sorted(a for a in called - limits.UNAUTHORIZED_CALLS if f"`{a}`" not in section)
    assert not missing, f"docs/aws.md does not name {missing}"
