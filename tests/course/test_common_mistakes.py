"""The common student mistakes in the file blanks, as docs/instructor.md lists them: each one
made in a copy of the reference file and judged by what judges it in a lab (the real tool:
`nginx -t`, promtool, shellcheck; the local runner's Jenkinsfile parser; the kit's own
reading of the file), so the guide says what students will really see."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from vpclab import blanks, labca
from vpclab.errors import VpclabError
from vpclab.facts import nginx_site, ssh_keys
from vpclab.hosts.ssh import Result
from vpclab.monitoring import config
from vpclab.pipeline.jenkinsfile import read
from vpclab.render import render_text
from vpclab.spec import parse_spec
from vpclab.steps import keys, monitoring, nginx

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
BLOB = "AAAAC3NzaC1lZDI1NTE5AAAAIGxvY2FsLWtleS1mb3ItdGVzdHM"
WEB, APP = "10.0.1.9", "10.0.2.5"


def _with(path: str, region: str) -> str:
    """The reference file with its (first) solution region's lines replaced by `region`."""
    text = (ROOT / path).read_text()
    first = blanks.regions(text, blanks.BY_PATH[path].comment)[0]
    lines = text.splitlines(keepends=True)
    start = first.first - 1
    return "".join([*lines[:start], region, *lines[start + len(first.lines) :]])


def _project(tmp_path: Path, path: str, text: str) -> Path:
    (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / path).write_text(text)
    return tmp_path


# --- 05: the app key's line ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "allowed"),
    [
        ('from="{{ web_ip }}" {{ key_type }} {{ blob }} vpclab-app\n', WEB),
        # sshd wants the pattern in double quotes; the check then sees no from= at all.
        ("from={{ web_ip }} {{ key_type }} {{ blob }} vpclab-app\n", None),
        ("{{ key_type }} {{ blob }} vpclab-app\n", None),
        # A typed address passes today and locks the web server out when it is replaced.
        ('from="10.0.1.7" {{ key_type }} {{ blob }} vpclab-app\n', "10.0.1.7"),
    ],
)
def test_the_app_key_line_allows_what_its_from_option_says(tmp_path, line, allowed):
    project = _project(tmp_path, keys.APP_KEY_TEMPLATE, line)
    key = keys.app_key_line(project, "ssh-ed25519", BLOB, WEB)
    assert ssh_keys.from_option(key.options) == allowed


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('from="{{ web_ip }}" {{ blob }} vpclab-app\n', "renders 0 key lines"),
        ('from="{{ web_ip }}" {{ key_type }} {{ blob }}\n{{ key_type }} {{ blob }}\n', "renders 2"),
        ('from="{{ web_ip }" {{ key_type }} {{ blob }}\n', "line 1: unexpected '}'"),
        ('from="{{ webip }}" {{ key_type }} {{ blob }}\n', "'webip' is undefined"),
    ],
)
def test_a_broken_app_key_line_is_one_line_naming_the_file(tmp_path, line, says):
    project = _project(tmp_path, keys.APP_KEY_TEMPLATE, line)
    with pytest.raises(VpclabError) as err:
        keys.app_key_line(project, "ssh-ed25519", BLOB, WEB)
    assert says in str(err.value) and keys.APP_KEY_TEMPLATE in str(err.value)
    assert "\n" not in str(err.value)


def test_prometheus_label_templates_outside_raw_are_a_one_line_error():
    text = (ROOT / config.ALERT_TEMPLATE).read_text().replace("{% raw %}", "")
    with pytest.raises(VpclabError, match="unexpected char '\\$'") as err:
        render_text(text.replace("{% endraw %}", ""), config.ALERT_TEMPLATE, instance_down_for="1m")
    assert "{% raw %}" in err.value.fix


