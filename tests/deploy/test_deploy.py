"""The deployment on real local hosts: `make lab` serves the microblog through Nginx, and
the failures the students met are each handled or caught by a check with a hint."""

from __future__ import annotations

import re
import shlex
import subprocess
import time
import uuid

import pytest

from tests.deploy.conftest import DeployLab, git_mirror, post_form, session
from tests.reallab import all_green, eventually
from vpclab import remote
from vpclab.checklist import Status
from vpclab.errors import VpclabError
from vpclab.facts import app_deploy, nginx_site, ssh_keys
from vpclab.steps import BUILT, nginx, scripts


def _result(lab: DeployLab, step: str, check_id: str):
    results = {r.id: r for r in lab.lab().verify(step=step)}
    return results[check_id]


def _apply(lab: DeployLab, step: str) -> None:
    BUILT[step].apply(lab.lab().context())


def _host(lab: DeployLab, role: str):
    return remote.open_role(lab.lab().context(), role)


@pytest.fixture(scope="module")
def up(deployed: DeployLab) -> DeployLab:
    """The shared lab, once `vpclab up` served the microblog all green (tests/reallab.py)."""
    return deployed


def test_make_lab_serves_the_microblog_and_a_second_run_changes_nothing(up: DeployLab):
    assert "microblog" in up.get("explore").lower()
    commit = up.healthz_commit()
    assert re.fullmatch(r"[0-9a-f]{40}", commit)
    again = up.cli("up")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-2000:]
    assert "already serving" in again.stderr and "nothing to do" in again.stderr
    assert all_green(again.stdout), again.stdout[-3000:]
    assert up.healthz_commit() == commit


def test_redeploy_keeps_posts_and_the_app_outlives_the_ssh_session(up: DeployLab):
    opener = session(up)
    user = f"u{uuid.uuid4().hex[:8]}"
    fields = {"username": user, "email": f"{user}@example.com"}
    post_form(
        up,
        opener,
        "auth/register",
        {**fields, "password": "pw-" + user * 2, "password2": "pw-" + user * 2},
    )
    post_form(up, opener, "auth/login", {"username": user, "password": "pw-" + user * 2})
    body = f"kept across deploys {uuid.uuid4().hex[:6]}"
    post_form(up, opener, "", {"body": body})
    assert body in up.get("explore")

    app = _host(up, "app")
    try:
        before = app.run(f"readlink {app_deploy.APP_ROOT}/current").stdout.strip()
        logged = len(_supervisor_events(app))
    finally:
        remote.close(app)
    # A forced redeploy: a new release folder, same database. run_setup's session closes.
    log = scripts.run_setup(up.lab().context(), {"FORCE": "1"})
    assert "installing app/requirements.txt" in log, log  # FORCE=1 runs pip regardless
    app = _host(up, "app")
    try:
        after = app.run(f"readlink {app_deploy.APP_ROOT}/current").stdout.strip()
        events = _supervisor_events(app)[logged:]
    finally:
        remote.close(app)
    assert after != before
    # One restart, and the old master ended cleanly ('success' comes a second after the
    # spawn: it may not be logged yet).
    assert [e for e in events if e != "success"] == ["stopped (exit status 0)", "spawned"], events
    time.sleep(1)  # the deploying session is gone: the app must still answer
    assert body in up.get("explore")
    assert _result(up, "scripts", "scripts.app_supervised").status is Status.PASS


def _supervisor_events(app) -> list[str]:
    """What supervisord logged of the app's program, in order: 'spawned', 'success' and
    'stopped (exit status N)'."""
    log = app.run("cat /var/log/supervisor/supervisord.log", sudo=True).stdout
    name = re.escape(app_deploy.PROGRAM)
    found = re.findall(
        rf"(spawned|success|stopped): '?{name}\b'?[^(\n]*(\(exit status \d+\))?",
        log,
    )
    return [f"{what} {status}".strip() for what, status in found]


def test_the_first_deploy_starts_gunicorn_once(up: DeployLab):
    # It used to start twice: supervisorctl update starts a new program, then a restart
    # killed it while it booted.
    app = _host(up, "app")
    try:
        events = _supervisor_events(app)
    finally:
        remote.close(app)
    assert events[:2] == ["spawned", "success"], events


def test_closing_a_connection_through_the_jump_host_ends_its_thread(up: DeployLab):
    # Left running, the thread closed its channel after the jump host's connection was gone
    # and died with EOFError (a warning in a full test run).
    app = _host(up, "app")
    app.run("true")
    transport = app._client.get_transport()
    remote.close(app)
    assert not transport.is_alive()


