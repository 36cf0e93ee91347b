#!/usr/bin/env bash
# Sets up everything vpclab needs on a fresh machine: Debian packages (when root) and .venv.
# Idempotent and quick on a second run.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}

# The local image: the software every local host runs, plus test tools.
APT_PACKAGES=(
  iproute2 nftables openssh-server openssh-client sudo procps git curl
  nginx supervisor prometheus prometheus-node-exporter
  python3-venv python3-dev graphviz wrk chromium chromium-driver shellcheck
)

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
      apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
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

stamp="$VENV/.vpclab-installed"
if [ ! -x "$VENV/bin/python" ]; then
  echo "bootstrap: creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ app/requirements.txt -nt "$stamp" ]; then
  echo "bootstrap: installing Python packages into $VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e '.[dev]' -r app/requirements.txt
  touch "$stamp"
fi