class _Sshd:
    """A host whose files live in a dict; its `sshd -t` refuses an unknown keyword, as the
    real one does ("Bad configuration option")."""

    name = "web"

    def __init__(self, files: dict[str, str]) -> None:
        self.files, self.ran = files, []

    def run(self, cmd: str, **_) -> Result:
        self.ran.append(cmd)
        if cmd.startswith("cat "):
            path = cmd.split()[1]
            return Result(0, self.files[path], "") if path in self.files else Result(1, "", "")
        if cmd == "sshd -t":
            for line in self.files.get(keys.SSHD_DROPIN, "").splitlines():
                word = line.split()[0] if line.split() else ""
                if word and not word.startswith("#") and word not in KNOWN:
                    why = f"{keys.SSHD_DROPIN}: line 1: Bad configuration option: {word}"
                    return Result(255, "", why)
            return Result(0, "", "")
        if cmd.startswith("rm -f ") and "sshd_config.d" in cmd and "rm -v" not in cmd:
            self.files.pop(cmd.split()[2], None)
        return Result(0, "", "")

    def put_text(self, text: str, path: str, *_args, **_kw) -> None:
        self.files[path] = text


KNOWN = ("PasswordAuthentication", "KbdInteractiveAuthentication")


@pytest.mark.parametrize("before", [None, "PasswordAuthentication no\n"])
def test_a_drop_in_sshd_refuses_never_stays_on_the_host(tmp_path, before):
    mistake = "PasswordAuthentification no\nKbdInteractiveAuthentication no\n"
    project = _project(tmp_path, keys.SSHD_DROPIN_FILE, mistake)
    host = _Sshd({} if before is None else {keys.SSHD_DROPIN: before})
    with pytest.raises(VpclabError) as err:
        keys.no_password_login(host, project)  # type: ignore[arg-type]
    line = str(err.value)
    assert "\n" not in line and keys.SSHD_DROPIN_FILE in line
    assert "Bad configuration option: PasswordAuthentification" in line
    assert host.files.get(keys.SSHD_DROPIN) == before  # the previous one, or none
    assert not [c for c in host.ran if "reload" in c or "HUP" in c]


# --- 06: the Nginx location / ----------------------------------------------------------------


def _nginx_t(tmp_path: Path, region: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """`nginx -t` on the site as the step renders it, with `region` as the student's
    `location /`; and the rendered site."""
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed (scripts/bootstrap.sh installs it)")
    spec = tmp_path / "lab.toml"
    issued = labca.ensure_server_cert("t", ["127.0.0.1"], spec)
    (tmp_path / "tls.crt").write_text(issued.cert_pem)
    (tmp_path / "tls.key").write_text(issued.key_pem)
    values = {
        "lab": "t",
        "app_ip": APP,
        "app_port": 5000,
        "http_port": 80,
        "https_port": 443,
        "https_suffix": "",
        "tls_cert": str(tmp_path / "tls.crt"),
        "tls_key": str(tmp_path / "tls.key"),
        "hsts_max_age": nginx.HSTS_MAX_AGE,
        "connect_timeout": nginx_site.CONNECT_TIMEOUT,
        "monitoring_ip": "10.0.3.5",
        "body_limit": nginx.BODY_LIMIT,
        "error_root": str(tmp_path),
    }
    site = render_text(_with(nginx.TEMPLATE, region), nginx.TEMPLATE, **values)
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid; events {{}} http {{ include {tmp_path}/site.conf; }}\n"
    )
    argv = ["nginx", "-t", "-e", "stderr", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")]
    return subprocess.run(argv, capture_output=True, text=True), site


LOCATION = "    location / {{\n        proxy_pass {};\n    }}\n"


@pytest.mark.parametrize(
    ("target", "proxied"),
    [
        ("http://microblog_app", [nginx_site.Upstream(APP, 5000)]),
        ("http://{{ app_ip }}:5001", [nginx_site.Upstream(APP, 5001)]),  # the wrong port
        ("http://10.0.2.5:5000", [nginx_site.Upstream(APP, 5000)]),  # typed: right until it moves
    ],
)
def test_nginx_t_passes_wherever_the_proxy_points(tmp_path, target, proxied):
    test, site = _nginx_t(tmp_path, LOCATION.format(target))
    assert test.returncode == 0, test.stderr
    assert nginx_site.proxied(site) == proxied  # what nginx.proxies_to_app compares


def test_an_empty_location_passes_nginx_t_and_proxies_to_nothing(tmp_path):
    test, site = _nginx_t(tmp_path, "")
    assert test.returncode == 0, test.stderr
    assert nginx_site.proxied(site) == []


@pytest.mark.parametrize(
    ("region", "says"),
    [
        ("    location / {\n        proxy_pass http://microblog_app\n    }\n", 'unexpected "}"'),
        ("    location / {\n        proxy_pass http://microblog_app;\n", "unexpected end of file"),
        (LOCATION.format("microblog_app"), "invalid URL prefix"),
        (LOCATION.format("http://microblog"), 'host not found in upstream "microblog"'),
    ],
)
def test_nginx_t_refuses_a_broken_location(tmp_path, region, says):
    test, _site = _nginx_t(tmp_path, region)
    assert test.returncode != 0 and says in test.stderr


# --- 07: start_app.sh ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "code"),
    [
        ('[ "$(serving)" = "$want" ]', "[ $(serving) = $want ]", "SC2046"),
        ('for i in $(seq "$HEALTH_TRIES"); do', "for i in {1..$HEALTH_TRIES}; do", "SC2051"),
        ("  changed=1\nfi\n# ### END SOLUTION", "  changed=1\n# ### END SOLUTION", "SC1046"),
    ],
)
def test_shellcheck_names_the_start_app_mistakes(tmp_path, old, new, code):
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (scripts/bootstrap.sh installs it)")
    text = (ROOT / "scripts/start_app.sh").read_text()
    assert old in text
    (tmp_path / "start_app.sh").write_text(text.replace(old, new, 1))
    found = subprocess.run(
        ["shellcheck", "-f", "gcc", str(tmp_path / "start_app.sh")], capture_output=True, text=True
    )
    assert f"[{code}]" in found.stdout


