#!/usr/bin/env bash
# A/B of the cold herd between two pullcache binaries: N clients at once on an uncached blob
# (a fresh one per run), the upstream a docker-registry on loopback, so the fill runs as fast
# as the CPU and the disk let it, not at a shaped link's rate: the loop for changes to the
# fetch path, where `make bench` (about 40 minutes) is too slow. Each round runs OLD, NEW and
# one direct fetch from the upstream in turn; prints one line per run (wall seconds, how many
# clients got every byte).
#
# usage: bench/herd_ab.sh OLD_PULLCACHE NEW_PULLCACHE [ROUNDS] [MIB] [CLIENTS]
set -euo pipefail
. "$(dirname "$0")/common.sh"
B=${BUILD_DIR:-$(cd "$(dirname "$0")/.." && pwd)/build}
A_BIN=$1; B_BIN=$2; ROUNDS=${3:-3}; MIB=${4:-256}; CLIENTS=${5:-32}
W=$(mktemp -d /tmp/pullcache-herd-ab.XXXXXX)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$W"' EXIT
loopback_registry "$W"
PIDS+=("$UP_PID")
# One blob per run: "$W/blob.<n>" pushed with the registry's monolithic upload.
push_blob() {  # file -> digest
  local digest loc
  digest=sha256:$(sha256sum "$1" | cut -d' ' -f1)
  loc=$(curl -sf -X POST -D - -o /dev/null "http://$UP/v2/bench/blob/blobs/uploads/" |
    tr -d '\r' | awk 'tolower($1)=="location:"{print $2}')
  case "$loc" in http*) ;; *) loc="http://$UP$loc" ;; esac
  curl -sf -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$1" \
    "$loc&digest=$digest" -o /dev/null
  echo "$digest"
}
herd() {  # url -> "seconds complete"
  local t0 t1 ok clients=()
  rm -f "$W"/got.*
  t0=$(date +%s.%N)
  for i in $(seq "$CLIENTS"); do
    curl -s -o /dev/null -w '%{http_code} %{size_download}\n' "$1" >"$W/got.$i" &
    clients+=($!)
  done
  wait "${clients[@]}" || true
  t1=$(date +%s.%N)
  ok=$(cat "$W"/got.* | awk -v n=$((MIB << 20)) '$1==200 && $2==n' | wc -l)
  awk -v a="$t0" -v b="$t1" -v ok="$ok" -v n="$CLIENTS" 'BEGIN{printf "%.3f s, %d of %d complete", b-a, ok, n}'
}
run_one() {  # bin label
  local P H PC digest
  head -c $((MIB << 20)) /dev/urandom >"$W/blob"
  digest=$(push_blob "$W/blob")
  P=$(free_port); H=$(free_port)
  rm -rf "$W/cache"
  cat >"$W/pc.yml" <<EOT
listen: 127.0.0.1:$P
metrics_listen: 127.0.0.1:$H
threads: 2
cache: {dir: $W/cache, max_bytes: 20GiB, min_free_bytes: 0}
upstreams: [{match: "$UP", url: "http://$UP"}]
default_upstream: "$UP"
log: {level: warn}
EOT
  "$1" serve --config "$W/pc.yml" >"$W/pc.log" 2>&1 & PC=$!
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$H/readyz" >/dev/null && break; sleep 0.1; done
  echo "$2 $(herd "http://127.0.0.1:$P/v2/bench/blob/blobs/$digest?ns=$UP")"
  kill $PC; wait $PC 2>/dev/null || true
}
run_direct() {
  local digest t0 t1
  head -c $((MIB << 20)) /dev/urandom >"$W/blob"
  digest=$(push_blob "$W/blob")
  t0=$(date +%s.%N)
  curl -sf -o /dev/null "http://$UP/v2/bench/blob/blobs/$digest"
  t1=$(date +%s.%N)
  echo "direct $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f s, one client", b-a}')"
}
for _ in $(seq "$ROUNDS"); do run_one "$A_BIN" old; run_one "$B_BIN" new; run_direct; done
