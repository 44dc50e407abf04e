#!/usr/bin/env bash
# Offline demo: a local docker-registry as the upstream, a generated 3-layer image pushed to it,
# then two containerd pulls through pullcache. The second pull uses a fresh containerd root with
# the upstream stopped, so every byte comes from pullcache's cache. Needs root (containerd).
set -euo pipefail
BUILD_DIR=${1:-build}
BIN=$(cd "$BUILD_DIR" && pwd)
WORK=$(mktemp -d /tmp/pullcache-demo-XXXXXX)
REG_PORT=5101
PC_PORT=5100
HEALTH_PORT=5102
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  grep -o " $WORK[^ ]*" /proc/mounts | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }
wait_http() { for _ in $(seq 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; echo "timeout: $1" >&2; return 1; }

step "upstream: docker-registry on 127.0.0.1:$REG_PORT"
cat > "$WORK/registry.yml" <<YAML
version: 0.1
log: {level: warn, accesslog: {disabled: false}}
storage: {filesystem: {rootdirectory: $WORK/registry}}
http: {addr: 127.0.0.1:$REG_PORT}
YAML
docker-registry serve "$WORK/registry.yml" > "$WORK/registry.log" 2>&1 & pids+=($!); REG_PID=$!
wait_http "http://127.0.0.1:$REG_PORT/v2/"

step "image: 3 layers (8, 4, 2 MiB) generated and pushed with skopeo"
"$BIN/tests/make_test_image" "$WORK/layout" v1 8 4 2 > /dev/null
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$WORK/layout:v1" "docker://127.0.0.1:$REG_PORT/demo/app:v1"

step "pullcache on 127.0.0.1:$PC_PORT"
cat > "$WORK/pullcache.yaml" <<YAML
listen: 127.0.0.1:$PC_PORT
metrics_listen: 127.0.0.1:$HEALTH_PORT
cache: {dir: $WORK/cache}
upstreams:
  - match: "127.0.0.1:$REG_PORT"
    url: http://127.0.0.1:$REG_PORT
YAML
"$BIN/daemon/pullcache" serve --config "$WORK/pullcache.yaml" > "$WORK/pullcache.log" 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$HEALTH_PORT/readyz"

mkdir -p "$WORK/hosts/127.0.0.1:$REG_PORT"
cat > "$WORK/hosts/127.0.0.1:$REG_PORT/hosts.toml" <<TOML
server = "http://127.0.0.1:$REG_PORT"
[host."http://127.0.0.1:$PC_PORT"]
  capabilities = ["pull", "resolve"]
TOML

pull() {  # $1: node name
  local d="$WORK/$1"
  mkdir -p "$d"
  printf 'version = 2\nroot = "%s/root"\nstate = "%s/state"\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = "%s/ctd.sock"\n' \
    "$d" "$d" "$d" > "$d/config.toml"
  containerd --config "$d/config.toml" > "$d/containerd.log" 2>&1 & pids+=($!)
  for _ in $(seq 100); do ctr -a "$d/ctd.sock" version > /dev/null 2>&1 && break; sleep 0.1; done
  local t0=$(date +%s%N)
  ctr -a "$d/ctd.sock" images pull --plain-http --hosts-dir "$WORK/hosts" "127.0.0.1:$REG_PORT/demo/app:v1" > "$d/pull.log"
  echo "ctr pull on $1: ok in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
}

step "node 1 pulls (cache cold: pullcache fetches from the upstream)"
pull node1
grep -o 'route=blob .*cache=[a-z]*' "$WORK/pullcache.log" | sed 's/ns=[^ ]* //; s/bytes=\([0-9]*\).*cache=/bytes=\1 cache=/'

step "upstream stopped; node 2 (fresh containerd root) pulls"
kill "$REG_PID"; wait "$REG_PID" 2>/dev/null || true
lines=$(wc -l < "$WORK/pullcache.log")
pull node2
tail -n +"$((lines + 1))" "$WORK/pullcache.log" | grep -o 'route=blob .*cache=[a-z]*' | sed 's/ns=[^ ]* //; s/bytes=\([0-9]*\).*cache=/bytes=\1 cache=/'
step "upstream blob GETs in total (each layer left the upstream once):"
grep -c '"GET /v2/demo/app/blobs/' "$WORK/registry.log"
