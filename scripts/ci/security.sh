#!/usr/bin/env bash
# Security: bandit on app/, a CycloneDX SBOM of the app's requirements (archived), and the
# dependency audit (pip-audit against OSV). Settings:
#   AUDIT_FAIL_SEVERITY  LOW, MODERATE, HIGH or CRITICAL: a finding at or above it fails
#   BANDIT_LEVEL         bandit's severity filter: -l (low+), -ll (medium+), -lll (high only)
#   OSV_URL              the OSV query endpoint (default: the public one)
#   AUDIT_REQUIREMENTS   the requirements file to audit (default app/requirements.txt)
CI_STAGE=security
# shellcheck source=scripts/ci/common.sh
. "$(dirname "$0")/common.sh"

bin=$CI_VENV/bin
[ -x "$bin/bandit" ] || ci_die "no bandit in $CI_VENV: run scripts/ci/build.sh first"
requirements=${AUDIT_REQUIREMENTS:-app/requirements.txt}

ci_log "bandit on app/"
"$bin/bandit" -r app "${BANDIT_LEVEL:--ll}" -q -f json -o "$REPORTS/bandit.json" ||
  ci_die "bandit found issues: see $REPORTS/bandit.json"

ci_log "CycloneDX SBOM of $requirements"
"$bin/cyclonedx-py" requirements "$requirements" --of JSON -o "$REPORTS/sbom.json"

ci_log "dependency audit of $requirements (fails at ${AUDIT_FAIL_SEVERITY:-HIGH} or above)"
"$bin/python" "$(dirname "$0")/dependency_audit.py" -r "$requirements" \
  --fail-severity "${AUDIT_FAIL_SEVERITY:-HIGH}" --osv-url "${OSV_URL:-https://api.osv.dev/v1/query}" \
  --timeout "${AUDIT_TIMEOUT:-10}" --pip-audit "$bin/pip-audit" \
  --junit "$REPORTS/audit.xml" --json "$REPORTS/audit.json"
