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
