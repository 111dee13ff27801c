#!/usr/bin/env bash
# Distribution figures: local base and suite image build times (cold and cached), image size,
# docker-compose `up` until every socket passes the doctor, and memory per plugin container.
# Median of RUNS runs (default 3). Needs the engine and docker-compose (scripts/provision.sh) and a
# built workspace (pnpm build). Prints a markdown table; results go to bench/results/deploy.md.
#   bash bench/deploy.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-3}"
BASE=scope-plugins-local/node-base:20
IMAGE=scope-plugins:bench
export DOCKER_BUILDKIT=0

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", b-a}'; }
build() { docker build --network host -f deploy/Dockerfile --build-arg NODE_BASE=$BASE -t $IMAGE "$@" . >/dev/null; }

base_times=(); cold=(); warm=(); ready=()
for _ in $(seq "$RUNS"); do
  t=$(now); FORCE=1 bash deploy/local-base/build-local-base.sh $BASE 2>/dev/null; base_times+=("$(secs "$t" "$(now)")")
done
for _ in $(seq "$RUNS"); do
  t=$(now); build --no-cache; cold+=("$(secs "$t" "$(now)")")
done
for _ in $(seq "$RUNS"); do
  t=$(now); build; warm+=("$(secs "$t" "$(now)")")
done
size=$(docker image inspect -f '{{.Size}}' $IMAGE | awk '{printf "%.0f", $1/1e6}')
base_size=$(docker image inspect -f '{{.Size}}' $BASE | awk '{printf "%.0f", $1/1e6}')

root=$(mktemp -d /tmp/sp-bench-XXXXXX); chmod 755 "$root"
export SCOPE_PLUGINS_ROOT=$root SCOPE_HOSTNAME=bench SCOPE_PLUGINS_IMAGE=$IMAGE COMPOSE_PROJECT_NAME=spbench
for _ in $(seq "$RUNS"); do
  t=$(now)
  docker-compose up -d --no-build >/dev/null 2>&1
  for _ in $(seq 600); do
    if [ "$(find "$root" -type s | wc -l)" -eq 4 ] && node suite/dist/cli.js doctor "$root" --host-id bench >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
  ready+=("$(secs "$t" "$(now)")")
  docker-compose down --timeout 10 >/dev/null 2>&1
done

# Memory after 30 s of steady state, and the peak since start (cgroup v1 max_usage; v2 memory.peak).
docker-compose up -d --no-build >/dev/null 2>&1
sleep 30
mem_rows=""
for id in $(docker ps -q --no-trunc --filter label=com.docker.compose.project=spbench); do
  svc=$(docker inspect -f '{{index .Config.Labels "com.docker.compose.service"}}' "$id")
  usage=$(docker stats --no-stream --format '{{.MemUsage}}' "$id" | cut -d/ -f1 | tr -d ' ')
  peak_file=$(ls /sys/fs/cgroup/memory/docker/"$id"/memory.max_usage_in_bytes /sys/fs/cgroup/system.slice/docker-"$id".scope/memory.peak 2>/dev/null | head -1 || true)
  peak=$([ -n "$peak_file" ] && awk '{printf "%.0fMiB", $1/1048576}' "$peak_file" || echo n/a)
  mem_rows+="| $svc | $usage | $peak |"$'\n'
done
docker-compose down --timeout 10 >/dev/null 2>&1
rm -rf "$root"

cat <<EOF
| measure | median of $RUNS (s) | runs |
|---|---|---|
| local base build (FORCE=1, ${base_size} MB) | $(printf '%s\n' "${base_times[@]}" | median) | ${base_times[*]} |
| suite image build, no cache (build stage installs from the npm registry) | $(printf '%s\n' "${cold[@]}" | median) | ${cold[*]} |
| suite image build, cached (sources unchanged) | $(printf '%s\n' "${warm[@]}" | median) | ${warm[*]} |
| docker-compose up until all 4 sockets pass the doctor | $(printf '%s\n' "${ready[@]}" | median) | ${ready[*]} |

Suite image: ${size} MB (of which the local base: ${base_size} MB).

| service | memory after 30 s | peak since start |
|---|---|---|
$(printf '%s' "$mem_rows" | sort)
EOF
