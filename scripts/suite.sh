#!/usr/bin/env bash
# The one "run" command: installs what running needs (pnpm, the workspace's dependencies, the build),
# prints one preflight line per plugin (what it could not find on this host and how to fix it), then
# hosts the plugins in one process on /var/run/scope/plugins (or $SCOPE_PLUGINS_ROOT / --root) for
# the Scope probe on this host to pick up.
#
# It changes nothing else on the host: no daemon is started or reconfigured, nothing is mounted, and
# no system package is installed, except bpftrace when http-stats is asked for AND you agree:
#   bash scripts/suite.sh --install-bpftrace            (or SCOPE_PLUGINS_INSTALL_BPFTRACE=1)
# Test provisioning (Docker engine, tracefs, test images...) is scripts/test.sh's job, not this one's.
#
# Other arguments go to `scope-plugins run` (plugin ids, --log-level debug, --root DIR, ...).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[suite] %s\n' "$*" >&2; }

install_bpftrace="${SCOPE_PLUGINS_INSTALL_BPFTRACE:-0}"
args=()
for arg in "$@"; do
  if [ "$arg" = --install-bpftrace ]; then install_bpftrace=1; else args+=("$arg"); fi
done

if ! command -v pnpm >/dev/null || ! pnpm --version 2>/dev/null | grep -q '^10\.'; then
  log "installing pnpm 10 (npm install -g pnpm@10)"
  npm install -g pnpm@10 >/dev/null 2>&1 || { log "could not install pnpm 10 with npm; install it (npm install -g pnpm@10, as root) and rerun"; exit 1; }
fi
log "installing the workspace's dependencies (pnpm install --frozen-lockfile)"
CI=true pnpm install --frozen-lockfile --reporter=append-only >/dev/null
log "building"
TURBO_TELEMETRY_DISABLED=1 pnpm run build >/dev/null
# Every bin is a committed launcher (<package>/bin/*.js importing dist/), so the install above already
# linked them all and `pnpm exec scope-plugins ...` works from the root once the build is done.

suite=node_modules/.bin/scope-plugins
# The plugins asked for: arguments that name a plugin of the suite (all when none does).
known=$("$suite" list | cut -f1)
selected=()
for arg in "${args[@]+"${args[@]}"}"; do
  if printf '%s\n' "$known" | grep -qxF -- "$arg"; then selected+=("$arg"); fi
done
[ ${#selected[@]} -gt 0 ] || mapfile -t selected <<<"$known"

if printf '%s\n' "${selected[@]}" | grep -qx http-stats && ! command -v bpftrace >/dev/null; then
  if [ "$install_bpftrace" = 1 ]; then
    if [ "$(id -u)" = 0 ]; then
      log "installing bpftrace (apt-get install -y --no-install-recommends bpftrace), as you asked"
      DEBIAN_FRONTEND=noninteractive apt-get update -qq \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends bpftrace >/dev/null \
        || log "installing bpftrace failed: http-stats serves a report saying it is missing"
    else
      log "installing bpftrace needs root: rerun as root, or apt-get install -y bpftrace yourself"
    fi
  fi
fi

node scripts/preflight.mjs "${selected[@]}" >&2

# exec: the suite gets the signals itself (Ctrl-C, SIGTERM remove the sockets on the way out).
exec "$suite" run "${args[@]+"${args[@]}"}"
