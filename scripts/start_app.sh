#!/usr/bin/env bash
# Deploy the microblog on the app server: run as root there (setup.sh does it over SSH).
#
# Idempotent: a second run with the same commit and settings changes nothing. Each deploy
# gets its own release folder; the venv, the database and the env file live outside them,
# so a redeploy never wipes the data. gunicorn runs under supervisor, so it outlives the
# SSH session and comes back when it dies. A release that fails its health check is
# rolled back to the last good one, and the script exits non-zero.
#
# Settings (environment; nothing is hard-coded):
#   REPO_URL         git remote to deploy from (required)
#   REF              branch, tag or commit (default: the remote's default branch)
#   APP_PORT         port gunicorn listens on, on every address (default 5000)
#   PIP_ARGS         extra pip arguments, e.g. "--no-index --find-links URL --trusted-host H"
#   APP_ROOT         releases, venv and markers (default /opt/microblog)
#   DATA_DIR         the SQLite database folder (default /var/lib/microblog)
#   ENV_FILE         root-only environment file (default /etc/microblog/microblog.env)
#   APP_USER         system user gunicorn runs as (default microblog)
#   BUILD_USER       system user that fetches releases and installs the venv (default
#                    microblog-build): neither root nor the app user runs the project's
#                    install code, and the app cannot rewrite its own code
#   SECRET_STDIN=1   read SECRET_KEY from the first line of stdin (keeps it off argv)
#   SECRET_KEY       otherwise taken from the environment, else kept from ENV_FILE, else
#                    generated once
#   FORCE=1          make a new release even when the commit is already serving, and run
#                    pip even when the requirements are those the venv has
#   HEALTH_TRIES     health-check attempts, 0.5 s apart (default 40)
#   KEEP_RELEASES    release folders kept (default 5)
#   APT_LOCK_WAIT    seconds apt waits for the dpkg lock (default 600)
#   LIMITS_PORT      loopback port of memcached, where every gunicorn worker counts login
#                    attempts (default 11211)
#   LOCK_FILE        one deploy at a time holds it (default /run/microblog-deploy.lock)
#   DEPLOY_LOCK_WAIT seconds to wait for another deploy to end (default 600)
set -euo pipefail

log() { printf 'start_app: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

: "${REPO_URL:?set REPO_URL to the git remote to deploy from}"
REF=${REF:-}
APP_PORT=${APP_PORT:-5000}
PIP_ARGS=${PIP_ARGS:-}
APP_ROOT=${APP_ROOT:-/opt/microblog}
DATA_DIR=${DATA_DIR:-/var/lib/microblog}
ENV_FILE=${ENV_FILE:-/etc/microblog/microblog.env}
APP_USER=${APP_USER:-microblog}
BUILD_USER=${BUILD_USER:-microblog-build}
FORCE=${FORCE:-0}
HEALTH_TRIES=${HEALTH_TRIES:-40}
LIMITS_PORT=${LIMITS_PORT:-11211}
KEEP_RELEASES=${KEEP_RELEASES:-5}
PROGRAM=microblog
SUPERVISOR_CONF=/etc/supervisor/conf.d/$PROGRAM.conf
RUNNER=$APP_ROOT/bin/run-gunicorn
PGID_FILE=/run/$PROGRAM.pgid
VENV=$APP_ROOT/venv
CURRENT=$APP_ROOT/current
LAST_GOOD=$APP_ROOT/last_good

[ "$(id -u)" -eq 0 ] || die "run as root (sudo), it installs packages and writes $ENV_FILE"
case $APP_PORT in '' | *[!0-9]*) die "APP_PORT must be a port number, not '$APP_PORT'" ;; esac

# One deploy at a time: two at once would race on the release folder, current and the venv.
# (/run is root's, so nobody else can plant the lock file.)
LOCK_FILE=${LOCK_FILE:-/run/microblog-deploy.lock}
DEPLOY_LOCK_WAIT=${DEPLOY_LOCK_WAIT:-600}
exec 9>>"$LOCK_FILE"
flock -w "$DEPLOY_LOCK_WAIT" 9 ||
  die "another deploy holds $LOCK_FILE (waited $DEPLOY_LOCK_WAIT s): run it again when that one ends"

if [ "${SECRET_STDIN:-0}" = 1 ]; then
  IFS= read -r SECRET_KEY || die "SECRET_STDIN=1 but no SECRET_KEY line on stdin"
fi
SECRET_KEY=${SECRET_KEY:-}

