#!/usr/bin/env bash
# Verify: the lab's checklist, published as JUnit (`vpclab verify --junit`). Fails when a
# check FAILs. VPCLAB is the vpclab command (default: the CI venv's), VPCLAB_ARGS its spec and
# target options.
CI_STAGE=verify
# shellcheck source=scripts/ci/common.sh
. "$(dirname "$0")/common.sh"

vpclab=${VPCLAB:-$CI_VENV/bin/vpclab}
if [ ! -x "$vpclab" ]; then
  # shellcheck disable=SC2086 # PIP_ARGS is a list of options
  "$CI_VENV/bin/python" -m pip install --quiet --disable-pip-version-check $PIP_ARGS .
fi
# shellcheck disable=SC2086 # VPCLAB_ARGS is a list of options
"$vpclab" verify --junit "$REPORTS/verify.xml" ${VPCLAB_ARGS:-}
