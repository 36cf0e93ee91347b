#!/usr/bin/env bash
# Deploy: from the Jenkins host, SSH to the web server with Jenkins' own key (the web server's
# host key pinned in Jenkins' known_hosts: never learned on first use) and ask for the commit.
# On web that key runs one forced command, scripts/deploy_gate.sh: it accepts only
# "deploy <40-hex commit>" and runs setup.sh there, which deploys the commit on the private
# app server. The repository, the app server and pip's options are the lab's (set by
# `vpclab up` on the web server), never the build's.
# The web server's private address is read from the lab's state by its tags
# (`vpclab status --json --from-instance`: the Jenkins server's own tags name the lab, and its
# instance profile's read-only keys read it), on both targets.
#   GIT_COMMIT   the commit to deploy (set by Jenkins)
#   DEPLOY_USER, JENKINS_KEY, KNOWN_HOSTS  the login on the web server and the pinned files
CI_STAGE=deploy
# shellcheck source=scripts/ci/common.sh
. "$(dirname "$0")/common.sh"

address_of() {
  local vpclab
  vpclab=$(ci_vpclab)
  "$vpclab" status --json --from-instance |
    "$CI_VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["instances"][sys.argv[1]]["private_ip"])' "$1"
}
[ -n "${GIT_COMMIT:-}" ] || ci_die "no GIT_COMMIT: which commit should be deployed?"
[[ $GIT_COMMIT =~ ^[0-9a-f]{40}$ ]] || ci_die "GIT_COMMIT '$GIT_COMMIT' is not a 40-hex commit"
WEB_HOST=$(address_of web)
[ -n "$WEB_HOST" ] || ci_die "no web server found in the lab's state"
DEPLOY_USER=${DEPLOY_USER:-ubuntu}
JENKINS_KEY=${JENKINS_KEY:-$HOME/.ssh/id_ed25519}
KNOWN_HOSTS=${KNOWN_HOSTS:-$HOME/.ssh/known_hosts}

[ -f "$JENKINS_KEY" ] || ci_die "no Jenkins key at $JENKINS_KEY (the keys step makes it)"
ssh-keygen -F "$WEB_HOST" -f "$KNOWN_HOSTS" >/dev/null ||
  ci_die "the web server's host key ($WEB_HOST) is not pinned in $KNOWN_HOSTS (the keys step pins it)"
ssh_opts=(
  -F /dev/null -i "$JENKINS_KEY" -o IdentitiesOnly=yes -o BatchMode=yes
  -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$KNOWN_HOSTS"
  -o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=10 -o ForwardAgent=no -T
)
web=$DEPLOY_USER@$WEB_HOST

ci_log "deploying $GIT_COMMIT through $web (its deploy gate)"
# shellcheck disable=SC2029 # the commit is meant to expand here (checked above)
ssh "${ssh_opts[@]}" "$web" "deploy $GIT_COMMIT" </dev/null ||
  ci_die "the deploy of $GIT_COMMIT through $web failed (see its lines above)"
ci_log "deployed $GIT_COMMIT"
