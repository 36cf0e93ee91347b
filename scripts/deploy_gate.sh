#!/usr/bin/env bash
# The forced command of Jenkins' key on the web server (`restrict,command="deploy_gate.sh
# CONF"` in ~ubuntu/.ssh/authorized_keys, set by the keys step). Whatever the client asks,
# sshd runs this instead, with the request in SSH_ORIGINAL_COMMAND. The one request it
# grants is
#     deploy <40-hex commit>
# which runs setup.sh for that commit. Where from (REPO_URL), to which app server (APP_HOST),
# the app's port and pip's options come from CONF, which `vpclab up` writes as root: the
# caller names only the commit. Every other request (a shell, scp, any command) is refused.
#   CONF   KEY=VALUE lines (read, never sourced): REPO_URL, APP_HOST, APP_PORT, PIP_ARGS, and
#          SETUP (the setup.sh to run; default beside this script)
set -euo pipefail

die() {
  printf 'deploy-gate: %s\n' "$*" >&2
  exit 1
}

conf=${1:-}
[ -n "$conf" ] || die "no settings file: the forced command must name one"
request=${SSH_ORIGINAL_COMMAND:-}
shown=$(printf '%s' "${request:0:80}" | tr -c '[:print:]' '?')
case $request in
  "deploy "*) commit=${request#deploy } ;;
  *) die "refused '$shown': this key may only run 'deploy <commit>'" ;;
esac
[[ $commit =~ ^[0-9a-f]{40}$ ]] || die "refused '$shown': the commit must be 40 hex digits"

# Root's file, writable by root only: the caller cannot choose what is deployed from where.
if [ ! -f "$conf" ] || [ -L "$conf" ]; then
  die "no deploy settings at $conf: run 'vpclab up --through scripts'"
fi
case $(stat -c '%u %a' "$conf") in
  "0 "[0-7][0-5][0-5]) ;;
  *) die "$conf must be root's and writable by root only: run 'vpclab up --through scripts'" ;;
esac
declare -A setting=([SETUP]="$(dirname "$(readlink -f "$0")")/setup.sh")
while IFS= read -r line || [ -n "$line" ]; do
  case $line in '' | '#'*) continue ;; esac
  key=${line%%=*}
  case $key in
    REPO_URL | APP_HOST | APP_PORT | PIP_ARGS | SETUP) setting[$key]=${line#*=} ;;
    *) die "unknown setting '${key:0:40}' in $conf" ;;
  esac
done <"$conf"
for key in REPO_URL APP_HOST; do
  [ -n "${setting[$key]:-}" ] || die "$conf has no $key: run 'vpclab up --through scripts'"
done

printf 'deploy-gate: deploying %s from %s to %s\n' "${commit:0:12}" "${setting[REPO_URL]}" \
  "${setting[APP_HOST]}" >&2
# A clean environment: nothing the client sent (LANG, LC_*) reaches setup.sh.
exec env -i HOME="$HOME" USER="${USER:-$(id -un)}" LOGNAME="${USER:-$(id -un)}" \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  REPO_URL="${setting[REPO_URL]}" REF="$commit" APP_PORT="${setting[APP_PORT]:-5000}" \
  PIP_ARGS="${setting[PIP_ARGS]:-}" \
  bash "${setting[SETUP]}" "${setting[APP_HOST]}"
