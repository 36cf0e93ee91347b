# ---
# jupyter:
#   jupytext:
#     formats: notebooks//ipynb,course/src//py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 07 · Deploy with scripts: setup.sh and start_app.sh
#
# ### Objectives
#
# - Keep the app's `SECRET_KEY` in SSM Parameter Store and pass it on stdin.
# - Write `start_app.sh`'s supervisor program, health check and rollback.
# - Deploy with `setup.sh` (web) and `start_app.sh` (app): releases, supervisor, `/healthz`.
# - See gunicorn outlive the SSH session and come back under supervisor.
#
# ### Prerequisites
#
# `06_nginx` done (the proxy in front of port 5000).
#
# ### Time
#
# About 40 minutes.
#
# ### Reference docs
#
# - [boto3 `put_parameter`](https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/ssm/client/put_parameter.html)
# - [supervisor configuration (`[program:x]`)](http://supervisord.org/configuration.html)

# %% [markdown]
# **Why this step exists.** The original exercise automates the deploy with two scripts, so
# that "the pipeline can coordinate actions across multiple hosts while maintaining
# execution context":
#
# - `start_app.sh` "runs on the Application Server": it installs dependencies, fetches the
#   application, installs its Python packages, sets environment variables and "starts the
#   application using Gunicorn in the background";
# - `setup.sh` "runs on the Web Server and SSHs into the Application Server to execute
#   start_app.sh", over the path the keys step opened (step 05).
#
# This is the step where the exercise's own versions broke most often, and each break is
# a lesson the scripts in `scripts/` now carry:
#
# - gunicorn died when the SSH session ended: it now runs under supervisor, which also
#   restarts it when it dies;
# - host key checking switched off: the app's host key is pinned (step 05);
# - the app's IP typed into the script: every address is an argument or a setting;
# - an `rm -rf` of the checkout wiped the SQLite database: each deploy is a new release
#   folder, and the database lives outside them;
# - a second run failed because the repo existed or port 5000 was held: the scripts are
#   idempotent (the same commit already serving means nothing to do);
# - gunicorn bound to 127.0.0.1: it binds 0.0.0.0, so the web server reaches it;
# - a broken release stayed live: `/healthz` is checked, and a failure rolls back to the
#   last good release.
#
# The app's `SECRET_KEY` is a secret: it lives in SSM Parameter Store as a SecureString,
# created once, and reaches the app server on stdin, never on a command line or in git.
#
# The deploy needs the hosts (as root, `make jupyter`). Without them those cells say so and
# skip; the SSM parameter is control plane only, so that cell runs anywhere.

# %%
import secrets
import subprocess
import tempfile
import time
from pathlib import Path

from vpclab import remote, report
from vpclab.course.selfcheck import self_check
from vpclab.facts import app_deploy
from vpclab.lab import Lab
from vpclab.localcloud import client
from vpclab.steps import scripts

lab = Lab("../lab.toml")
lab.follow_dataplane()  # the hosts run and their host keys are pinned on this machine
offline = lab.dataplane_off()
ssm = lab.cloud.client("ssm")

# %% [markdown]
# ## Do the step
#
# **The secret, from Parameter Store.** Read the parameter; when it does not exist yet,
# create it once with a random value. Its name is `scripts.secret_parameter(lab.spec.name)`
# (`/vpclab/<lab>/microblog/SECRET_KEY`), its type `SecureString`; keep the value in
# `secret_key`, which the deploy sends. Only its name and type are printed.

# %%
### BEGIN SOLUTION
name = f"/vpclab/{lab.spec.name}/microblog/SECRET_KEY"
try:
    found = ssm.get_parameter(Name=name, WithDecryption=True)
except ssm.exceptions.ParameterNotFound:
    ssm.put_parameter(Name=name, Value=secrets.token_hex(32), Type="SecureString")
    found = ssm.get_parameter(Name=name, WithDecryption=True)
secret_key = found["Parameter"]["Value"]
### END SOLUTION
stored = ssm.get_parameter(Name=scripts.secret_parameter(lab.spec.name), WithDecryption=True)
stored = stored["Parameter"]
print(f"SECRET_KEY: {stored['Name']} ({stored['Type']}, {len(stored['Value'])} characters)")

