"""The project's Jenkinsfile: real Groovy (Debian's groovy parses it), the stages the issue
names, every step from a plugin in the AWS Jenkins plugin list, and clean stage scripts."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from vpclab.pipeline import groovy, local
from vpclab.pipeline.jenkinsfile import load

ROOT = Path(__file__).resolve().parents[2]
JENKINSFILE = ROOT / "Jenkinsfile"
PLUGINS = ROOT / "vpclab" / "render" / "jenkins" / "plugins.txt"

# Which plugin provides each step or directive the Jenkinsfile may use ("core": Jenkins itself).
PROVIDER = {
    "pipeline": "pipeline-model-definition",
    "agent": "pipeline-model-definition",
    "environment": "pipeline-model-definition",
    "stages": "pipeline-model-definition",
    "stage": "pipeline-model-definition",
    "steps": "pipeline-model-definition",
    "post": "pipeline-model-definition",
    "always": "pipeline-model-definition",
    "success": "pipeline-model-definition",
    "failure": "pipeline-model-definition",
    "when": "pipeline-model-definition",
    "branch": "workflow-multibranch",
    "sh": "workflow-durable-task-step",
    "echo": "workflow-basic-steps",
    "junit": "junit",
    "archiveArtifacts": "core",
    "withCredentials": "credentials-binding",
    "string": "credentials-binding",
    "dependencyCheck": "dependency-check-jenkins-plugin",
    "dependencyCheckPublisher": "dependency-check-jenkins-plugin",
}


def java_home() -> str | None:
    java = shutil.which("java")
    return str(Path(java).resolve().parents[1]) if java else None


def groovy_parse(path: Path) -> subprocess.CompletedProcess:
    if shutil.which("groovy") is None:
        pytest.skip("Debian's groovy is not installed (scripts/bootstrap.sh --test installs it)")
    env = dict(os.environ)
    if not Path(env.get("JAVA_HOME", "/usr/lib/jvm/default-java"), "bin", "java").exists():
        env["JAVA_HOME"] = java_home() or ""
    script = f"new GroovyShell().parse(new File('{path}')); println 'parsed'"
    return subprocess.run(
        ["groovy", "-e", script], capture_output=True, text=True, env=env, timeout=120
    )


def test_jenkinsfile_parses_as_groovy(tmp_path: Path) -> None:
    ok = groovy_parse(JENKINSFILE)
    assert ok.returncode == 0 and "parsed" in ok.stdout, ok.stderr
    broken = tmp_path / "Jenkinsfile"
    broken.write_text(JENKINSFILE.read_text().replace("stage('Test') {", "stage('Test' {", 1))
    bad = groovy_parse(broken)
    assert bad.returncode != 0, "groovy accepted a Jenkinsfile with an unbalanced parenthesis"


def test_stages_in_order_with_deploy_and_verify_on_main_only() -> None:
    pipeline = load(JENKINSFILE)
    names = [s.name for s in pipeline.stages]
    core = [n for n in names if n in ("Build", "Test", "Security", "Deploy", "Verify")]
    assert core == ["Build", "Test", "Security", "Deploy", "Verify"]
    for stage in pipeline.stages:
        scripts = [s.arg("script") for s in stage.steps if s.name == "sh"]
        assert all(str(s).startswith("scripts/ci/") for s in scripts), stage.name
        branch = [c.pattern for c in stage.when if c.kind == "branch"]
        assert branch == (["main"] if stage.name in ("Deploy", "Verify") else []), stage.name
    published = {
        s.arg("testResults") for st in pipeline.stages for b in st.post.values() for s in b
    }
    assert {"reports/tests.xml", "reports/verify.xml", "reports/audit.xml"} <= published


def _names(nodes: list[groovy.Node]) -> set[str]:
    found: set[str] = set()
    for node in nodes:
        if node.assign is None:
            found.add(node.name)
        for value in [*node.args.positional, *node.args.named.values()]:
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, groovy.Call):
                    found.add(item.name)
        found |= _names(node.body or [])
    return found


def test_every_step_comes_from_a_listed_plugin() -> None:
    used = _names(groovy.parse(JENKINSFILE.read_text())) - {"any"}
    unknown = used - set(PROVIDER)
    assert not unknown, f"say which plugin provides {sorted(unknown)} in PROVIDER"
    listed = {
        line.strip() for line in PLUGINS.read_text().splitlines() if line.strip()[:1].isalpha()
    }
    missing = {PROVIDER[name] for name in used} - listed - {"core"}
    assert not missing, f"plugins.txt lacks {sorted(missing)}"


def test_no_secret_in_the_jenkinsfile() -> None:
    text = JENKINSFILE.read_text()
    assert "credentials('nvd-api-key')" in text or "credentialsId: 'nvd-api-key'" in text
    # The key only through the credential binding, and on to Dependency-Check in a 0600
    # properties file, never on a command line.
    assert "variable: 'NVD_API_KEY'" in text and "NVD_API_KEY" not in text.split("sh '")[1][:80]
    check = (ROOT / "scripts" / "ci" / "dependency_check.sh").read_text()
    assert 'printf \'nvd.api.key=%s\\n\' "$NVD_API_KEY" >"$props"' in check
    assert 'chmod 600 "$props"' in check and "--nvdApiKey" not in check


def test_stage_scripts_are_shellcheck_clean() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed")
    scripts = sorted(str(p) for p in (ROOT / "scripts" / "ci").glob("*.sh"))
    assert len(scripts) >= 5
    result = subprocess.run(
        ["shellcheck", "-x", *scripts], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout
    for script in scripts:
        if not script.endswith("common.sh"):
            assert os.access(script, os.X_OK), f"{script} is not executable"


def test_the_ci_venv_installs_without_compiling_and_no_build_forbids_writing_bytecode() -> None:
    # pip's --no-compile leaves a module's bytecode to its first import; a build that forbids
    # writing bytecode (PYTHONDONTWRITEBYTECODE) would then compile every import from source,
    # in every stage of every build.
    assert "--no-compile" in (ROOT / "scripts" / "ci" / "build.sh").read_text()
    pipeline = load(JENKINSFILE)
    local_env = local.build_env("git://198.51.100.253/microblog", "main", "us-east-1", "")
    for env in (pipeline.environment, *(s.environment for s in pipeline.stages), local_env):
        assert "PYTHONDONTWRITEBYTECODE" not in env
