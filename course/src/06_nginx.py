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
# # 06 · Nginx, the front door
#
# ### Objectives
#
# - Write the site's `location /` block: `proxy_pass` and the forwarded headers.
# - Render the site from the control plane's state and serve it over HTTPS with the lab
#   CA's certificate; plain HTTP only redirects.
# - Install it with `nginx -t` as the gate before every reload.
# - Show that the app is reachable through the proxy and not directly.
#
# ### Prerequisites
#
# `05_keys` done (the SSH sessions to web and app).
#
# ### Time
#
# About 30 minutes.
#
# ### Reference docs
#
# - [Nginx proxy module (`proxy_pass`, `proxy_set_header`)](https://nginx.org/en/docs/http/ngx_http_proxy_module.html)
# - [Nginx SSL module (`ssl_certificate`)](https://nginx.org/en/docs/http/ngx_http_ssl_module.html)
# - [Nginx `location`](https://nginx.org/en/docs/http/ngx_http_core_module.html#location)
# - [paramiko `SSHClient`](https://docs.paramiko.org/en/stable/api/client.html)

# %% [markdown]
# **Why this step exists.** In the original exercise, "Nginx was installed on the Web Server
# and configured as a reverse proxy. Incoming HTTP requests are forwarded to the Application
# Server using its private IP and application port." Three things follow from that
# sentence:
#
# - **Public traffic ends at the web layer.** Users talk to Nginx on the web server's public
#   address, over HTTPS (port 443). Nginx opens its own connection to the app server's
#   *private* address on port 5000, which the internet cannot reach at all.
# - **The app server stays isolated.** Its security group accepts port 5000 from the web
#   server's group only (step 04), and it has no public address. Nginx is the one door.
# - **Web and app concerns stay apart.** Nginx carries the headers the app needs to know
#   the original request (`Host`, `X-Forwarded-For`, `X-Forwarded-Proto`), puts limits on
#   what reaches the app (timeouts, a body-size limit), serves a friendly page when the app
#   is down, and keeps private paths private: `/metrics` is not served to the public, and
#   Nginx's own counters (`stub_status`) answer the monitoring server only.
# - **Logins and cookies are encrypted.** Nginx holds a certificate for the web server's
#   public address and DNS name, signed by the **lab CA** that `vpclab` made (its
#   certificate is in the state folder: `vpclab status` prints where, and `curl --cacert`
#   trusts it). Port 80 answers only with a redirect to the same page over HTTPS, and every
#   HTTPS answer carries `Strict-Transport-Security`, so a browser that saw it once never
#   tries plain HTTP again.
#
# The exercise also lists what went wrong: the app's IP was typed into the config by hand,
# and broke the day the instance was replaced. Here the config is **rendered from the
# control plane's state**, and the exercise's own safety net is kept: "the configuration was
# validated using `nginx -t`" before Nginx reloads. A config that `nginx -t` refuses never
# goes live; the previous one stays.
#
# Installing the config needs the hosts (as root, `make jupyter`). Without them those cells
# say so and skip; the rendering itself only reads the control plane, so it runs anywhere.

# %%
from vpclab import remote, report
from vpclab.course.selfcheck import self_check
from vpclab.facts import nginx_site
from vpclab.lab import Lab
from vpclab.render import render
from vpclab.steps import nginx

lab = Lab("../lab.toml")
lab.follow_dataplane()  # the hosts run and their host keys are pinned on this machine
offline = lab.dataplane_off()
ec2 = lab.cloud.ec2

# %% [markdown]
# ## Do the step
#
# **Where is the app?** Ask the control plane, by tag, for the running app server's private
# address (and the monitoring server's, which may read Nginx's counters). Never type it.
# The tags are the ones of 01–04: `vpclab:lab` (the lab's name, `lab.spec.name`) and
# `vpclab:role` (`app`, `monitoring`); filter on `instance-state-name` `running` too.
# Keep them in `app_ip` and `monitoring_ip`: the site is rendered from them.