# %% [markdown]
# **Where the code comes from.** The app server fetches the project from a git remote and
# its wheels from a package index, through the NAT: locally the lab's "internet" serves
# both; on AWS it is the project's public repository and PyPI. `deploy_settings` returns
# them as the environment `setup.sh` passes on.

# %%
if offline:
    print(f"needs the hosts: {offline}")
else:
    ctx = lab.context()
    settings = scripts.deploy_settings(ctx)
    app_at = remote.where(ctx, "app")
    for key, value in settings.items():
        print(f"{key}={value}")

# %% [markdown]
# **Write the heart of `start_app.sh`.** Open `scripts/start_app.sh` in the project (from
# this folder, `../scripts/start_app.sh`). Everything around them is given (the release
# folder, the venv, the env file, the runner `$RUNNER` that drops to the app user); three
# blanks, each a `# YOUR CODE HERE: ... (07_scripts)` line, are yours:
#
# - **the supervisor program**: set `program_text` to the `[program:$PROGRAM]` section
#   of supervisor's config with `command=$RUNNER`, `autostart=true`, `autorestart=true`,
#   `startsecs=1`, `startretries=10`, `stopasgroup=true`, `killasgroup=true`,
#   `stopwaitsecs=20`, `redirect_stderr=true` and
#   `stdout_logfile=/var/log/supervisor/$PROGRAM.log`; write it to `$SUPERVISOR_CONF` only
#   when it differs, and then set `changed=1` (a second deploy of the same commit changes
#   nothing). See supervisor's
#   [`[program:x]` section](http://supervisord.org/configuration.html#program-x-section-settings).
# - **the health check**: a function `healthy COMMIT` that returns 0 as soon as
#   `serving` (given: the commit `/healthz` reports, or nothing) prints `COMMIT`, trying
#   `$HEALTH_TRIES` times half a second apart, and returns 1 after the last try.
# - **the rollback**, the script's last lines, reached when the new commit is not healthy:
#   read the last good release from `$LAST_GOOD`; when there is none (or it is this
#   release), `die` naming the commit. Otherwise read its commit from `$good/REVISION`,
#   `log` the rollback, `switch_to "$good"`, `restart`, and `die` (exit non-zero) either
#   way: "rolled back: <good> is serving again" when `healthy "$good_commit"`, else that the
#   rollback is not healthy either. A failed deploy must never look like a success.
#
# Use the script's own helpers (`log`, `die`, `switch_to`, `restart`, `serving`); keep it
# POSIX-careful for `shellcheck` (quote every expansion). The deploy below copies *your*
# `scripts/start_app.sh`; while a stub line is still in it, the deploy stops with one line
# naming the file and the blank.

# %% [markdown]
# **Deploy.** Copy both scripts to the web server, then run `setup.sh` there with the app
# server's private address as its argument. `SECRET_STDIN=1` tells it to read the secret
# from the first line of its stdin and hand it on the same way. The web server does the
# rest over its pinned SSH path: `start_app.sh` runs on the app server as root.
# `scripts.script_text(name, lab.spec_path.parent)` is a script's text as this project
# holds it (yours), for `app_deploy.SCRIPTS_DIR` (mode 0755);
# `web.run(cmd, env=..., input=..., timeout=900)` runs it with `settings` in its environment
# and `secret_key` on stdin. Print its stderr, where `setup.sh` reports.

# %%
if offline:
    print(f"needs the hosts: {offline}")
else:
    web = remote.open_role(ctx, "web")
    ### BEGIN SOLUTION
    for script in ("setup.sh", "start_app.sh"):
        web.put_text(
            scripts.script_text(script, lab.spec_path.parent),
            f"{app_deploy.SCRIPTS_DIR}/{script}",
            0o755,
            sudo=True,
        )
    deploy = web.run(
        f"bash {app_deploy.SCRIPTS_DIR}/setup.sh {app_at.private_ip}",
        env={**settings, "SECRET_STDIN": "1"},
        input=secret_key + "\n",
        timeout=900,
    )
    for line in deploy.stderr.splitlines():  # setup.sh reports on stderr
        print(line)
    ### END SOLUTION
    # Jenkins' deploys (08) take the same settings from a root-owned file on the web server:
    # its key may only run `deploy <commit>`, never pass settings of its own.
    conf = scripts.deploy_conf(settings, app_at.private_ip)
    remote.ensure_file(web, app_deploy.DEPLOY_CONF, conf, 0o644)
    remote.close(web)  # the deploying SSH session ends here; the app must keep running