# --- system packages (already in the image locally; apt through the NAT on AWS) ----------
need=()
for pkg in git python3-venv supervisor curl memcached; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # unattended-upgrades may hold the dpkg lock: wait for it (bounded), never fail at once.
  apt=(apt-get -o DPkg::Lock::Timeout="${APT_LOCK_WAIT:-600}")
  for attempt in 1 2 3 4 5; do
    "${apt[@]}" update -qq && break
    [ "$attempt" -lt 5 ] || die "apt-get update kept failing"
    sleep 20
  done
  "${apt[@]}" install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

id -u "$APP_USER" >/dev/null 2>&1 ||
  useradd --system --home-dir "$DATA_DIR" --shell /usr/sbin/nologin "$APP_USER"
id -u "$BUILD_USER" >/dev/null 2>&1 ||
  useradd --system --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin "$BUILD_USER"
install -d -m 0755 "$APP_ROOT" "$APP_ROOT/bin"
install -d -m 0755 -o "$BUILD_USER" -g "$BUILD_USER" "$APP_ROOT/releases" "$VENV"
# A venv that an earlier version of this script made as root becomes the builder's.
if [ -n "$(find "$VENV" ! -user "$BUILD_USER" -print -quit)" ]; then
  chown -R "$BUILD_USER:$BUILD_USER" "$VENV"
fi
install -d -m 0750 -o "$APP_USER" -g "$APP_USER" "$DATA_DIR"
install -d -m 0700 "$(dirname "$ENV_FILE")"

# --- supervisor: started here when no init system runs it --------------------------------
supervisor_up() { supervisorctl pid 2>/dev/null | grep -qE '^[0-9]+$'; }
if ! supervisor_up; then
  if [ -d /run/systemd/system ]; then
    systemctl enable --now supervisor
  else
    # Detached from this session: every stream closed, so the SSH channel can end.
    # ...and without the deploy lock, which would otherwise stay held by the daemon.
    supervisord -c /etc/supervisor/supervisord.conf </dev/null >/dev/null 2>&1 9>&-
  fi
  for _ in $(seq 50); do supervisor_up && break; sleep 0.1; done
  supervisor_up || die "supervisord did not start; see /var/log/supervisor/supervisord.log"
fi

# --- which commit ------------------------------------------------------------------------
if [ -n "$REF" ]; then
  commit=$(git ls-remote "$REPO_URL" "$REF" | awk 'NR == 1 { print $1 }')
  [ -n "$commit" ] || case $REF in
    *[!0-9a-f]*) die "ref '$REF' not found at $REPO_URL" ;;
    *) commit=$REF ;;
  esac
else
  commit=$(git ls-remote --symref "$REPO_URL" HEAD | awk '$2 == "HEAD" && $1 !~ /^ref:/ { print $1 }')
  [ -n "$commit" ] || die "cannot read HEAD of $REPO_URL (is the remote reachable through the NAT?)"
fi

serving() { # the commit /healthz reports, or nothing
  curl -fsS --max-time 2 "http://127.0.0.1:$APP_PORT/healthz" 2>/dev/null |
    python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["commit"] if d.get("status") == "ok" else "")' 2>/dev/null ||
    true
}

# ### BEGIN SOLUTION the health check
healthy() { # healthy COMMIT: /healthz answers ok with that commit, within the retries
  local want=$1 i
  for i in $(seq "$HEALTH_TRIES"); do
    [ "$(serving)" = "$want" ] && return 0
    [ "$i" -lt "$HEALTH_TRIES" ] && sleep 0.5
  done
  return 1
}
# ### END SOLUTION

# --- the environment file (root only) and the runner -------------------------------------
if [ -z "$SECRET_KEY" ] && [ -f "$ENV_FILE" ]; then
  SECRET_KEY=$(sed -n 's/^SECRET_KEY=//p' "$ENV_FILE")
fi
if [ -z "$SECRET_KEY" ]; then
  log "no SECRET_KEY given or kept: generating one (once)"
  SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
fi
env_text="MICROBLOG_ENV=production
SECRET_KEY=$SECRET_KEY
MICROBLOG_DATA=$DATA_DIR
GUNICORN_BIND=0.0.0.0:$APP_PORT
RATELIMIT_STORAGE_URI=memcached://127.0.0.1:$LIMITS_PORT
SESSION_COOKIE_SECURE=1"
changed=0
if [ ! -f "$ENV_FILE" ] || [ "$(cat "$ENV_FILE")" != "$env_text" ]; then
  (umask 077 && printf '%s\n' "$env_text" >"$ENV_FILE.tmp")
  mv -f "$ENV_FILE.tmp" "$ENV_FILE"
  changed=1
