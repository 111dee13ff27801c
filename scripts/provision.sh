#!/usr/bin/env bash
# Installs and starts everything the suite and its tests need on a fresh Debian 12 machine
# (root, Node 20 + npm): pnpm, the workspace's dependencies, and the real components the tests
# talk to: a Docker engine (started by hand: no systemd), bpftrace with tracefs mounted,
# sysstat (iostat), util-linux (lsns), podman (its Docker-compatible API, for volume-count's tests), containerd with
# the CNI plugins (the CRI tests run their own), and a small local image (no registry is reachable).
# Idempotent: re-running skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[provision] %s\n' "$*" >&2; }

need_root() {
  if [ "$(id -u)" != 0 ]; then
    log "must run as root (it installs packages, mounts tracefs and starts dockerd)"
    exit 1
  fi
}

install_apt() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  command -v busybox >/dev/null || missing+=(busybox-static)
  command -v bpftrace >/dev/null || missing+=(bpftrace)
  command -v iostat >/dev/null || missing+=(sysstat)
  command -v podman >/dev/null || missing+=(podman)
  # The CRI tests start their own containerd (docker.io brings containerd, ctr and runc) with a CNI bridge.
  command -v ctr >/dev/null || missing+=(containerd)
  [ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] || missing+=(containernetworking-plugins)
  command -v ip >/dev/null || missing+=(iproute2)
  command -v lsns >/dev/null || missing+=(util-linux)
  command -v unshare >/dev/null || missing+=(util-linux)
  command -v python3 >/dev/null || missing+=(python3)
  command -v curl >/dev/null || missing+=(curl)
  # The Prometheus project's reference exposition parsers, which the metrics tests check pages with.
  [ -f /usr/lib/python3/dist-packages/prometheus_client/openmetrics/parser.py ] || missing+=(python3-prometheus-client)
  # A real Prometheus scrapes the metrics endpoint in the suite's test; promtool checks configs and lints the page.
  command -v promtool >/dev/null || missing+=(prometheus)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

install_node_deps() {
  if ! command -v pnpm >/dev/null || ! pnpm --version 2>/dev/null | grep -q '^10\.'; then
    log "installing pnpm 10"
    npm install -g pnpm@10 >/dev/null 2>&1
  fi
  log "pnpm install"
  CI=true pnpm install --frozen-lockfile --reporter=append-only >/dev/null
}

mount_tracefs() {
  if ! mountpoint -q /sys/kernel/tracing; then
    log "mounting tracefs on /sys/kernel/tracing"
    mount -t tracefs tracefs /sys/kernel/tracing || log "WARNING: could not mount tracefs; http-stats cannot attach"
  fi
}

start_dockerd() {
  if curl -fsS --max-time 2 --unix-socket /var/run/docker.sock http://x/_ping >/dev/null 2>&1; then
    return
  fi
  log "starting dockerd (no systemd here; host network left alone)"
  mkdir -p /var/log
  nohup dockerd --iptables=false --ip-forward=false --ip-masq=false --bridge=none \
    >/var/log/scope-plugins-dockerd.log 2>&1 &
  for _ in $(seq 1 100); do
    if curl -fsS --max-time 2 --unix-socket /var/run/docker.sock http://x/_ping >/dev/null 2>&1; then
      return
    fi
    sleep 0.2
  done
  log "dockerd did not answer within 20 s; see /var/log/scope-plugins-dockerd.log"
  exit 1
}

# A 1-file userland image made locally (no registry can be reached): busybox-static as /bin/*.
build_test_image() {
  local image=scope-plugins-test/busybox:latest
  if docker image inspect "$image" >/dev/null 2>&1; then
    return
  fi
  log "importing $image from busybox-static"
  local dir
  dir=$(mktemp -d)
  mkdir -p "$dir/bin" "$dir/tmp" "$dir/data" "$dir/etc"
  cp "$(command -v busybox)" "$dir/bin/busybox"
  for applet in sh sleep ls cat echo true mount; do ln -s busybox "$dir/bin/$applet"; done
  tar -C "$dir" -c . | docker import -c 'CMD ["/bin/sleep","3600"]' - "$image" >/dev/null
  rm -rf "$dir"
}

need_root
install_apt
install_node_deps
mount_tracefs
start_dockerd
build_test_image
log "ready"