# %%
### BEGIN SOLUTION
def private_ip(role: str) -> str:
    found = ec2.describe_instances(
        Filters=[
            {"Name": "tag:vpclab:lab", "Values": [lab.spec.name]},
            {"Name": "tag:vpclab:role", "Values": [role]},
            {"Name": "instance-state-name", "Values": ["running"]},
        ]
    )["Reservations"]
    return found[0]["Instances"][0]["PrivateIpAddress"]


app_ip = private_ip("app")
monitoring_ip = private_ip("monitoring")
### END SOLUTION
servers = lab.status().instances  # what the control plane holds, to compare with yours
print(f"app server: {servers['app'].private_ip}; monitoring: {servers['monitoring'].private_ip}")

# %% [markdown]
# **Write the proxy itself.** The site is a template in the project, beside the lab's
# spec: open `vpclab/render/templates/nginx-site.conf.j2` (from this folder,
# `../vpclab/render/templates/nginx-site.conf.j2`) in JupyterLab's editor. Everything else
# in it is given: the `upstream microblog_app` holding the app's private address
# (`{{ app_ip }}:{{ app_port }}`), the timeouts, `/metrics` answering 404, `/nginx_status`
# for the monitoring server only, the friendly 502 page, and the HTTPS it is served with:
# the port-80 server only redirects, the 443 server names the lab CA's certificate
# (`nginx.TLS_CERT`, `nginx.TLS_KEY`) and adds HSTS. Replace its line
# `# YOUR CODE HERE: location / (06_nginx)` with the `location /` block (about 15 lines):
#
# - `proxy_pass http://microblog_app;`: every request goes to the upstream, never to a
#   typed address;
# - `proxy_http_version 1.1;` and `proxy_set_header Connection "";`, so the upstream's
#   `keepalive` connections are reused;
# - `proxy_set_header` for `Host $host`, `X-Real-IP $remote_addr`, `X-Forwarded-For
#   $proxy_add_x_forwarded_for`, `X-Forwarded-Proto $scheme`, `X-Forwarded-Host $http_host`
#   and `X-Forwarded-Port $server_port`: the app learns the original request from them;
# - `proxy_hide_header` for `X-Content-Type-Options`, `X-Frame-Options`, `Referrer-Policy`
#   and `Strict-Transport-Security`: the server block already adds them to every answer, so
#   each comes once.
#
# The directives are in Nginx's
# [proxy module](https://nginx.org/en/docs/http/ngx_http_proxy_module.html) and the
# [`location`](https://nginx.org/en/docs/http/ngx_http_core_module.html#location) reference.
# Save the file. The lab (this cell, `vpclab up`, the grader) renders *your* file;
# while the stub line is still there, rendering stops with one line naming the file.
#
# Then **render the site** from the app's and the monitoring server's addresses with
# `nginx.site(ctx, app_ip, monitoring_ip) -> str` (`ctx` is `lab.context()`), keep it in
# `site` (the next cell installs it) and print it. Read it: the rendered `upstream` holds
# the app's private address, and your `location /` passes every request there.

# %%
### BEGIN SOLUTION
site = nginx.site(lab.context(), app_ip, monitoring_ip)
print(site)
### END SOLUTION

# %% [markdown]
# **Install it on the web server.** Put the friendly 502 page, the certificate and its key
# (`nginx.install_tls(lab.context(), web)`: the lab CA signs a certificate for the web
# server's names, and the key goes in place root's, mode 0600) and the site in place, enable
# the site (and remove Debian's default site, which also claims port 80), then let `nginx -t`
# judge the whole configuration. Only when it passes does Nginx reload; when it fails, the
# previous site goes back and the cell stops with nginx's own message. `web` is a session
# on the web server (`web.put_text(text, path, mode, sudo=True)`, `web.run(cmd, sudo=True,
# check=False)`, `remote.read_file(web, path)`). The site's paths, which the checks read
# too, are `nginx_site.SITE`, `nginx_site.ENABLED` and `nginx_site.DEFAULT_SITE`; the step's
# own are `nginx.ERROR_ROOT` and the reload command `nginx.RELOAD`. The page is
# `render("502.html.j2", lab=lab.spec.name)`, at `nginx.ERROR_ROOT` + `/502.html` (the site's
# `error_page` asks for that name), and enabling the site is a symbolic link
# `nginx_site.ENABLED` → `nginx_site.SITE`.

