#!/usr/bin/env bash
# Deploy: from the Jenkins host, SSH to the web server with Jenkins' own key (the web server's
# host key pinned in Jenkins' known_hosts: never learned on first use) and run setup.sh
# there, which deploys the built commit on the private app server.
#   WEB_HOST, APP_HOST  the servers' private addresses; when unset, read from the lab's state
#                       with `vpclab status --json` (the instance profile's read-only EC2 role)
#   REPO_URL            the git remote the app server deploys from (default: GIT_URL)
#   GIT_COMMIT          the commit to deploy (set by Jenkins)
#   APP_PIP_ARGS        pip options for the app server (e.g. its wheel index)
#   DEPLOY_USER, JENKINS_KEY, KNOWN_HOSTS  the login on the web server and the pinned files
CI_STAGE=deploy
# shellcheck source=scripts/ci/common.sh
. "$(dirname "$0")/common.sh"

address_of() {
  # shellcheck disable=SC2086 # VPCLAB_ARGS is a list of options
  "${VPCLAB:-$CI_VENV/bin/vpclab}" status --json ${VPCLAB_ARGS:-} |
    "$CI_VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["instances"][sys.argv[1]]["private_ip"])' "$1"
}
WEB_HOST=${WEB_HOST:-$(address_of web)}
APP_HOST=${APP_HOST:-$(address_of app)}
REPO_URL=${REPO_URL:-${GIT_URL:-}}
[ -n "$REPO_URL" ] || ci_die "no REPO_URL (or GIT_URL) to deploy from"
[ -n "${GIT_COMMIT:-}" ] || ci_die "no GIT_COMMIT: which commit should be deployed?"
DEPLOY_USER=${DEPLOY_USER:-ubuntu}
JENKINS_KEY=${JENKINS_KEY:-$HOME/.ssh/id_ed25519}
KNOWN_HOSTS=${KNOWN_HOSTS:-$HOME/.ssh/known_hosts}

[ -f "$JENKINS_KEY" ] || ci_die "no Jenkins key at $JENKINS_KEY (the keys step makes it)"
ssh-keygen -F "$WEB_HOST" -f "$KNOWN_HOSTS" >/dev/null ||
  ci_die "the web server's host key ($WEB_HOST) is not pinned in $KNOWN_HOSTS (the keys step pins it)"
ssh_opts=(
  -i "$JENKINS_KEY" -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes
  -o UserKnownHostsFile="$KNOWN_HOSTS" -o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=10
)
web=$DEPLOY_USER@$WEB_HOST

# Never let "remote" commands run here by mistake: the far side must be another host.
far=$(ssh "${ssh_opts[@]}" "$web" hostname) || ci_die "cannot log in to $web"
[ "$far" != "$(hostname)" ] || ci_die "$WEB_HOST is this Jenkins host, not the web server"

ci_log "copying setup.sh and start_app.sh to $web"
for script in setup.sh start_app.sh; do
  # shellcheck disable=SC2029 # the script name is meant to expand here
  ssh "${ssh_opts[@]}" "$web" "mkdir -p .vpclab-ci && cat > .vpclab-ci/$script" <"scripts/$script"
done
settings=("REPO_URL=$REPO_URL" "REF=$GIT_COMMIT")
[ -n "${APP_PIP_ARGS:-}" ] && settings+=("PIP_ARGS=$APP_PIP_ARGS")
quoted=$(printf '%q ' "${settings[@]}")
ci_log "deploying $GIT_COMMIT to the app server $APP_HOST through $web"
# shellcheck disable=SC2029 # the settings are quoted above for the remote shell
ssh "${ssh_opts[@]}" "$web" "env $quoted bash .vpclab-ci/setup.sh $APP_HOST"
ci_log "deployed $GIT_COMMIT"
