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
# # 05 · The SSH paths of the deployment
#
# ### Objectives
#
# - Open exactly two SSH paths: Jenkins to web (deploy only) and web to app.
# - Pin host keys from a trusted channel instead of trusting on first use.
# - Write the app key's `from=` line and the sshd drop-in that turns password login off.
# - Keep private keys 0600.
#
# ### Prerequisites
#
# `04_instances` done, and the hosts running (`make jupyter` as root).
#
# ### Time
#
# About 40 minutes.
#
# ### Reference docs
#
# - [paramiko `SSHClient`](https://docs.paramiko.org/en/stable/api/client.html)
# - [sshd `authorized_keys` format](https://man.openbsd.org/sshd#AUTHORIZED_KEYS_FILE_FORMAT)
# - [`sshd_config`](https://man.openbsd.org/sshd_config)

# %% [markdown]
# **Why this step exists.** The servers run, but nothing may yet cross from one to the
# next. The deployment needs exactly two SSH paths, and no others:
#
# - **Jenkins → web**: the user `jenkins` logs in as `ubuntu` with Jenkins' own key, made on
#   the Jenkins host. The pipeline's Deploy stage runs `setup.sh` there.
# - **web → app**: `ubuntu` on the web server logs in with the app key pair, copied to the
#   web server. `setup.sh` runs `start_app.sh` on the private app this way.
#
# In the original exercise, an engineer "generated an SSH key pair using ssh-keygen" on the
# Jenkins server, "added the public key to the authorized_keys file on the Web Server", and
# "securely transferred the application server key pair to the Web Server". That is the
# shape of this step. Three details make it safe rather than merely working:
#
# - **Host keys are pinned, never learned on first use.** The exercise "validated the
#   connection by SSHing from Jenkins into the Web Server, which also registered the Web
#   Server as a known host": whoever answered first was trusted. Many pipelines go further
#   and switch host key checking off, which trusts anyone at all. Here each host key comes
#   from a channel the control plane trusts (the instance's console output on AWS, the local
#   agent here) and is written into `known_hosts` before the first login.
# - **The app key works only from the web server.** The app key now lives on a public
#   machine. In the app's `authorized_keys`, its line starts with
#   `from="<web private IP>"`: if the key leaks, it is useless anywhere else.
# - **Private keys are 0600, and no host accepts a password.** `ssh` refuses a key file
#   others can read ("UNPROTECTED PRIVATE KEY FILE"), and a `.pem` left at 0644 is a classic
#   reason a deploy suddenly stops working.
#
# The calls below use the library's SSH helper (`vpclab.remote`): a paramiko client
# with `RejectPolicy` and the lab's pinned `known_hosts`, which reaches the private app by
# opening a `direct-tcpip` channel through the web server (the same hop as `ssh -J`).
#
# These cells need the hosts: run them as root with the local data plane on (`make
# jupyter`). Without it, each cell says so and skips, and the checkpoint reports SKIP.

# %%
from vpclab import remote, report
from vpclab.course.selfcheck import self_check
from vpclab.facts import ssh_keys
from vpclab.lab import Lab
from vpclab.steps import keys, scripts

lab = Lab("../lab.toml")
lab.follow_dataplane()  # the hosts run and their host keys are pinned on this machine
offline = lab.dataplane_off()

# %% [markdown]
# ## Do the step
#
# Open one SSH session to each host. `where` reads the addresses from the control plane
# (the app has a private address only); `open_role` logs in as `ubuntu` with the role's
# key pair from the state folder.

# %%
if offline:
    print(f"needs the hosts: {offline}")
else:
    ctx = lab.context()
    web_at, app_at = remote.where(ctx, "web"), remote.where(ctx, "app")
    jenkins = remote.open_role(ctx, "jenkins")
    web = remote.open_role(ctx, "web")
    app = remote.open_role(ctx, "app")
    print(f"sessions open: {jenkins!r}, {web!r}, {app!r}")