# %%
if offline:
    print(f"needs the hosts: {offline}")
else:
    web = remote.open_role(lab.context(), "web")
    ### BEGIN SOLUTION
    page = render("502.html.j2", lab=lab.spec.name)
    web.put_text(page, f"{nginx.ERROR_ROOT}/502.html", 0o644, sudo=True)
    nginx.install_tls(lab.context(), web)
    previous = remote.read_file(web, nginx_site.SITE)
    web.put_text(site, nginx_site.SITE, 0o644, sudo=True)
    web.run(
        f"ln -sfn {nginx_site.SITE} {nginx_site.ENABLED} && rm -f {nginx_site.DEFAULT_SITE}",
        sudo=True,
    )
    test = web.run("nginx -t", sudo=True, check=False)
    if not test.ok:
        if previous is not None:
            web.put_text(previous, nginx_site.SITE, 0o644, sudo=True)
        raise RuntimeError(f"nginx -t refused the site, the previous one stays:\n{test.stderr}")
    web.run(nginx.RELOAD, sudo=True)  # start Nginx, or reload it when it runs
    ### END SOLUTION
    print(web.run("nginx -t", sudo=True, check=False).stderr.strip())

# %% [markdown]
# **Self-check: your `location /`.** One line runs this part's checks and says PASS, or FAIL with
# what is wrong and why.

# %%
if offline:
    print(f"needs the hosts: {offline}")
else:
    self_check(lab, "nginx location")

# %% [markdown]
# ## Look at the result
#
# The site as the web server has it, and what it proxies to:

# %%
if offline:
    print(f"needs the hosts: {offline}")
else:
    live = remote.read_file(web, nginx_site.SITE) or ""
    servers = lab.status().instances
    rendered = nginx.site(
        lab.context(), servers["app"].private_ip, servers["monitoring"].private_ip
    )
    lines = len(live.splitlines())
    print(f"{nginx_site.SITE}: {lines} lines, as rendered from state: {live == rendered}")
    for upstream in nginx_site.proxied(live):
        print(f"proxy_pass → {upstream.address}:{upstream.port}")

# %% [markdown]
# **A request through the proxy**, from the internet (locally, the lab's internet
# namespace) to the web server's public address, over HTTPS, trusting the lab CA and nothing
# else (`remote.site_get`). Until step 07 deploys the app there is nothing on port 5000 yet,
# so Nginx answers with its friendly 502 page: the door works, the room behind it is empty.
# After 07 the same request returns the microblog. Plain HTTP gets only a redirect.

# %%
if offline:
    print(f"needs the hosts: {offline}")
else:
    web_at = remote.where(lab.context(), "web")
    reply = remote.site_get(lab.context(), "/")
    title = reply.body.split("<title>")[1].split("</title>")[0] if "<title>" in reply.body else ""
    print(f"GET https://{web_at.public_ip}/: HTTP {reply.status}, {reply.headers.get('server')}")
    print(f"page title: {title}")
    print(f"Strict-Transport-Security: {reply.headers.get('strict-transport-security')}")
    plain = remote.http_get(lab.context(), web_at.public_ip, lab.spec.ports.http, "/explore")
    moved = plain.headers.get("location")
    print(f"GET http://{web_at.public_ip}/explore: HTTP {plain.status} → {moved}")
    hidden = remote.site_get(lab.context(), "/metrics")
    print(f"GET /metrics from the internet: HTTP {hidden.status}")
    counters = remote.http_get(
        lab.context(), web_at.public_ip, lab.spec.ports.http, nginx_site.STATUS_PATH
    )
    print(f"GET {nginx_site.STATUS_PATH} from the internet: HTTP {counters.status}")

# %% [markdown]
# **The direct way is shut.** The same "internet" tries the app server's port 5000
# straight: there is no public address, and the app's security group drops the attempt.

