#!/usr/bin/env bash
# Build: the CI virtualenv with the app's requirements and the pipeline's tools.
# PIP_ARGS adds pip options (e.g. "--no-index --find-links DIR" where there is no PyPI).
CI_STAGE=build
# shellcheck source=scripts/ci/common.sh
. "$(dirname "$0")/common.sh"

python=${PYTHON:-python3}
if [ ! -x "$CI_VENV/bin/python" ]; then
  ci_log "creating $CI_VENV with $($python --version)"
  "$python" -m venv "$CI_VENV"
fi
# shellcheck disable=SC2086 # PIP_ARGS is a list of options
"$CI_VENV/bin/python" -m pip install --quiet --disable-pip-version-check $PIP_ARGS \
  -r app/requirements.txt -r scripts/ci/requirements.txt
"$CI_VENV/bin/python" -c "import app, flask, pytest" ||
  ci_die "the app does not import from the workspace root"
ci_log "built: $("$CI_VENV/bin/python" -m pip freeze --disable-pip-version-check | wc -l) packages"