# %% [markdown]
# **The helpers the blanks below may use**, one line each (`host` is a session above):
#
# - `host.run(cmd, sudo=False, check=True) -> Result`: a shell command line (`.stdout`,
#   `.rc`); it raises on a non-zero exit unless `check=False`;
# - `host.put_text(text, path, mode, owner="user:group")`: write a file (as root);
# - `remote.read_file(host, path) -> str | None`: a file's text, None if missing;
# - `remote.read_as(host, user, path)` and
#   `remote.ensure_user_file(host, user, path, text, mode)`: read and write as that user,
#   never following a link (for files in a user's home);
# - `remote.ensure_file(host, path, text, mode)`: write as root only if it differs;
# - `remote.home_of(host, user) -> str`; `remote.pinned_key(ctx, ip) -> str`: a host key
#   from the lab's trusted `known_hosts`;
# - `scripts.script_text("deploy_gate.sh") -> str`: the kit's deploy gate, to install at
#   `ssh_keys.DEPLOY_GATE` (root's, mode 0755: the forced command runs it);
# - `keys.authorize_only(text, public_line, ssh_keys.JENKINS_KEY_OPTIONS)`,
#   and `keys.pin(text, ip, host_key)`: each returns the file's new text with one line added
#   or rewritten (run twice, no change);
# - `keys.app_key_line(...)`, `keys.put_key_line(...)` and `keys.no_password_login(...)`:
#   with the two files you write, below.
#
# The paths are constants in `vpclab.facts.ssh_keys` (the checks read them too):
# `ssh_keys.AUTHORIZED_KEYS`, `ssh_keys.APP_KEY_ON_WEB`, `ssh_keys.WEB_KNOWN_HOSTS`,
# `ssh_keys.DEPLOY_GATE`.

# %% [markdown]
# **Jenkins' key pair, made on Jenkins.** The private key never leaves the Jenkins host: it
# is generated there, as the user `jenkins` that runs the pipeline, with `umask 077` so it
# is 0600 from the first byte. Run twice, `test -f` keeps the existing key. The lab's Jenkins
# host may not have that user yet: when `id -u jenkins` fails, create it first (`useradd
# --create-home --shell /bin/bash jenkins`, as root). Keep the `jenkins` user's home in
# `jenkins_home` and the public key's line in `jenkins_public`: the next cell uses both.

# %%
if offline:
    print(f"needs the hosts: {offline}")
else:
    ### BEGIN SOLUTION
    jenkins.run(
        "id -u jenkins >/dev/null 2>&1 || useradd --create-home --shell /bin/bash jenkins",
        sudo=True,
    )
    jenkins.run(
        "sudo -n -u jenkins -H sh -c 'umask 077; mkdir -p ~/.ssh; "
        "test -f ~/.ssh/id_ed25519 || "
        'ssh-keygen -q -t ed25519 -N "" -C jenkins@vpclab -f ~/.ssh/id_ed25519\''
    )
    jenkins_home = remote.home_of(jenkins, "jenkins")
    jenkins_public = jenkins.run(
        f"cat {jenkins_home}/.ssh/id_ed25519.pub", sudo=True
    ).stdout.strip()
    ### END SOLUTION
    public = jenkins.run("cat ~jenkins/.ssh/id_ed25519.pub", sudo=True).stdout.split()
    print("Jenkins' public key:", public[0], public[2])

# %% [markdown]
# **Jenkins → web.** Authorize Jenkins' public key for `ubuntu` on the web server (once, even
# when the cell runs again), restricted to one forced command: the deploy gate, which accepts
# only `deploy <commit>` (so a build can deploy, never get a shell or a tunnel). Then pin the
# web server's host key in Jenkins' `known_hosts`.
# The host key comes from the lab's own `known_hosts` on this machine, which the data plane
# filled from a trusted channel; Jenkins never has to "accept" it.

# %%
if offline:
    print(f"needs the hosts: {offline}")