# --- 08: the Deploy stage --------------------------------------------------------------------

STAGE = "        stage({name}) {{\n{when}            steps {{\n{step}            }}\n        }}\n"
WHEN = "            when {{ {} }}\n"


@pytest.mark.parametrize(
    ("region", "says"),
    [
        (STAGE.format(name="'Deploy'", when=WHEN.format("branch main"), step=""), "branch must"),
        (
            STAGE.format(
                name="'Deploy'",
                when=WHEN.format("expression { env.BRANCH_NAME == 'main' }"),
                step="                sh 'scripts/ci/deploy.sh'\n",
            ),
            "unexpected '='",
        ),
        (
            STAGE.format(name="", when="", step="                sh 'scripts/ci/deploy.sh'\n"),
            "a stage needs a name",
        ),
        (
            "        stage('Deploy') {\n            sh 'scripts/ci/deploy.sh'\n        }\n",
            "'sh' is not supported in a stage",
        ),
    ],
)
def test_the_runner_names_the_line_of_a_broken_deploy_stage(region, says):
    with pytest.raises(VpclabError) as err:
        read(_with("Jenkinsfile", region))
    assert str(err.value).startswith("Jenkinsfile line ") and says in str(err.value)


def test_a_deploy_stage_named_otherwise_runs_but_no_build_counts_as_deploying():
    region = STAGE.format(
        name="'deploy'",
        when=WHEN.format("branch 'main'"),
        step="                sh 'scripts/ci/deploy.sh'\n",
    )
    names = [s.name for s in read(_with("Jenkinsfile", region)).stages]
    # pipeline.serves_built_commit looks for the stage named Deploy.
    assert "deploy" in names and "Deploy" not in names


# --- 09: scrape_configs and InstanceDown -----------------------------------------------------


