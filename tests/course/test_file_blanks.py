"""Blanks in the project's real files (`vpclab.blanks`): the markers, the cleared edition,
the one-line error for a stub left in, and where the kit reads a file from."""

from __future__ import annotations

from pathlib import Path

import pytest

from vpclab import blanks
from vpclab.errors import VpclabError
from vpclab.facts import nginx_site, ssh_keys
from vpclab.steps import nginx

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SHELL = blanks.FileBlank("scripts/x.sh", "#", "07_scripts")
REFERENCE = """#!/bin/sh
set -eu
  # ### BEGIN SOLUTION the program
  echo secret-one
  echo secret-two
  # ### END SOLUTION
echo after
"""


def test_clear_replaces_each_region_with_one_stub_line_indented_as_its_marker():
    edition = blanks.clear(REFERENCE, SHELL)
    assert "secret" not in edition and blanks.BEGIN not in edition
    assert edition.splitlines() == [
        "#!/bin/sh",
        "set -eu",
        "  # YOUR CODE HERE: the program (07_scripts)",
        "echo after",
    ]
    assert blanks.unfilled(edition) == ["the program (07_scripts)"]
    assert blanks.unfilled(REFERENCE) == []


def test_regions_are_named_and_counted_without_their_markers():
    (region,) = blanks.regions(REFERENCE, "#")
    assert region.name == "the program" and region.first == 4
    assert region.lines == ["  echo secret-one", "  echo secret-two"]


@pytest.mark.parametrize(
    "text",
    [
        "# ### BEGIN SOLUTION a\nx\n",
        "x\n# ### END SOLUTION\n",
        "# ### BEGIN SOLUTION a\n# ### BEGIN SOLUTION b\n# ### END SOLUTION\n",
    ],
)
def test_unpaired_markers_are_one_line_errors(text):
    with pytest.raises(VpclabError) as err:
        blanks.clear(text, SHELL)
    assert "\n" not in str(err.value)


def test_a_stub_left_in_a_file_is_one_line_naming_the_file_and_region(tmp_path):
    target = tmp_path / nginx.TEMPLATE
    target.parent.mkdir(parents=True)
    reference = (ROOT / nginx.TEMPLATE).read_text()
    target.write_text(blanks.clear(reference, blanks.BY_PATH[nginx.TEMPLATE]))
    with pytest.raises(VpclabError) as err:
        blanks.read(tmp_path, nginx.TEMPLATE)
    line = str(err.value)
    assert "\n" not in line
    assert nginx.TEMPLATE in line and "'location / (06_nginx)'" in line


def test_the_kit_reads_the_projects_copy_and_the_repair_the_kits(tmp_path):
    target = tmp_path / nginx.TEMPLATE
    target.parent.mkdir(parents=True)
    target.write_text("mine\n")
    assert blanks.read(tmp_path, nginx.TEMPLATE) == "mine\n"
    with blanks.reference_files():
        assert blanks.read(tmp_path, nginx.TEMPLATE) == (ROOT / nginx.TEMPLATE).read_text()
    # A project without the file (an older handout): the kit's own copy.
    assert blanks.read(tmp_path / "none", nginx.TEMPLATE).startswith("# The microblog")


@pytest.mark.parametrize("blank", blanks.FILES, ids=lambda b: b.path)
def test_every_reference_file_has_regions_and_its_edition_none(blank, tmp_path):
    text = (ROOT / blank.path).read_text()
    assert blanks.regions(text, blank.comment, blank.path)
    blanks.write_edition(ROOT, tmp_path)
    edition = (tmp_path / blank.path).read_text()
    assert blanks.BEGIN not in edition and blanks.END not in edition
    assert len(blanks.unfilled(edition)) == len(blanks.regions(text, blank.comment))


SITE = """upstream microblog_app {
    server 10.0.2.7:5000;
    keepalive 32;
}
server {
    location / {
        proxy_pass http://microblog_app;
    }
}
"""


def test_proxied_follows_proxy_pass_to_an_upstream_or_an_address():
    assert nginx_site.proxied(SITE) == [nginx_site.Upstream("10.0.2.7", 5000)]
    direct = SITE.replace("http://microblog_app", "http://10.0.2.7:5001/")
    assert nginx_site.proxied(direct) == [nginx_site.Upstream("10.0.2.7", 5001)]
    assert nginx_site.proxied(SITE.replace("proxy_pass http://microblog_app;", "")) == []


