#!/usr/bin/env bash
# Deploy from the web server: reach the private app server over SSH, with its host key
# pinned, and run start_app.sh there as root.
#
# Usage: setup.sh APP_HOST
# Settings (environment; nothing is hard-coded):
#   APP_HOST       the app server's private address (or the first argument)
#   APP_USER_SSH   login on the app server (default ubuntu)
#   APP_KEY        private key for the app server (default ~/.ssh/app_key, mode 0600)
#   KNOWN_HOSTS    pinned host keys (default ~/.ssh/known_hosts); never learned on first use
#   START_APP      the start_app.sh to copy over (default: beside this script)
#   SECRET_STDIN=1 pass the first line of stdin on as SECRET_KEY (never on a command line)
#   REPO_URL, REF, APP_PORT, PIP_ARGS, FORCE, HEALTH_TRIES: passed on to start_app.sh
set -euo pipefail

log() { printf 'setup: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

APP_HOST=${1:-${APP_HOST:-}}
[ -n "$APP_HOST" ] || die "give the app server's private address (setup.sh APP_HOST)"
: "${REPO_URL:?set REPO_URL to the git remote the app server deploys from}"
APP_USER_SSH=${APP_USER_SSH:-ubuntu}
APP_KEY=${APP_KEY:-$HOME/.ssh/app_key}
KNOWN_HOSTS=${KNOWN_HOSTS:-$HOME/.ssh/known_hosts}
START_APP=${START_APP:-$(dirname "$(readlink -f "$0")")/start_app.sh}

[ -f "$APP_KEY" ] || die "no app key at $APP_KEY (the keys step puts it there)"
case $(stat -c %a "$APP_KEY") in
  600 | 400) ;;
  *) die "$APP_KEY is readable by others (mode $(stat -c %a "$APP_KEY")): chmod 600 it" ;;
esac
[ -f "$START_APP" ] || die "no start_app.sh at $START_APP"
grep -q "$APP_HOST" "$KNOWN_HOSTS" 2>/dev/null ||
  die "no pinned host key for $APP_HOST in $KNOWN_HOSTS (the keys step pins it)"

ssh_opts=(
  -i "$APP_KEY" -o IdentitiesOnly=yes -o BatchMode=yes
  -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$KNOWN_HOSTS"
  -o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=10
)
target=$APP_USER_SSH@$APP_HOST

secret=""
if [ "${SECRET_STDIN:-0}" = 1 ]; then
  IFS= read -r secret || die "SECRET_STDIN=1 but no line on stdin"
fi

remote_dir=".vpclab-deploy"
log "copying start_app.sh to $target"
# shellcheck disable=SC2029 # remote_dir is meant to expand here
ssh "${ssh_opts[@]}" "$target" "mkdir -p $remote_dir && cat > $remote_dir/start_app.sh" <"$START_APP"

# Only the settings start_app.sh knows, quoted for the remote shell.
assign=()
for name in REPO_URL REF APP_PORT PIP_ARGS FORCE HEALTH_TRIES; do
  if [ -n "${!name+set}" ]; then assign+=("$(printf '%s=%q' "$name" "${!name}")"); fi
done
[ -n "$secret" ] && assign+=("SECRET_STDIN=1")

log "running start_app.sh on $target"
# shellcheck disable=SC2029 # the assignments are quoted above, for the remote side
printf '%s\n' "$secret" |
  ssh "${ssh_opts[@]}" "$target" "sudo -n env ${assign[*]} bash $remote_dir/start_app.sh"
