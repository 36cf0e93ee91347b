#!/usr/bin/env bash
# Test: the app's unit tests (tests/app, without the slow ones that build venvs or start a
# browser), with JUnit XML for Jenkins' junit step.
CI_STAGE="test"
# shellcheck source=scripts/ci/common.sh
. "$(dirname "$0")/common.sh"

[ -x "$CI_VENV/bin/pytest" ] || ci_die "no pytest in $CI_VENV: run scripts/ci/build.sh first"
"$CI_VENV/bin/pytest" tests/app -m "not slow" -q -p no:cacheprovider \
  -o addopts="" -o junit_family=xunit2 --junitxml="$REPORTS/tests.xml"