else:
    ### BEGIN SOLUTION
    # Jenkins' key may only run the deploy gate (restrict: no shell, no forwarding).
    remote.ensure_file(web, ssh_keys.DEPLOY_GATE, scripts.script_text("deploy_gate.sh"), 0o755)
    authorized = remote.read_as(web, "ubuntu", ssh_keys.AUTHORIZED_KEYS) or ""
    remote.ensure_user_file(
        web,
        "ubuntu",
        ssh_keys.AUTHORIZED_KEYS,
        keys.authorize_only(authorized, jenkins_public, ssh_keys.JENKINS_KEY_OPTIONS),
        0o600,
    )
    web_host_key = remote.pinned_key(ctx, web_at.private_ip)
    jenkins_known = f"{jenkins_home}/.ssh/known_hosts"
    known = remote.read_file(jenkins, jenkins_known) or ""
    jenkins.put_text(
        keys.pin(known, web_at.private_ip, web_host_key),
        jenkins_known,
        0o644,
        owner="jenkins:jenkins",
    )
    ### END SOLUTION
    pinned = remote.pinned_key(ctx, web_at.private_ip)
    print(f"authorized Jenkins on web; pinned web's host key for jenkins: {pinned[:30]}...")

# %% [markdown]
# **web → app.** Copy the app's private key to the web server, mode 0600 and owned by
# `ubuntu`; pin the app server's host key in `ubuntu`'s `known_hosts` on web.

# %%
if offline:
    print(f"needs the hosts: {offline}")
else:
    ### BEGIN SOLUTION
    app_pem = lab.keys_dir / f"{lab.spec.instance('app').key_name}.pem"
    app_pem.chmod(0o600)
    web.put_text(app_pem.read_text(), ssh_keys.APP_KEY_ON_WEB, 0o600, owner="ubuntu:ubuntu")
    app_host_key = remote.pinned_key(ctx, app_at.private_ip)
    known = remote.read_file(web, ssh_keys.WEB_KNOWN_HOSTS) or ""
    web.put_text(
        keys.pin(known, app_at.private_ip, app_host_key),
        ssh_keys.WEB_KNOWN_HOSTS,
        0o644,
        owner="ubuntu:ubuntu",
    )
    ### END SOLUTION
    print(f"app key on web at {ssh_keys.APP_KEY_ON_WEB}; pinned app's host key on web")

# %% [markdown]
# **Only from the web server.** On the app server, the app key's line in `authorized_keys`
# gets the option `from="<web private IP>"`: sshd then accepts that key only from a
# connection whose source is the web server's address. You write that line, as a template
# in the project: open `vpclab/render/templates/authorized-key-app.j2` (from this folder,
# `../vpclab/render/templates/authorized-key-app.j2`) and replace its line
# `# YOUR CODE HERE: the app key's line (05_keys)` with **one** `authorized_keys` line:
# the option `from="{{ web_ip }}"`, then `{{ key_type }} {{ blob }}`, then the comment
# `vpclab-app` (the format is in
# [sshd's `AUTHORIZED_KEYS FILE FORMAT`](https://man.openbsd.org/sshd#AUTHORIZED_KEYS_FILE_FORMAT)).
#
# `keys.app_key_line(project, key_type, blob, web_ip) -> KeyLine` renders your file
# (`project` is `lab.spec_path.parent`; a stub left in is one line naming the file), and
# `keys.put_key_line(text, line) -> str` returns the `authorized_keys` text with that key's
# line exactly once. Write the result to `ssh_keys.AUTHORIZED_KEYS` on the app server (0600,
# `ubuntu:ubuntu`). The app key's public half is the `.pub` beside its `.pem` in
# `lab.keys_dir`: its first two fields are the key type and the blob.

# %%
if offline:
    print(f"needs the hosts: {offline}")
