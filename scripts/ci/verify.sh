#!/usr/bin/env bash
# Verify: the lab's checklist through the pipeline step, published as JUnit
# (`vpclab verify --junit`). Fails when a check FAILs. The lab, its target and region come
# from the Jenkins server itself (`--from-instance`: its tags and metadata, read with its
# instance profile's keys); the spec's other settings are the repository's lab.toml.
# VPCLAB is the vpclab command (default: the CI venv's, see common.sh).
CI_STAGE=verify
# shellcheck source=scripts/ci/common.sh
. "$(dirname "$0")/common.sh"

vpclab=$(ci_vpclab)
"$vpclab" verify --junit "$REPORTS/verify.xml" --from-instance --through pipeline
