#!/usr/bin/env bash
# Sets up vpclab on a fresh machine: Debian packages (when root) and .venv. Idempotent and
# quick on a second run.
#
#   bash scripts/bootstrap.sh           # what the lab runs (`make lab`)
#   bash scripts/bootstrap.sh --test    # plus the test and benchmark tools (`make test`)
#   bash scripts/bootstrap.sh [--test] --list   # print the Debian packages, install nothing
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}

MODE=lab
LIST=no
for arg in "$@"; do
  case "$arg" in
    --test) MODE="test" ;;
    --list) LIST=yes ;;
    *) echo "bootstrap: unknown option $arg (use --test and/or --list)" >&2; exit 2 ;;
  esac
done

# The local image: the software every local host runs.
# crun (>= 1.8) runs each host as a container.
APT_PACKAGES=(
  iproute2 nftables crun openssh-server openssh-client sudo procps git curl
  nginx supervisor prometheus prometheus-node-exporter prometheus-alertmanager
  prometheus-nginx-exporter
  python3-venv python3-dev graphviz memcached
)
# Only the tests and the benchmarks use these (a headless browser, a load generator, a
# PostgreSQL server for the app's database tests, a shell script linter, Groovy to parse the
# Jenkinsfile, NSS's certutil to make the browser trust the lab CA).
APT_TEST_PACKAGES=(
  wrk chromium chromium-driver shellcheck postgresql groovy libnss3-tools
)
if [ "$MODE" = test ]; then
  APT_PACKAGES+=("${APT_TEST_PACKAGES[@]}")
fi

if [ "$LIST" = yes ]; then
  printf '%s\n' "${APT_PACKAGES[@]}"
  exit 0
fi

missing_packages() {
  local p
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

if command -v apt-get >/dev/null 2>&1; then
  mapfile -t missing < <(missing_packages)
  if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
      echo "bootstrap: installing Debian packages: ${missing[*]}"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      # None of their services starts or is enabled on this machine: they run in hosts.
      bash scripts/install-packages.sh "${missing[@]}"
    else
      echo "bootstrap: not root, so these Debian packages are not installed: ${missing[*]}" >&2
      echo "bootstrap: the local hosts will be skipped; run 'sudo make lab' for the full lab." >&2
    fi
  fi
fi

# Debian's Python 3.11: readable by every user, and the same interpreter the local hosts see.
PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
  for candidate in /usr/bin/python3.11 /usr/bin/python3 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then PYTHON=$candidate; break; fi
  done
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "bootstrap: creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
# One stamp a mode: the test mode installs the dev extras on top of the lab's packages.
if [ "$MODE" = test ]; then
  stamp="$VENV/.vpclab-installed-test"
  target='.[dev]'
else
  stamp="$VENV/.vpclab-installed"
  target='.'
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ app/requirements.txt -nt "$stamp" ]; then
  echo "bootstrap: installing Python packages ($MODE) into $VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e "$target" -r app/requirements.txt
  touch "$stamp"
  # The test mode's packages include the lab's.
  if [ "$MODE" = test ]; then touch "$VENV/.vpclab-installed"; fi
fi
# jsonschema (under nbformat, through jupyter-events' format-nongpl extra) imports
# rfc3987-syntax when it is there, which builds its IRI parsers at import: about 1 s of CPU in
# every process that reads a notebook, two per graded lab. Nothing here validates the iri
# formats it checks (upstream: python-jsonschema/jsonschema#1428). Checked on every run, so an
# older venv loses it too (tests/test_startup.py).
if compgen -G "$VENV/lib/python3*/site-packages/rfc3987_syntax" >/dev/null; then
  "$VENV/bin/python" -m pip uninstall -y -q rfc3987-syntax
fi
