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
# # 08 · The pipeline: Jenkins builds, tests, scans and deploys
#
# ### Objectives
#
# - Read the Jenkinsfile's stages, from Build through Security to Deploy and Verify.
# - Write the Deploy stage: `main` only, one `sh` step.
# - Run the pipeline on the lab's Jenkins host and read its stage table.
# - Watch a failing test stop the pipeline before Deploy, then recover with `git revert`.
#
# ### Prerequisites
#
# `07_scripts` done (the deploy scripts the Deploy stage runs), and the hosts running.
#
# ### Time
#
# About 30 minutes.
#
# ### Reference docs
#
# - [Jenkins pipeline syntax](https://www.jenkins.io/doc/book/pipeline/syntax/)
# - [`when` and `branch`](https://www.jenkins.io/doc/book/pipeline/syntax/#when)

# %% [markdown]
# **Why this step exists.** In the original exercise Jenkins is the only way code reaches
# production: it pulls the code, runs the tests, performs security checks, and deploys "by
# SSHing into the Web Server and running setup.sh". And Jenkins lives apart, in the default
# VPC, on its own server. The exercise gives the reasons:
#
# - **It reduces the blast radius.** Build tools and their credentials are not on the
#   machine that faces the public. A compromised app server holds no deploy key; a
#   compromised build holds only the key to the web server.
# - **It improves stability.** A build that compiles, tests and scans competes for CPU,
#   memory and disk; on its own server it cannot slow the live site down.
# - **It improves visibility.** With production isolated, its metrics (step 09) show the
#   app's behaviour, not the build's.
#
# The pipeline is the `Jenkinsfile` at the root of the project. Its stages are Build, Test,
# Security, Deploy and Verify, and each stage's work is a script in `scripts/ci/`, so real
# Jenkins on AWS and the lab's Jenkins host run exactly the same commands. The exercise's
# own pipelines broke in ways each stage now guards against: pytest missing from the
# build, a Security stage that "passed" without checking anything, a known_hosts prompt
# that blocked the deploy, remote commands that silently ran on the Jenkins host.
#
# Here the Jenkins host of the local lab runs the Jenkinsfile (`vpclab pipeline run`), as the
# user `jenkins`, in a checkout of the lab's git remote, with the key from step 05. Running
# it needs the hosts (as root, `make jupyter`); without them those cells say so and skip.

# %%
import subprocess
from pathlib import Path

from vpclab import remote, report
from vpclab.course.selfcheck import self_check
from vpclab.lab import Lab
from vpclab.localcloud import client
from vpclab.pipeline.builds import stage_text
from vpclab.pipeline.jenkinsfile import read
from vpclab.pipeline.local import run_on_lab

lab = Lab("../lab.toml")
lab.follow_dataplane()  # the hosts run and their host keys are pinned on this machine
offline = lab.dataplane_off()

# %% [markdown]
# ## The Jenkinsfile
#
# The stages, the conditions under which each runs, and the scripts they call. Deploy and
# Verify run only on the `main` branch; Dependency-Check (OWASP, with the NVD key from
# Jenkins' credentials) only on real Jenkins. Security never passes silently: when the
# vulnerability data cannot be reached, the stage is UNSTABLE and says "not checked".

# %% [markdown]
# **Write the Deploy stage.** Open the project's `Jenkinsfile` (from this folder,
# `../Jenkinsfile`): between Dependency-Check and Verify, its line
# `// YOUR CODE HERE: the Deploy stage (08_pipeline)` is yours. Replace it with a declarative
# [`stage`](https://www.jenkins.io/doc/book/pipeline/syntax/#stage) named `Deploy` that:
#
# - runs on the `main` branch only: a
#   [`when { branch 'main' }`](https://www.jenkins.io/doc/book/pipeline/syntax/#when)
#   (a feature branch is built and tested, never deployed);
# - has one step, `sh 'scripts/ci/deploy.sh'`: the script takes Jenkins' key and the web
#   server's pinned host key and asks the web server's deploy gate for `deploy <commit>`.
#
# Look at the Verify stage below it for the shape (about 8 lines). The cell below reads
# your file with the local runner's parser: a stub line left in, or a construct it does not
# know, is one line naming the file and the line. The lab's build runs the Jenkinsfile of
# the commit it checks out: yours, committed for you before each build into the project the
# lab's git remote serves (when you are graded, the grader commits it). The self-check below
# also reads your file.

# %%
pipeline = read((lab.spec_path.parent / "Jenkinsfile").read_text())
for stage in pipeline.stages:
    when = " and ".join(c.describe() for c in stage.when) or "always"
    scripts = [s.arg("script") for s in stage.steps if s.name == "sh"]
    print(f"{stage.name:<17} when {when:<45} {', '.join(scripts) or '(plugin steps)'}")

