#!/usr/bin/env bash
# The one test command: provisions a fresh machine (pnpm, dependencies, Docker engine, bpftrace,
# tracefs, sysstat, a local test image), builds every package and runs every test against the real
# components, then prints one closing line with the totals of every vitest run
# (`total: N passed, N failed, N skipped`, from scripts/test-totals.mjs). CI runs exactly this
# through .ci/run, with CI=true: then a skipped test, or totals that cannot be read, fail the run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/provision.sh
export TURBO_TELEMETRY_DISABLED=1
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
pnpm test 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
echo
node scripts/test-totals.mjs "$log"
totals=$?
set -e
# The tests' own failure first; otherwise what the totals say (unreadable, or skipped under CI).
if [ "$status" -ne 0 ]; then exit "$status"; fi
exit "$totals"