# %% [markdown]
# **Self-check: your `start_app.sh`.** One line runs this part's checks and says PASS, or FAIL with
# what is wrong and why.

# %%
if offline:
    print(f"needs the hosts: {offline}")
else:
    self_check(lab, "start_app.sh")

# %% [markdown]
# ## Look at the result
#
# **Through the proxy.** `/healthz` answers with the commit it serves, and the microblog's
# pages come back through Nginx. The commit matches the release folder on the app server.

# %%
if offline:
    print(f"needs the hosts: {offline}")
else:
    web_at = remote.where(ctx, "web")
    health = remote.site_get(ctx, "/healthz")  # HTTPS, trusting the lab CA (step 06)
    print(
        f"GET /healthz via https://{web_at.public_ip}: HTTP {health.status} {health.body.strip()}"
    )
    page = remote.site_get(ctx, "/explore")
    title = page.body.split("<title>")[1].split("</title>")[0] if "<title>" in page.body else ""
    print(f"GET /explore: HTTP {page.status}, title {title.strip()!r}")
    app = remote.open_role(ctx, "app")
    print(f"deployed release: {remote.read_file(app, app_deploy.REVISION).strip()}")

# %% [markdown]
# **Outliving the session.** The SSH session that deployed is closed, and gunicorn still
# runs: its parent is supervisord, not an sshd. It listens on every address, so the web
# server reaches it, while the internet still cannot.

# %%
if offline:
    print(f"needs the hosts: {offline}")
else:
    print(app.run(f"supervisorctl status {app_deploy.PROGRAM}", sudo=True).stdout.strip())
    port = lab.spec.ports.app
    print(app.run(f"ss -ltnH 'sport = :{port}'").stdout.strip())
    reached = remote.can_connect(ctx, app_at.private_ip, port)
    print(
        f"internet → app {app_at.private_ip}:{port}: "
        f"{'CONNECTED (should not be)' if reached else 'refused or timed out'}"
    )

# %% [markdown]
# ## Break it and watch
#
# **Stop gunicorn.** Users now get Nginx's friendly 502 page, and the checklist says the
# microblog is not served. Then start it again under supervisor (the release that was
# serving is still in place) and wait, within a bound, until `/healthz` answers.

# %% tags=["break-it"]
if offline:
    print(f"needs the hosts: {offline}")
