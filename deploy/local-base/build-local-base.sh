#!/usr/bin/env bash
# Builds a local stand-in for the public Node base image (node:20-bookworm-slim) on a machine that
# reaches no container registry: the host's own `node` (+ npm), busybox-static as /bin/sh and the
# small userland a Dockerfile's RUN lines need, bpftrace and lsns, each with the shared libraries
# `ldd` lists, imported with `docker import`. Users never need this: they build FROM the public base.
#
# usage: build-local-base.sh [image]     (default image: scope-plugins-local/node-base:20)
# Idempotent: does nothing when the image exists and is up to date (set FORCE=1 to rebuild).
set -euo pipefail

IMAGE="${1:-scope-plugins-local/node-base:20}"
log() { printf '[local-base] %s\n' "$*" >&2; }

# Rebuilt when this script or the host's node changes.
SIGNATURE="$(sha256sum "$0" | cut -c1-16)-$(node -v)"
if [ "${FORCE:-0}" != 1 ] && [ "$(docker image inspect -f '{{index .Config.Labels "scope-plugins.local-base"}}' "$IMAGE" 2>/dev/null)" = "$SIGNATURE" ]; then
  exit 0
fi

NODE_BIN="$(readlink -f "$(command -v node)")"
NPM_DIR="$(npm root -g 2>/dev/null)/npm"
BUSYBOX="$(command -v busybox)" || { log "busybox-static is needed (apt-get install busybox-static)"; exit 1; }
[ -d "$NPM_DIR" ] || { log "npm not found at $NPM_DIR"; exit 1; }

rootfs="$(mktemp -d /tmp/scope-plugins-base.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT

# copy_with_libs FILE DEST: FILE at DEST inside the rootfs, plus every library ldd lists at its own path.
copy_with_libs() {
  local file="$1" dest="$2"
  mkdir -p "$rootfs$(dirname "$dest")"
  cp -L "$file" "$rootfs$dest"
  ldd "$file" 2>/dev/null | grep -oE '/[^ ]+' | while read -r lib; do
    [ -e "$lib" ] || continue
    mkdir -p "$rootfs$(dirname "$lib")"
    [ -e "$rootfs$lib" ] || cp -L "$lib" "$rootfs$lib"
  done
}

mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/local/bin,usr/local/lib/node_modules,etc,tmp,root,home/node,var/run,lib64}
chmod 1777 "$rootfs/tmp"

# A shell and the usual tools (RUN lines run /bin/sh -c), all as busybox applets.
cp "$BUSYBOX" "$rootfs/bin/busybox"
for applet in $("$BUSYBOX" --list); do
  [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
done
ln -sf /bin/env "$rootfs/usr/bin/env"

copy_with_libs "$NODE_BIN" /usr/local/bin/node
cp -a "$NPM_DIR" "$rootfs/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"

# What the suite uses besides node: bpftrace (http-stats; the users' build installs it with apt).
if command -v bpftrace >/dev/null; then copy_with_libs "$(command -v bpftrace)" /usr/bin/bpftrace; else log "no bpftrace on this host: the image's http-stats will report it missing"; fi
# lsns (host-namespaces --source lsns) and lsblk (iowait's disk info through systeminformation).
for tool in lsns lsblk; do
  if command -v "$tool" >/dev/null; then copy_with_libs "$(command -v "$tool")" "/usr/bin/$tool"; fi
done

# Users as in the official node image (node = 1000:1000).
cat >"$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
node:x:1000:1000::/home/node:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$rootfs/etc/group" <<'EOF'
root:x:0:
node:x:1000:
nogroup:x:65534:
EOF
chown 1000:1000 "$rootfs/home/node"
printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
# The host's CA bundle, trusted by node too (NODE_EXTRA_CA_CERTS), so npm and pnpm in the image's
# build stage reach the registry wherever the host does (e.g. through a TLS-inspecting proxy whose
# CA the host trusts).
extra_ca=""
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  mkdir -p "$rootfs/etc/ssl/certs" && cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
  extra_ca=/etc/ssl/certs/ca-certificates.crt
fi

log "importing $IMAGE ($(du -sh "$rootfs" | cut -f1))"
tar -C "$rootfs" -c . | docker import \
  -c 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c 'ENV NODE_VERSION='"$(node -p process.versions.node)" \
  ${extra_ca:+-c "ENV NODE_EXTRA_CA_CERTS=$extra_ca"} \
  -c 'CMD ["node"]' \
  -c "LABEL scope-plugins.local-base=$SIGNATURE" \
  -m "local stand-in for node:20-bookworm-slim (host node $(node -v), busybox, bpftrace)" \
  - "$IMAGE" >/dev/null
log "built $IMAGE"