fi
chmod 0600 "$ENV_FILE"
chown root:root "$ENV_FILE"

# Reads the root-only env file as root (KEY=VALUE lines, parsed, never run as shell), then
# drops to the app user: the same process becomes gunicorn's master, so supervisor watches
# the real thing.
# A master killed outright leaves its workers holding the port until they notice (up to
# half the worker timeout): the runner ends that old process group before starting anew.
runner_text="#!/bin/sh
set -eu
if [ -s '$PGID_FILE' ] && pgrep -g \"\$(cat '$PGID_FILE')\" >/dev/null; then
  kill -KILL \"-\$(cat '$PGID_FILE')\" 2>/dev/null || true
  sleep 0.2
fi
echo \$\$ >'$PGID_FILE'
while IFS= read -r line || [ -n \"\$line\" ]; do
  case \"\${line%%=*}\" in '' | [0-9]* | *[!A-Za-z0-9_]*) continue ;; esac
  export \"\$line\"
done <'$ENV_FILE'
cd '$CURRENT'
APP_GIT_COMMIT=\$(cat REVISION)
export APP_GIT_COMMIT
exec setpriv --reuid='$APP_USER' --regid='$APP_USER' --init-groups \\
  '$VENV/bin/gunicorn' -c gunicorn.conf.py 'app:create_app()'"
if [ ! -f "$RUNNER" ] || [ "$(cat "$RUNNER")" != "$runner_text" ]; then
  printf '%s\n' "$runner_text" >"$RUNNER.tmp"
  chmod 0755 "$RUNNER.tmp"
  mv -f "$RUNNER.tmp" "$RUNNER"
  changed=1
fi

# ### BEGIN SOLUTION the supervisor program
program_text="[program:$PROGRAM]
command=$RUNNER
autostart=true
autorestart=true
startsecs=1
startretries=10
stopasgroup=true
killasgroup=true
stopwaitsecs=20
redirect_stderr=true
stdout_logfile=/var/log/supervisor/$PROGRAM.log"
if [ ! -f "$SUPERVISOR_CONF" ] || [ "$(cat "$SUPERVISOR_CONF")" != "$program_text" ]; then
  printf '%s\n' "$program_text" >"$SUPERVISOR_CONF"
  changed=1
fi
# ### END SOLUTION

# memcached holds the login limiter's counters, so all workers share one count per client.
if [ -d /run/systemd/system ] && [ "$LIMITS_PORT" = 11211 ]; then
  systemctl enable --now memcached >/dev/null 2>&1 || die "memcached did not start"
else
  limits_user=memcache
  id -u "$limits_user" >/dev/null 2>&1 || limits_user=nobody
  limits_text="[program:memcached]
command=/usr/bin/memcached -l 127.0.0.1 -p $LIMITS_PORT -m 64 -u $limits_user
autostart=true
autorestart=true
redirect_stderr=true
stdout_logfile=/var/log/supervisor/memcached.log"
  limits_conf=/etc/supervisor/conf.d/memcached.conf
  if [ ! -f "$limits_conf" ] || [ "$(cat "$limits_conf")" != "$limits_text" ]; then
    printf '%s\n' "$limits_text" >"$limits_conf"
    supervisorctl reread >/dev/null
    supervisorctl update memcached >/dev/null
  fi
fi

previous=$(readlink "$CURRENT" 2>/dev/null || true)
if [ "$FORCE" != 1 ] && [ "$changed" = 0 ] && [ -n "$previous" ] &&
  [ "$(cat "$previous/REVISION" 2>/dev/null)" = "$commit" ] && [ "$(serving)" = "$commit" ]; then
  log "commit ${commit:0:12} already serving on 0.0.0.0:$APP_PORT: nothing to do"
  exit 0
fi

# --- a new release -----------------------------------------------------------------------
release=$APP_ROOT/releases/$(date -u +%Y%m%d%H%M%S)-${commit:0:12}
[ -e "$release" ] && release=$release-$$
log "fetching ${commit:0:12} from $REPO_URL into $release"
as_builder() { # as_builder CMD...: the project's own code (git hooks, builds) never runs as root
  setpriv --reuid="$BUILD_USER" --regid="$BUILD_USER" --init-groups \
    env HOME=/nonexistent PIP_NO_CACHE_DIR=1 "$@"
}
as_builder git clone --quiet "$REPO_URL" "$release"
as_builder git -C "$release" -c advice.detachedHead=false checkout --quiet "$commit"
printf '%s\n' "$commit" >"$release/REVISION"
rm -rf "$release/.git"

if [ ! -x "$VENV/bin/python" ]; then
  log "creating the venv $VENV"
  as_builder python3 -m venv "$VENV"
fi
# The venv is shared by the releases: pip runs when the requirements (or the interpreter)
# differ from what it last installed, or FORCE=1.
# Run as the builder: root never runs nor follows what the builder owns.
stamp=$VENV/.requirements.sha256
wanted=$({ as_builder "$VENV/bin/python" --version; as_builder cat "$release/app/requirements.txt"; } |
  sha256sum | cut -d' ' -f1)
if [ "$FORCE" != 1 ] && [ "$(as_builder cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
  log "app/requirements.txt unchanged since the venv installed it: nothing to install"
else
  log "installing app/requirements.txt as $BUILD_USER"
  as_builder rm -f "$stamp"
  # shellcheck disable=SC2086 # PIP_ARGS is a list of words on purpose
  as_builder "$VENV/bin/pip" install --quiet --disable-pip-version-check $PIP_ARGS \
    -r "$release/app/requirements.txt"
  as_builder tee "$stamp" <<<"$wanted" >/dev/null
fi

switch_to() { # atomically point current at a release folder
  ln -sfn "$1" "$CURRENT.tmp"
  mv -Tf "$CURRENT.tmp" "$CURRENT"
}

load_env() { # export the env file's KEY=VALUE lines, as values (never run as shell)
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    case ${line%%=*} in '' | [0-9]* | *[!A-Za-z0-9_]*) continue ;; esac
    export "${line?}"
  done <"$ENV_FILE"
}

run_as_app() { # run_as_app CMD...: in the current release, with the env file, as the app user
  (
    load_env
    cd "$CURRENT"
    exec setpriv --reuid="$APP_USER" --regid="$APP_USER" --init-groups "$@"
  )
}

restart() { # one start: a program that update has just added or changed is starting already
  local before
  before=$(supervisorctl pid "$PROGRAM" 2>/dev/null || true)
  supervisorctl reread >/dev/null
  supervisorctl update "$PROGRAM" >/dev/null
  [ "$(supervisorctl pid "$PROGRAM" 2>/dev/null || true)" = "$before" ] || return 0
  supervisorctl restart "$PROGRAM" >/dev/null || true
}

switch_to "$release"
log "running migrations"
if ! run_as_app "$VENV/bin/flask" --app app db upgrade; then
  [ -n "$previous" ] && switch_to "$previous"
  die "migrations of ${commit:0:12} failed; 'current' is back on ${previous:-nothing}"
fi
log "(re)starting gunicorn on 0.0.0.0:$APP_PORT under supervisor"
restart
if healthy "$commit"; then
  printf '%s\n' "$release" >"$LAST_GOOD"
  log "commit ${commit:0:12} is serving on 0.0.0.0:$APP_PORT"
  # Old releases go, never the last good one or the current one.
  find "$APP_ROOT/releases" -mindepth 1 -maxdepth 1 -type d | sort | head -n "-$KEEP_RELEASES" |
    while read -r old; do
      [ "$old" = "$release" ] || rm -rf "$old"
    done
  exit 0
fi

# ### BEGIN SOLUTION the rollback
good=$(cat "$LAST_GOOD" 2>/dev/null || true)
if [ -z "$good" ] || [ ! -d "$good" ] || [ "$good" = "$release" ]; then
  die "commit ${commit:0:12} failed its health check and there is no earlier good release;" \
    "see /var/log/supervisor/$PROGRAM.log"
fi
good_commit=$(cat "$good/REVISION")
log "commit ${commit:0:12} failed its health check: rolling back to ${good_commit:0:12}"
switch_to "$good"
restart
if healthy "$good_commit"; then
  die "release ${commit:0:12} failed its health check (see /var/log/supervisor/$PROGRAM.log);" \
    "rolled back: ${good_commit:0:12} is serving again"
fi
die "release ${commit:0:12} failed its health check, and the rollback to ${good_commit:0:12}" \
  "is not healthy either; see /var/log/supervisor/$PROGRAM.log"
# ### END SOLUTION