def test_a_release_failing_its_health_check_is_rolled_back(up: DeployLab, tmp_path):
    good = up.healthz_commit()
    mirror, work = git_mirror(up), tmp_path / "broken"
    subprocess.run(["git", "clone", "-q", mirror, str(work)], check=True)
    routes = work / "app" / "main" / "routes.py"
    text = routes.read_text()
    assert 'healthy = database == "ok"' in text
    routes.write_text(text.replace('healthy = database == "ok"', "healthy = False"))
    branch = f"vpclab-test-broken-{uuid.uuid4().hex[:6]}"
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "commit", "-qam", "a release whose health check fails"], check=True)
    subprocess.run([*git, "push", "-q", "origin", f"HEAD:refs/heads/{branch}"], check=True)
    try:
        with pytest.raises(VpclabError, match="rolled back"):
            scripts.run_setup(up.lab().context(), {"REF": branch, "HEALTH_TRIES": "10"})
        assert up.healthz_commit() == good
        assert _result(up, "scripts", "scripts.healthz_commit").status is Status.PASS
    finally:
        subprocess.run(["git", "--git-dir", mirror, "branch", "-qD", branch], check=False)


def test_killing_the_gunicorn_master_brings_the_app_back_within_5_s(up: DeployLab):
    app = _host(up, "app")
    try:
        status = app.run(f"supervisorctl status {app_deploy.PROGRAM}", sudo=True).stdout
        pid = re.search(r"pid (\d+)", status)[1]
        app.run(f"kill -KILL {pid}", sudo=True)

        def serving_again() -> bool:
            """a new gunicorn master answers /healthz"""
            probe = app.run(
                "curl -fsS --max-time 1 http://127.0.0.1:5000/healthz >/dev/null && "
                f"supervisorctl status {app_deploy.PROGRAM}",
                sudo=True,
                check=False,
            )
            return probe.ok and f"pid {pid}," not in probe.stdout

        took = eventually(serving_again, timeout=5.0, interval=0.2)
    finally:
        remote.close(app)
    assert took < 5.0


def _break_and_mend(up: DeployLab, role: str, breaks: str, step: str, check_id: str, hint: str):
    host = _host(up, role)
    try:
        host.run(breaks, sudo=True)
    finally:
        remote.close(host)
    broken = _result(up, step, check_id)
    assert broken.status is Status.FAIL, broken
    assert hint in broken.hint, broken.hint
    _apply(up, step)
    assert _result(up, step, check_id).status is Status.PASS


def test_gunicorn_bound_to_loopback_is_caught(up: DeployLab):
    breaks = (
        "sed -i 's/^GUNICORN_BIND=.*/GUNICORN_BIND=127.0.0.1:5000/' /etc/microblog/microblog.env"
        f" && supervisorctl restart {app_deploy.PROGRAM} >/dev/null"
    )
    _break_and_mend(up, "app", breaks, "scripts", "scripts.app_listens_for_web", "0.0.0.0")


def test_nginx_proxying_to_a_wrong_address_is_caught(up: DeployLab):
    breaks = (
        f"sed -i -E 's/server [0-9.]+:([0-9]+);/server 10.0.2.250:\\1;/' {nginx_site.SITE}"
        " && nginx -s reload"
    )
    _break_and_mend(up, "web", breaks, "nginx", "nginx.proxies_to_app", "rendered from state")


def test_a_0644_private_key_is_caught(up: DeployLab):
    breaks = f"chmod 644 {ssh_keys.APP_KEY_ON_WEB}"
    _break_and_mend(up, "web", breaks, "keys", "keys.private_keys_private", "chmod 600")


def test_an_app_key_usable_from_jenkins_is_caught(up: DeployLab):
    jenkins = remote.where(up.lab().context(), "jenkins").private_ip
    web = remote.where(up.lab().context(), "web").private_ip
    widen = shlex.quote(f's/from="{web}"/from="{web},{jenkins}"/')
    breaks = f"sed -i {widen} {ssh_keys.AUTHORIZED_KEYS}"
    _break_and_mend(up, "app", breaks, "keys", "keys.app_key_only_from_web", 'from="<web')


def test_a_broken_nginx_config_keeps_the_previous_one(up: DeployLab):
    web = _host(up, "web")
    try:
        before = remote.read_file(web, nginx_site.SITE)
        with pytest.raises(VpclabError, match="nginx -t refused"):
            nginx.install(web, before.replace("keepalive 32;", "keepalive nonsense;"))
        assert remote.read_file(web, nginx_site.SITE) == before
        assert web.run("nginx -t", sudo=True, check=False).ok
    finally:
        remote.close(web)
    assert "microblog" in up.get("explore").lower()