else:
    ### BEGIN SOLUTION
    app_pub = lab.keys_dir / f"{lab.spec.instance('app').key_name}.pub"
    key_type, blob = app_pub.read_text().split()[:2]
    line = keys.app_key_line(lab.spec_path.parent, key_type, blob, web_at.private_ip)
    authorized = remote.read_file(app, ssh_keys.AUTHORIZED_KEYS) or ""
    app.put_text(
        keys.put_key_line(authorized, line), ssh_keys.AUTHORIZED_KEYS, 0o600, owner="ubuntu:ubuntu"
    )
    ### END SOLUTION
    print(f'the app key now works on app only from="{web_at.private_ip}"')

# %% [markdown]
# **Self-check: the app key's line.** One line runs this part's checks and says PASS, or FAIL with
# what is wrong and why.

# %%
if offline:
    print(f"needs the hosts: {offline}")
else:
    self_check(lab, "app key line")

# %% [markdown]
# **No passwords.** Every host's sshd gets a drop-in that turns password login off. You
# write it: open `vpclab/render/templates/sshd-no-password.conf` (from this folder,
# `../vpclab/render/templates/sshd-no-password.conf`) and replace its line
# `# YOUR CODE HERE: the drop-in (05_keys)` with the two
# [`sshd_config`](https://man.openbsd.org/sshd_config) keywords that refuse a password:
# `PasswordAuthentication` and `KbdInteractiveAuthentication`, each `no`.
# `keys.no_password_login(host, project) -> bool` installs your file as
# `/etc/ssh/sshd_config.d/00-vpclab-no-password.conf` (it sorts first, and sshd keeps the
# first value it reads), lets `sshd -t` judge it before sshd reloads, and confirms with
# `sshd -T` that no password is accepted; True when it changed something. Run it on the
# four hosts (`remote.open_role(ctx, "monitoring")` opens the fourth; close it after).

# %%
if offline:
    print(f"needs the hosts: {offline}")
else:
    ### BEGIN SOLUTION
    monitoring = remote.open_role(ctx, "monitoring")
    for host in (jenkins, web, app, monitoring):
        changed = keys.no_password_login(host, lab.spec_path.parent)
        print(f"{host.name}: password login {'turned off' if changed else 'already off'}")
    remote.close(monitoring)
    ### END SOLUTION

# %% [markdown]
# **Self-check: the sshd drop-in.** One line runs this part's checks and says PASS, or FAIL with
# what is wrong and why.

# %%
if offline:
    print(f"needs the hosts: {offline}")
else:
    self_check(lab, "sshd drop-in")

# %% [markdown]
# ## Look at the result
#
# Each path, tried the way the pipeline will use it: the system `ssh` in batch mode with
# `StrictHostKeyChecking=yes`, so a missing key or an unknown host fails instead of asking.

# %%
if offline:
    print(f"needs the hosts: {offline}")
else:
    strict = "-o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=5"
    hop = jenkins.run(
        f"sudo -n -u jenkins -H ssh {strict} ubuntu@{web_at.private_ip} hostname", check=False
    )
    print(f"jenkins → web: exit {hop.rc}, {(hop.stdout or hop.stderr).strip()}")
    hop = web.run(
        f"ssh -i {ssh_keys.APP_KEY_ON_WEB} -o IdentitiesOnly=yes {strict} "
        f"ubuntu@{app_at.private_ip} hostname",
        check=False,
    )
    print(f"web → app:     exit {hop.rc}, {(hop.stdout or hop.stderr).strip()}")

# %% [markdown]
# The app key's line on the app server, with its `from=` option (the key blob shortened):

# %%
if offline:
    print(f"needs the hosts: {offline}")
else:
    app_key = lab.keys_dir / f"{lab.spec.instance('app').key_name}.pub"
    app_blob = app_key.read_text().split()[1]  # the key itself, from the state folder
    for raw in (remote.read_file(app, ssh_keys.AUTHORIZED_KEYS) or "").splitlines():
        line = ssh_keys.parse_key_line(raw)
        if line and line.blob == app_blob:
            print(f"{line.options} {line.type} {line.blob[:16]}... {line.comment}")

# %% [markdown]
# And the modes of the private keys: the app key on web, Jenkins' key on Jenkins.

