"""Where the deployed microblog lives on the hosts: the deploy scripts on the web server, the
release, its environment file and its supervisor program on the app server."""

from __future__ import annotations

SCRIPTS_DIR = "/opt/vpclab/scripts"  # on the web server
APP_ROOT = "/opt/microblog"  # on the app server (start_app.sh's default)
REVISION = f"{APP_ROOT}/current/REVISION"
ENV_FILE = "/etc/microblog/microblog.env"  # on the app server; holds SECRET_KEY
PROGRAM = "microblog"
# What Jenkins' deploys use (scripts/deploy_gate.sh reads it; root's, on the web server).
DEPLOY_CONF = "/etc/vpclab/deploy.conf"