def test_the_grader_lays_the_students_files_and_never_the_references(tmp_path):
    import subprocess

    from vpclab.course.runner import lay_student_files

    project = tmp_path / "lab"
    project.mkdir()
    git = ["git", "-C", str(project), "-c", "user.name=t", "-c", "user.email=t@t.invalid"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "kit"], check=True)
    first, *rest = blanks.FILES
    submission = tmp_path / "alice"
    (submission / first.path).parent.mkdir(parents=True)
    (submission / first.path).write_text("alice's own\n")
    assert lay_student_files(submission, project) == [first.path]
    assert (project / first.path).read_text() == "alice's own\n"
    for blank in rest:  # not handed in: the blank edition
        assert blanks.unfilled((project / blank.path).read_text())
    served = subprocess.run([*git, "show", f"main:{first.path}"], capture_output=True, text=True)
    assert served.stdout == "alice's own\n"
    # A link out of the submission is not followed: the blank edition instead.
    (submission / first.path).unlink()
    (submission / first.path).symlink_to(ROOT / first.path)
    assert lay_student_files(submission, project) == []
    assert blanks.unfilled((project / first.path).read_text())


def test_the_pipeline_reader_names_an_unfilled_deploy_stage():
    from vpclab.pipeline.jenkinsfile import read

    reference = (ROOT / "Jenkinsfile").read_text()
    assert "Deploy" in [s.name for s in read(reference).stages]
    with pytest.raises(VpclabError) as err:
        read(blanks.clear(reference, blanks.BY_PATH["Jenkinsfile"]))
    assert "\n" not in str(err.value)
    assert str(err.value).startswith("Jenkinsfile: the blank 'the Deploy stage (08_pipeline)'")


def test_the_app_keys_line_is_the_projects_template_rendered(tmp_path):
    from vpclab.steps import keys

    blob = "AAAAC3NzaC1lZDI1NTE5AAAAIGxvY2FsLWtleS1mb3ItdGVzdHM"
    line = keys.app_key_line(None, "ssh-ed25519", blob, "10.0.1.9")
    assert ssh_keys.from_option(line.options) == "10.0.1.9" and line.blob == blob
    old = f"ssh-ed25519 {blob} vpclab-app\nssh-rsa AAAAB3Nza other\n"
    text = keys.put_key_line(old, line)
    assert text.splitlines() == ["ssh-rsa AAAAB3Nza other", line.text()]
    assert keys.put_key_line(text, line) == text  # run twice, no change
    mine = tmp_path / keys.APP_KEY_TEMPLATE
    mine.parent.mkdir(parents=True)
    mine.write_text("{{ key_type }} {{ blob }} a\n{{ key_type }} {{ blob }} b\n")
    with pytest.raises(VpclabError, match="renders 2 key lines"):
        keys.app_key_line(tmp_path, "ssh-ed25519", blob, "10.0.1.9")
    blank = blanks.BY_PATH[keys.APP_KEY_TEMPLATE]
    mine.write_text(blanks.clear((ROOT / keys.APP_KEY_TEMPLATE).read_text(), blank))
    with pytest.raises(VpclabError, match="the app key's line"):
        keys.app_key_line(tmp_path, "ssh-ed25519", blob, "10.0.1.9")


def test_the_sshd_drop_in_turns_both_password_methods_off():
    from vpclab.steps import keys

    settings = [line.split() for line in keys.sshd_dropin().splitlines() if line[:1].isalpha()]
    assert settings == [["PasswordAuthentication", "no"], ["KbdInteractiveAuthentication", "no"]]


def test_a_jailed_kernels_project_holds_no_reference_solution_in_any_commit(tmp_path):
    import subprocess

    from vpclab.course.runner import lay_out

    project = lay_out(tmp_path / "lab", ROOT / "lab.toml", clone=True, history=False)
    history = subprocess.run(
        ["git", "-C", str(project), "log", "-p", "--all"], capture_output=True, text=True
    ).stdout
    assert "handout" in history
    assert "proxy_pass http://microblog_app;" not in history
    assert blanks.unfilled((project / nginx.TEMPLATE).read_text())


class _Lab:
    def __init__(self, statuses: dict[str, str], project: Path = ROOT):
        self.statuses = statuses
        self.spec_path = project / "lab.toml"

    def verify(self, step: str, only=None):
        from vpclab.checklist import CheckResult, Status

        return [
            CheckResult(i, step, i, Status(s), f"seen {i}")
            for i, s in self.statuses.items()
            if i.startswith(step + ".") and (only is None or i in only)
        ]


