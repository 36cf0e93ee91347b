# Shared by the stage scripts (sourced): settings with their defaults, and one log format.
# Settings come from the Jenkinsfile's environment block, or the caller's environment.
# shellcheck shell=bash
set -euo pipefail

CI_VENV=${CI_VENV:-.venv-ci}
REPORTS=${REPORTS:-reports}
PIP_ARGS=${PIP_ARGS:-}
mkdir -p "$REPORTS"

ci_log() { printf '[%s] %s\n' "${CI_STAGE:-ci}" "$*"; }
ci_die() {
  printf '[%s] ERROR: %s\n' "${CI_STAGE:-ci}" "$*" >&2
  exit 1
}

# The vpclab command: VPCLAB when set (the local image has the kit's), else the CI venv's,
# installed from this checkout on first use. Deploy and Verify run it with --from-instance:
# the lab, target and region come from the Jenkins server's own tags and metadata, read with
# its instance profile's keys (the default credential chain), on both targets.
ci_vpclab() {
  local vpclab=${VPCLAB:-$CI_VENV/bin/vpclab}
  if [ ! -x "$vpclab" ]; then
    # shellcheck disable=SC2086 # PIP_ARGS is a list of options
    "$CI_VENV/bin/python" -m pip install --quiet --disable-pip-version-check $PIP_ARGS . >&2
  fi
  printf '%s\n' "$vpclab"
}