# %%
if offline:
    print(f"needs the hosts: {offline}")
else:
    print(web.run(f"stat -c '%a %U %n' {ssh_keys.APP_KEY_ON_WEB}", sudo=True).stdout.strip())
    home = remote.home_of(jenkins, "jenkins")  # read again: the user may be new
    print(jenkins.run(f"stat -c '%a %U %n' {home}/.ssh/id_ed25519", sudo=True).stdout)

# %% [markdown]
# ## Break it and watch
#
# **A key left at 0644.** Loosen the app key on the web server the way a careless `scp` or
# `chmod` does: `ssh` now refuses to use it, and the checklist names the file. Then put it
# back to 0600.

# %% tags=["break-it"]
if offline:
    print(f"needs the hosts: {offline}")
else:
    web.run(f"chmod 644 {ssh_keys.APP_KEY_ON_WEB}", sudo=True)
    try:
        hop = web.run(
            f"ssh -i {ssh_keys.APP_KEY_ON_WEB} -o IdentitiesOnly=yes {strict} "
            f"ubuntu@{app_at.private_ip} true",
            check=False,
        )
        refused = [line for line in hop.stderr.splitlines() if "UNPROTECTED" in line]
        print(f"web → app with a 0644 key: exit {hop.rc}", *refused[:1])
        loose = lab.verify(step="keys", only=["keys.private_keys_private"])
        print(report.to_text(loose))
    finally:
        web.run(f"chmod 600 {ssh_keys.APP_KEY_ON_WEB}", sudo=True)
    print("put back to 0600")

# %% [markdown]
# **The app key from another address.** Drop the `from=` option, as if the key had been
# authorized the quick way. The check logs in with the app key from an address that is not
# the web server's, and now gets in: FAIL. Then the restriction goes back.

# %% tags=["break-it"]
if offline:
    print(f"needs the hosts: {offline}")
else:
    restricted = remote.read_file(app, ssh_keys.AUTHORIZED_KEYS) or ""
    loosened = restricted.replace(f'from="{web_at.private_ip}" ', "")
    app.put_text(loosened, ssh_keys.AUTHORIZED_KEYS, 0o600, owner="ubuntu:ubuntu")
    try:
        checked = lab.verify(step="keys", only=["keys.app_key_only_from_web"])
        print(report.to_text(checked))
    finally:
        app.put_text(restricted, ssh_keys.AUTHORIZED_KEYS, 0o600, owner="ubuntu:ubuntu")
    checked = lab.verify(step="keys", only=["keys.app_key_only_from_web"])
    print("restored:", report.to_text(checked).splitlines()[0])

# %% [markdown]
# Close the sessions. (Stuck? `vpclab up --through keys` does this whole step the
# library's way; a step done that way earns no credit.)

# %%
if not offline:
    for host in (app, web, jenkins):
        remote.close(host)

# %% [markdown]
# ## Check yourself
#
# 1. What does `from="<web private IP>"` on the app key's line buy you?
# 2. Why is Jenkins' key restricted to a forced command?
# 3. A deploy suddenly fails with "UNPROTECTED PRIVATE KEY FILE". What changed?

# %% [markdown]
# <details><summary>Answers</summary>
#
# 1. If the app key leaks, it is useless from anywhere but the web server: sshd accepts it
#    only from that source address.
# 2. A build should be able to deploy and nothing else: no shell, no tunnel, only `deploy
#    <commit>` through the gate.
# 3. The private key's mode was loosened (0644); `ssh` refuses keys others can read. `chmod
#    600` puts it right.
#
# </details>

# %% [markdown]
# ## Key points
#
# - Host keys are pinned before the first login; never switch checking off.
# - Each key does one job from one place.
# - No host accepts a password; `sshd -t` checks a drop-in before a reload.

# %% [markdown]
# ## Checkpoint

# %% tags=["checkpoint", "nbval-check-output"]
lab.checkpoint("keys")