def test_a_self_check_prints_its_parts_checks_and_a_teaching_hint_on_fail(capsys):
    from vpclab.course.selfcheck import PARTS, self_check

    part = PARTS["nginx location"]
    fine = {i: "PASS" for i in part.checks} | {"nginx.private_paths": "FAIL"}
    assert self_check(_Lab(fine), "nginx location")
    said = capsys.readouterr().out
    assert said.splitlines()[-1] == "PASS nginx location" and "private_paths" not in said
    wrong = fine | {"nginx.proxies_to_app": "FAIL"}
    assert not self_check(_Lab(wrong), "nginx location")
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("FAIL nginx location: nginx -t judges the syntax only")
    assert "vpclab up" not in " ".join(p.hint for p in PARTS.values())
    with pytest.raises(VpclabError, match="no self-check named"):
        self_check(_Lab({}), "nginx")


def test_the_deploy_stage_self_check_judges_the_projects_jenkinsfile(tmp_path, capsys):
    # The lab's builds run the checkout's committed Jenkinsfile, so green builds alone would
    # pass a student whose own Deploy stage is wrong.
    from vpclab.course.selfcheck import PARTS, deploy_stage_problems, self_check

    green = {i: "PASS" for i in PARTS["deploy stage"].checks}
    reference = (ROOT / "Jenkinsfile").read_text()
    assert deploy_stage_problems(ROOT) == []
    assert self_check(_Lab(green), "deploy stage")
    assert "PASS Jenkinsfile: as asked" in capsys.readouterr().out
    (tmp_path / "Jenkinsfile").write_text(reference.replace("scripts/ci/deploy.sh", "deploy.sh"))
    assert not self_check(_Lab(green, tmp_path), "deploy stage")
    said = capsys.readouterr().out
    assert "FAIL Jenkinsfile: Deploy runs sh ['deploy.sh'], not 'scripts/ci/deploy.sh'" in said
    assert said.splitlines()[-1].startswith("FAIL deploy stage: a build deploys only")
    (tmp_path / "Jenkinsfile").write_text(reference.replace("branch 'main'", "branch 'dev'", 1))
    assert deploy_stage_problems(tmp_path) == ["Deploy runs when branch 'dev', not on 'main' only"]
    (tmp_path / "Jenkinsfile").write_text(blanks.clear(reference, blanks.BY_PATH["Jenkinsfile"]))
    [stub] = deploy_stage_problems(tmp_path)
    assert stub.startswith("Jenkinsfile: the blank 'the Deploy stage (08_pipeline)'")


def test_a_jailed_kernel_is_kept_from_the_references_files_outside_the_package():
    from vpclab.course.grade import GradeSettings, hidden
    from vpclab.course.overlay import SANITIZE

    settings = GradeSettings(ROOT / "notebooks", ROOT / "lab.toml", SANITIZE, jail=False)
    kept = hidden(settings, [])
    assert str((ROOT / "scripts/start_app.sh").resolve()) in kept
    assert str((ROOT / "Jenkinsfile").resolve()) in kept
    # The package's own files stay: a kernel hashes them to know whether the agent is current.
    assert not [p for p in kept if p.startswith(str((ROOT / "vpclab").resolve()))]


def test_prometheus_scrapes_and_alerts_as_the_projects_files_say(tmp_path):
    import tomllib

    import yaml

    from vpclab.monitoring import config
    from vpclab.spec import parse_spec

    spec = parse_spec(tomllib.loads((ROOT / "lab.toml").read_text()))
    servers = config.Servers(app="10.0.2.5", web="10.0.1.5")
    data = yaml.safe_load(config.prometheus_yml(spec, servers))
    jobs = {
        (job["job_name"], target)
        for job in data["scrape_configs"]
        for group in job["static_configs"]
        for target in group["targets"]
    }
    assert jobs == {(t.job, t.address) for t in config.scrape_targets(spec, servers)}
    rules = yaml.safe_load(config.rules_yml(spec))["groups"][0]["rules"]
    assert [r["alert"] for r in rules] == ["InstanceDown", "HighErrorRatio", "HighLatencyP95"]
    assert rules[0]["for"] == spec.monitoring.instance_down_for
    assert "{{ $labels.instance }}" in rules[0]["annotations"]["summary"]
    mine = tmp_path / config.SCRAPE_TEMPLATE
    mine.parent.mkdir(parents=True)
    mine.write_text("- job_name: app\n  static_configs:\n   - targets: [x]\n  - bad\n")
    with pytest.raises(VpclabError) as err:
        config.prometheus_yml(spec, servers, tmp_path)
    assert "\n" not in str(err.value) and "is not valid YAML" in str(err.value)
    mine.write_text("job_name: app\n")
    with pytest.raises(VpclabError, match="is not a YAML list of scrape jobs"):
        config.prometheus_yml(spec, servers, tmp_path)
