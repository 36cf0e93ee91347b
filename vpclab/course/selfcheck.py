"""Self-checks after a blank in a project file: one line in the notebook runs that part's
checks and prints PASS or FAIL, with a hint that teaches what a failure means and why (not
which command repairs it: a repair by the library earns no credit)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vpclab.checklist import Status
from vpclab.errors import UsageError, VpclabError

if TYPE_CHECKING:
    from vpclab.lab import Lab


@dataclass(frozen=True)
class Part:
    """One blank's checks (ids of its step's checklist) and what a FAIL teaches."""

    step: str
    checks: tuple[str, ...]
    hint: str
    # The student's file itself, when the lab's checks cannot see it yet: (its name, what it
    # lacks, read from the project folder).
    file_check: tuple[str, Callable[[Path], list[str]]] | None = None


def deploy_stage_problems(project: Path) -> list[str]:
    """What the project's Jenkinsfile's Deploy stage lacks, read with the local runner's
    parser. The lab's builds run the Jenkinsfile of the commit they check out (the grader
    commits the student's), so a build while the student works does not judge this file."""
    from vpclab.pipeline.jenkinsfile import read

    path = project / "Jenkinsfile"
    if not path.is_file():
        return [f"no Jenkinsfile in {project}"]
    try:
        pipeline = read(path.read_text())
    except VpclabError as err:
        return [str(err)]
    stage = next((s for s in pipeline.stages if s.name == "Deploy"), None)
    if stage is None:
        return ["no stage named 'Deploy'"]
    problems = []
    when = [c.describe() for c in stage.when]
    if when != ["branch 'main'"]:
        problems.append(f"Deploy runs when {' and '.join(when) or 'always'}, not on 'main' only")
    scripts = [str(s.arg("script")) for s in stage.steps if s.name == "sh"]
    if scripts != ["scripts/ci/deploy.sh"]:
        problems.append(f"Deploy runs sh {scripts or 'nothing'}, not 'scripts/ci/deploy.sh'")
    return problems


PARTS = {
    "app key line": Part(
        "keys",
        ("keys.web_to_app", "keys.app_key_only_from_web"),
        'sshd reads options before the key type: the line must start from="<web private IP>"'
        " (in double quotes, no space after the comma of other options), then the key type "
        "and blob exactly as in the .pub. Without from=, a leaked key works from anywhere; "
        "with the wrong address, not even the web server gets in.",
    ),
    "sshd drop-in": Part(
        "keys",
        ("keys.no_password_login",),
        "sshd -T still reports a password method on. Both PasswordAuthentication and "
        "KbdInteractiveAuthentication must be 'no' (keyboard-interactive asks for a password "
        "too), one keyword and its value per line.",
    ),
    "nginx location": Part(
        "nginx",
        ("nginx.config_valid", "nginx.proxies_to_app", "nginx.internet_to_web_http"),
        "nginx -t judges the syntax only; where the proxy points is yours. proxy_pass must "
        "name the upstream (http://microblog_app), whose server line holds the app's private "
        "address and port: a typed address or port is wrong the day the server changes.",
    ),
    "start_app.sh": Part(
        "scripts",
        ("scripts.app_supervised", "scripts.healthz_commit", "scripts.app_listens_for_web"),
        "supervisor must run $RUNNER under [program:$PROGRAM] with autostart and autorestart "
        "(so gunicorn outlives the SSH session and comes back when it dies), and the deploy "
        "may end well only once /healthz reports the new commit; otherwise it rolls back and "
        "exits non-zero.",
    ),
    "prometheus config": Part(
        "monitoring",
        ("monitoring.targets_up", "monitoring.rules_loaded", "monitoring.alertmanager"),
        "each address must be a target of its own job, with the job names and ports the "
        "notebook gives (the checks match job and address); a target that is down was "
        "scraped at the wrong port, or nothing listens there; the alert rule must load: "
        "promtool names a bad expr or for: before Prometheus reloads.",
    ),
    "deploy stage": Part(
        "pipeline",
        ("pipeline.last_build_green", "pipeline.serves_built_commit"),
        "a build deploys only in a stage named Deploy, on main (when { branch 'main' }), that "
        "runs sh 'scripts/ci/deploy.sh': without it the build is green and the site keeps "
        "serving the commit an earlier deploy left there.",
        ("Jenkinsfile", deploy_stage_problems),
    ),
}


def self_check(lab: Lab, part: str) -> bool:
    """Print each of the part's checks and one PASS or FAIL line (with the hint on FAIL);
    True when nothing FAILed. A SKIP (no hosts) is neither."""
    if part not in PARTS:
        raise UsageError(f"no self-check named {part!r}", f"use one of {', '.join(PARTS)}")
    wanted = PARTS[part]
    results = lab.verify(step=wanted.step, only=wanted.checks)
    for r in results:
        print(f"  {r.status} {r.id}: {r.detail}")
    failing = any(r.status is Status.FAIL for r in results)
    if wanted.file_check:
        name, problems_of = wanted.file_check
        problems = problems_of(lab.spec_path.parent)
        print(f"  {'FAIL' if problems else 'PASS'} {name}: {'; '.join(problems) or 'as asked'}")
        failing = failing or bool(problems)
    if failing:
        print(f"FAIL {part}: {wanted.hint}")
    elif all(r.status is Status.SKIP for r in results):
        print(f"SKIP {part}: nothing to judge without the hosts")
    else:
        print(f"PASS {part}")
    return not failing