def _promtool(tmp_path: Path, scrape: str | None = None, alert: str | None = None):
    """promtool on the prometheus.yml and rules the step renders from the project's files;
    and (job, address) pairs the config scrapes against those the checks want."""
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed (scripts/bootstrap.sh installs it)")
    spec = parse_spec(tomllib.loads((ROOT / "lab.toml").read_text()))
    servers = config.Servers(app=APP, web=WEB)
    for path, text in ((config.SCRAPE_TEMPLATE, scrape), (config.ALERT_TEMPLATE, alert)):
        _project(tmp_path, path, text or (ROOT / path).read_text())
    (tmp_path / "rules.yml").write_text(config.rules_yml(spec, tmp_path))
    prometheus = config.prometheus_yml(spec, servers, tmp_path)
    (tmp_path / "prometheus.yml").write_text(
        prometheus.replace(config.RULES_YML, str(tmp_path / "rules.yml"))
    )
    checked = subprocess.run(
        ["promtool", "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
    )
    import yaml

    jobs = {
        (job["job_name"], target)
        for job in yaml.safe_load(prometheus)["scrape_configs"]
        for group in job.get("static_configs", [])
        for target in group["targets"]
    }
    want = {(t.job, t.address) for t in config.scrape_targets(spec, servers)}
    return checked, jobs, want


def test_a_renamed_job_or_a_wrong_port_passes_promtool_and_not_the_targets_check(tmp_path):
    scrape = (ROOT / config.SCRAPE_TEMPLATE).read_text()
    for mistake in (
        scrape.replace("job_name: microblog", "job_name: app"),
        scrape.replace('"{{ web_ip }}:{{ ports.node_exporter }}"', '"{{ web_ip }}:9101"'),
    ):
        checked, jobs, want = _promtool(tmp_path, scrape=mistake)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert jobs != want  # monitoring.targets_up: "targets differ from the lab's state"


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("job_name: nginx", "job_name: node", 'multiple scrape configs with job name "node"'),
        (
            '  static_configs:\n    - targets: ["127.0.0.1:{{ ports.prometheus }}"]\n'
            "      labels: {role: monitoring}",
            '  targets: ["127.0.0.1:{{ ports.prometheus }}"]',
            "field targets not found",
        ),
        (
            '"{{ app_ip }}:{{ ports.app }}"',
            '"http://{{ app_ip }}:{{ ports.app }}/metrics"',
            "not a",
        ),
    ],
)
def test_promtool_refuses_a_broken_scrape_config(tmp_path, old, new, says):
    scrape = (ROOT / config.SCRAPE_TEMPLATE).read_text()
    assert old in scrape
    checked, _jobs, _want = _promtool(tmp_path, scrape=scrape.replace(old, new, 1))
    assert checked.returncode != 0 and says in checked.stdout + checked.stderr


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("for: {{ instance_down_for }}", "for: 1 minute", "not a valid duration string"),
        ("expr: up == 0", "expr: up = 0", 'parse error: unexpected "="'),
        ("- alert: InstanceDown", "- name: InstanceDown", "field name not found"),
    ],
)
def test_promtool_refuses_a_broken_alert_rule(tmp_path, old, new, says):
    alert = (ROOT / config.ALERT_TEMPLATE).read_text()
    assert old in alert
    checked, _jobs, _want = _promtool(tmp_path, alert=alert.replace(old, new, 1))
    assert checked.returncode != 0 and says in checked.stdout + checked.stderr


def test_a_scrape_config_that_is_not_yaml_stops_before_promtool(tmp_path):
    spec = parse_spec(tomllib.loads((ROOT / "lab.toml").read_text()))
    scrape = (ROOT / config.SCRAPE_TEMPLATE).read_text()
    tab = scrape.replace("  static_configs:", "\tstatic_configs:", 1)
    project = _project(tmp_path, config.SCRAPE_TEMPLATE, tab)
    with pytest.raises(VpclabError, match="is not valid YAML.*spaces only"):
        config.prometheus_yml(spec, config.Servers(app=APP, web=WEB), project)


class _Promtool(_Sshd):
    """A monitoring host whose files live in a dict; `promtool check rules` refuses."""

    def run(self, cmd: str, **_) -> Result:
        self.ran.append(cmd)
        if cmd.startswith("cat "):
            path = cmd.split()[1]
            return Result(0, self.files[path], "") if path in self.files else Result(1, "", "")
        if cmd.startswith("promtool check rules"):
            return Result(1, "", 'parse error: unexpected "="')
        if cmd.startswith("rm -f "):
            self.files.pop(cmd.split()[2], None)
        return Result(0, "", "")


def test_files_promtool_refuses_never_stay_on_the_host():
    """The rule file changed and the scrape config is new: promtool refuses, so the rule file
    is put back and the new scrape config removed; Prometheus is not touched."""
    before = {config.RULES_YML: "groups: []\n", config.ALERTMANAGER_YML: "route: {}\n"}
    host = _Promtool(dict(before))
    new = {
        config.PROMETHEUS_YML: "scrape_configs: []\n",
        config.RULES_YML: "expr: up = 0\n",
        config.ALERTMANAGER_YML: "route: {}\n",
    }
    with pytest.raises(VpclabError, match='refused the new file.*unexpected "="'):
        monitoring.install_configs(host, new)  # type: ignore[arg-type]
    assert host.files == before
    assert not [c for c in host.ran if "supervisorctl" in c or "HUP" in c]