# %%
if offline:
    print(f"needs the hosts: {offline}")
else:
    app_at = remote.where(lab.context(), "app")
    reached = remote.can_connect(lab.context(), app_at.private_ip, lab.spec.ports.app)
    print(
        f"internet → app {app_at.private_ip}:{lab.spec.ports.app}: "
        f"{'CONNECTED (should not be)' if reached else 'refused or timed out'}"
    )

# %% [markdown]
# ## Break it and watch
#
# **A hand-typed address.** Put a wrong app address into the site, as if someone had typed
# last week's IP, and reload. `nginx -t` is happy (the syntax is fine), but the proxy now
# points at nobody: the check compares the proxied address with the control plane's and
# FAILs. Then the saved site goes back, and the check passes again. (`vpclab up --through
# nginx` would also repair it, rendering the site from state; but a step the library does
# earns no credit, so here we put back what we saved.)

# %% tags=["break-it"]
if offline:
    print(f"needs the hosts: {offline}")
else:
    saved = remote.read_file(web, nginx_site.SITE) or ""  # the site as it is, whoever wrote it
    app_at = remote.where(lab.context(), "app")
    stale = saved.replace(f"server {app_at.private_ip}:", "server 10.0.2.250:")
    web.put_text(stale, nginx_site.SITE, 0o644, sudo=True)
    try:
        web.run("nginx -t && " + nginx.RELOAD, sudo=True)
        wrong = lab.verify(step="nginx", only=["nginx.proxies_to_app"])
        print(report.to_text(wrong))
    finally:
        web.put_text(saved, nginx_site.SITE, 0o644, sudo=True)
        web.run("nginx -t && " + nginx.RELOAD, sudo=True)
    fixed = lab.verify(step="nginx", only=["nginx.proxies_to_app"])
    print(report.to_text(fixed))

# %% [markdown]
# **A broken config never goes live.** Write a site with a syntax error and ask `nginx -t`:
# it refuses, so the previous site goes back before anything reloads, and the proxy keeps
# answering.

# %% tags=["break-it"]
if offline:
    print(f"needs the hosts: {offline}")
else:
    good = remote.read_file(web, nginx_site.SITE) or ""
    web.put_text(good.replace("proxy_pass", "proxy_pas", 1), nginx_site.SITE, 0o644, sudo=True)
    try:
        test = web.run("nginx -t", sudo=True, check=False)
        print(f"nginx -t: exit {test.rc}: {test.stderr.strip().splitlines()[0]}")
    finally:
        web.put_text(good, nginx_site.SITE, 0o644, sudo=True)
    reply = remote.site_get(lab.context(), "/")
    print(f"previous site back, nginx never reloaded: GET / still HTTP {reply.status}")
    remote.close(web)

# %% [markdown]
# ## Check yourself
#
# 1. Why is the site rendered from the control plane instead of typed once?
# 2. A wrong app address passes `nginx -t`. Why, and what catches it?
# 3. Port 80 serves no page at all. Why keep it open, and what keeps a browser off it?

# %% [markdown]
# <details><summary>Answers</summary>
#
# 1. The app's address changes when its server is replaced; a rendered site follows it, a
#    typed one silently points at nobody.
# 2. `nginx -t` checks syntax, not where the proxy points. The check compares the proxied
#    address with the app's real one and FAILs.
# 3. So a user who types `http://` is sent to HTTPS instead of finding nothing. After one
#    HTTPS answer with `Strict-Transport-Security`, the browser goes straight to HTTPS.
#
# </details>

# %% [markdown]
# ## Key points
#
# - Public traffic ends at the web layer; the app listens only to the web server.
# - A config `nginx -t` refuses never goes live; the previous one stays.
# - `/metrics` and `stub_status` are not for the public.
# - Users get HTTPS with a certificate from the lab CA; port 80 only redirects.

# %% [markdown]
# ## Checkpoint

# %% tags=["checkpoint", "nbval-check-output"]
lab.checkpoint("nginx")
