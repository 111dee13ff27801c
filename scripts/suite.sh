#!/usr/bin/env bash
# The one "run" command: installs what the suite needs and hosts every plugin in one process on
# /var/run/scope/plugins (or $SCOPE_PLUGINS_ROOT), for the Scope probe on this host to pick up.
# Extra arguments go to `scope-plugins run` (e.g. plugin ids, --log-level debug).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/provision.sh
export TURBO_TELEMETRY_DISABLED=1
pnpm run build >/dev/null
exec node shared/suite/dist/cli.js run "$@"
