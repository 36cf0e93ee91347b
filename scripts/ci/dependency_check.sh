#!/usr/bin/env bash
# Dependency-Check (real Jenkins): OWASP Dependency-Check with its pip analyzer switched on
# (--enableExperimental) on the app's requirements, against the NVD. dependency_audit.py judges
# its JSON report by the Security stage's rules: a finding at or above AUDIT_FAIL_SEVERITY
# fails; no NVD API key, an unreachable NVD, or a pin the analyzer did not report is a failing
# "dependencies not checked" case, so the stage is UNSTABLE, never a vacuous pass.
#   DEPENDENCY_CHECK_HOME  where Dependency-Check is installed (Jenkins' user data does it)
#   NVD_API_KEY            from Jenkins' credentials (empty: not checked)
#   AUDIT_REQUIREMENTS     the requirements file (default app/requirements.txt)
CI_STAGE=dependency-check
# shellcheck source=scripts/ci/common.sh
. "$(dirname "$0")/common.sh"

requirements=${AUDIT_REQUIREMENTS:-app/requirements.txt}
report=$REPORTS/dependency-check-report.json
log=$REPORTS/dependency-check.log
verdict() {
  "${PYTHON:-python3}" "$(dirname "$0")/dependency_audit.py" -r "$requirements" \
    --fail-severity "${AUDIT_FAIL_SEVERITY:-HIGH}" --junit "$REPORTS/dependency-check.xml" "$@"
}
rm -f "$report"

if [ -z "${NVD_API_KEY:-}" ]; then
  verdict --not-checked "no NVD API key (Jenkins credential nvd-api-key is empty)"
  exit 0
fi
dc=${DEPENDENCY_CHECK_HOME:-/opt/dependency-check}/bin/dependency-check.sh
[ -x "$dc" ] || ci_die "no Dependency-Check at $dc (Jenkins' user data installs it)"

# The key goes in a 0600 properties file, never on a command line.
props=$(mktemp)
trap 'rm -f "$props"' EXIT
chmod 600 "$props"
printf 'nvd.api.key=%s\n' "$NVD_API_KEY" >"$props"
ci_log "Dependency-Check on $requirements (pip analyzer on)"
code=0
"$dc" --project microblog --scan "$requirements" --enableExperimental --format JSON \
  --out "$REPORTS" --propertyfile "$props" >"$log" 2>&1 || code=$?
if [ ! -s "$report" ]; then
  verdict --not-checked "Dependency-Check did not finish (exit $code): $(tail -n 1 "$log")"
  exit 0
fi
verdict --owasp-report "$report"
