#!/usr/bin/env bash
# The one test command: provisions a fresh machine (pnpm, dependencies, Docker engine, bpftrace,
# tracefs, sysstat, a local test image), builds every package and runs every test against the real
# components. CI runs exactly this through .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/provision.sh
export TURBO_TELEMETRY_DISABLED=1
pnpm test
