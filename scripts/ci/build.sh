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
# The venv outlives the build (a workspace keeps it): pip runs when the requirements or the
# interpreter changed since it last installed them, not on every build.
stamp=$CI_VENV/.requirements.sha256
wanted=$({ "$CI_VENV/bin/python" --version; cat app/requirements.txt scripts/ci/requirements.txt; } |
  sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
  ci_log "requirements unchanged since $CI_VENV installed them: nothing to install"
else
  rm -f "$stamp"
  # --no-compile: a module's bytecode is written when a stage first imports it, so only
  # what the pipeline imports is compiled, once (the venv keeps it for later builds).
  # shellcheck disable=SC2086 # PIP_ARGS is a list of options
  "$CI_VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-compile $PIP_ARGS \
    -r app/requirements.txt -r scripts/ci/requirements.txt
  printf '%s\n' "$wanted" >"$stamp"
  ci_log "built: $("$CI_VENV/bin/python" -c 'import importlib.metadata as m; print(len(list(m.distributions())))') packages"
fi
"$CI_VENV/bin/python" -c "import app, flask, pytest" ||
  ci_die "the app does not import from the workspace root"