else:
    app.run(f"supervisorctl stop {app_deploy.PROGRAM}", sudo=True)
    try:
        down = remote.site_get(ctx, "/")
        body = down.body
        title = body.split("<title>")[1].split("</title>")[0] if "<title>" in body else ""
        print(f"gunicorn stopped: GET / → HTTP {down.status}, {title!r}")
        served = lab.verify(step="scripts", only=["scripts.microblog_through_web"])
        print(report.to_text(served))
    finally:
        app.run(f"supervisorctl start {app_deploy.PROGRAM}", sudo=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if remote.site_get(ctx, "/healthz").status == 200:
                break
        except OSError:  # gunicorn still starting: the proxy may hold the request a while
            pass
        time.sleep(1)
    served = lab.verify(step="scripts", only=["scripts.microblog_through_web"])
    print(report.to_text(served))
    remote.close(app)

# %% [markdown]
# **A release whose health check fails.** Commit, on a branch of its own, a version whose
# `/healthz` always answers 503, and deploy that branch (`REF`). `start_app.sh` builds the new
# release, points `current` at it, restarts gunicorn and checks `/healthz`; it fails, so the
# script points `current` back at the last good release, and exits non-zero so that a pipeline
# stops there. Watch `current` and the commit `/healthz` serves before and after. The commit is
# made in a scratch worktree (your checkout is not touched), and `finally` deletes the branch.
# The lab's git remote serves a new branch within a few seconds, as a push would.


# %% tags=["break-it"]
def git(*args: str, cwd: str | None = None) -> str:
    """git in your checkout (the project the lab's git remote serves), or in `cwd`."""
    who = ["-c", "user.name=break-it", "-c", "user.email=break-it@example.invalid"]
    done = subprocess.run(
        ["git", "-C", cwd or repo, *who, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def serving() -> str:
    """The commit /healthz answers with, through the proxy."""
    reply = remote.site_get(ctx, "/healthz").body
    return reply.split('"commit":"')[1].split('"')[0][:12] if '"commit":"' in reply else reply


running = client.running(lab.local_dir)
if offline:
    print(f"needs the hosts: {offline}")
elif running is None or not running.repo_root:
    print("needs the local target's git remote: on AWS, push a branch and deploy it with REF")
else:
    repo, branch = running.repo_root, "break-it/failing-healthz"
    scratch = tempfile.mkdtemp(prefix="vpclab-break-it-")
    web, app = remote.open_role(ctx, "web"), remote.open_role(ctx, "app")
    try:
        git("worktree", "add", "-q", "-b", branch, scratch, "HEAD")
        routes = Path(scratch, "app", "main", "routes.py")
        routes.write_text(
            routes.read_text().replace('healthy = database == "ok"', "healthy = False")
        )
        git("commit", "-q", "-am", "A release whose /healthz fails", cwd=scratch)
        broken = git("rev-parse", "HEAD", cwd=scratch)
        settings = scripts.deploy_settings(ctx)
        listed = f"git ls-remote {settings['REPO_URL']} refs/heads/{branch}"
        # Until the remote serves the branch at this commit (it may list it at HEAD first).
        deadline = time.monotonic() + 60
        while broken not in web.run(listed, check=False).stdout and time.monotonic() < deadline:
            time.sleep(1)
        current = f"readlink {app_deploy.APP_ROOT}/current"
        print(f"before: current → {app.run(current).stdout.strip()}, /healthz {serving()}")
        deploy = web.run(
            f"bash {app_deploy.SCRIPTS_DIR}/setup.sh {app_at.private_ip}",
            env={**settings, "REF": branch, "HEALTH_TRIES": "10", "SECRET_STDIN": "1"},
            input=scripts.secret_key(ctx) + "\n",
            timeout=900,
            check=False,
        )
        for line in deploy.stderr.splitlines()[-3:]:
            print(f"  {line}")
        print(f"setup.sh exit status: {deploy.rc}")
        print(f"after:  current → {app.run(current).stdout.strip()}, /healthz {serving()}")
        healthz = lab.verify(step="scripts", only=["scripts.healthz_commit"])
        print(report.to_text(healthz))
    finally:
        git("worktree", "remove", "--force", scratch)
        git("branch", "-D", branch)
        remote.close(web)
        remote.close(app)

# %% [markdown]
# ## Check yourself
#
# 1. Why does gunicorn run under supervisor instead of with `&` in the SSH session?
# 2. Why is each deploy a new release folder, with the database outside them?
# 3. What happens when a new release's `/healthz` fails?

# %% [markdown]
# <details><summary>Answers</summary>
#
# 1. A process started from a session can die with it; supervisor owns the process, keeps it
#    running after the session ends and restarts it when it dies.
# 2. A failed release can be dropped and the previous one served again, and no `rm -rf` of a
#    checkout can take the data with it.
# 3. The script switches back to the last good release, which keeps serving, and exits
#    non-zero so the pipeline sees the failure.
#
# </details>

# %% [markdown]
# ## Key points
#
# - Secrets live in Parameter Store and never on a command line or in git.
# - Deploy scripts must be safe to run twice.
# - When gunicorn stops, users get Nginx's friendly 502, and the checklist says so.

# %% [markdown]
# ## Checkpoint

# %% tags=["checkpoint", "nbval-check-output"]
lab.checkpoint("scripts")