# %% [markdown]
# ## Do the step
#
# Run one build of the default branch on the Jenkins host (what `vpclab pipeline run` does).
# Its Verify stage checks the steps built so far, through this one: monitoring comes in 09.
# Each stage reports when it starts and how it ended; the full logs, the JUnit results and
# the artifacts (the SBOM, the bandit and audit reports) are kept per build in the state
# folder. `run_on_lab(lab.context(), say=progress)` runs it and
# returns the build's summary.


# %%
def progress(line: str) -> None:
    """Print the runner's stage lines; each stage's full log is kept in its build folder."""
    if not line.startswith(" "):
        print(line)


if offline:
    print(f"needs the hosts: {offline}")
else:
    ### BEGIN SOLUTION
    build = run_on_lab(lab.context(), say=progress)
    ### END SOLUTION

# %% [markdown]
# **Self-check: your Deploy stage.** One line runs this part's checks and says PASS, or FAIL with
# what is wrong and why.

# %%
if offline:
    print(f"needs the hosts: {offline}")
else:
    self_check(lab, "deploy stage")

# %% [markdown]
# ## Look at the result
#
# The stage view, as Jenkins shows it: each stage's result and duration, and the test
# counts the Test stage published.

# %%
if offline:
    print(f"needs the hosts: {offline}")
else:
    build = lab.pipeline_builds(1)[0]  # the last build, from the state folder
    print(stage_text(build))

# %% [markdown]
# **What production serves** is what the pipeline built: `/healthz` through the web server
# reports the commit that the Deploy stage shipped.

# %%
if offline:
    print(f"needs the hosts: {offline}")
else:
    ctx = lab.context()
    web_at = remote.where(ctx, "web")

    def served() -> str:
        reply = remote.site_get(ctx, "/healthz")  # HTTPS, trusting the lab CA
        return reply.body.split('"commit":"')[1].split('"')[0]

    built = lab.pipeline_builds(1)[0].commit
    print(f"built {built[:12]}, /healthz serves {served()[:12]}")

# %% [markdown]
# ## Break it and watch
#
# **A commit that breaks a unit test.** Commit a failing test to the project (the lab's git
# remote serves what you commit), run the pipeline, and watch it stop at Test: Deploy never
# runs, so the version that was serving keeps serving. Then `git revert` the commit and run
# the pipeline again: it builds, tests and deploys the revert, and the last build is green.
# Both commits stay in your history, as they would in a team's.


# %% tags=["break-it"]
def git(*args: str) -> str:
    """git in the project the lab's git remote serves (your checkout, or your handout's)."""
    repo = client.running(lab.local_dir).repo_root
    done = subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


if offline:
    print(f"needs the hosts: {offline}")
else:
    before = served()
    repo = Path(client.running(lab.local_dir).repo_root)
    path = "tests/app/test_broken_on_purpose.py"
    (repo / path).write_text("def test_broken_on_purpose():\n    assert 1 + 1 == 3\n")
    git("add", path)
    git("commit", "-q", "-m", "A unit test that fails on purpose", "--", path)
    broken = git("rev-parse", "HEAD")
    try:
        failed = run_on_lab(lab.context(), say=progress)
        test = failed.stage("Test")
        print(f"build #{failed.number} of {broken[:12]}: {failed.result}, Test {test.result}")
        if test.tests:
            print(f"  {test.tests.failed} failed: {'; '.join(test.tests.failures[:1])}")
        checked = lab.verify(step="pipeline", only=["pipeline.last_build_green"])
        print(report.to_text(checked))
        print(f"/healthz still serves {served()[:12]} (before the break: {before[:12]})")
    finally:
        git("revert", "--no-edit", "HEAD")
    build = run_on_lab(lab.context(), say=progress)
    print(f"after the revert: build #{build.number} of {build.commit[:12]}: {build.result}")
    print(f"/healthz serves {served()[:12]}")

# %% [markdown]
# ## Check yourself
#
# 1. A commit breaks a unit test. What does production serve after the build?
# 2. Why does each stage's work live in a script under `scripts/ci/`?
# 3. What does the Verify stage run, and why after Deploy?

# %% [markdown]
# <details><summary>Answers</summary>
#
# 1. The version it served before: the pipeline stops at Test, and Deploy never runs.
# 2. Real Jenkins on AWS and the lab's Jenkins host then run exactly the same commands, and
#    the scripts can be tested on their own.
# 3. The lab's checklist (`vpclab verify --junit`) against the live lab: a deploy that left
#    any check FAILing fails the build.
#
# </details>

# %% [markdown]
# ## Key points
#
# - Jenkins is the only way code reaches production.
# - A Security stage must fail when it finds something, or it checks nothing.
# - Undo with `git revert` and a new build: history keeps both commits.

# %% [markdown]
# ## Checkpoint

# %% tags=["checkpoint", "nbval-check-output"]
lab.checkpoint("pipeline")
