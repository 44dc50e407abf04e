#!/usr/bin/env bash
# pullcache against the tools a platform team would use instead, side by side in one run:
#   pullcache          this project
#   distribution       CNCF distribution (Debian docker-registry) in proxy mode
#   nginx-proxy        nginx proxy_cache (proxy_cache_lock on) in front of the upstream
#   nginx-static       nginx serving the same blob file with sendfile (the warm-serving ceiling)
# The upstream is a docker-registry in a network namespace behind a veth shaped with netem
# (1 Gbit/s, 0.5 ms each way; tbf at 1 Gbit/s where the kernel has no netem), so a cold fetch
# crosses a "remote" link; without netns support it falls back to loopback and says so.
#
# Scenarios: warm blob throughput (wrk, 8 connections), warm manifest GET
# (wrk) and HEAD (bench/http_load), 32 connections, requests/s and p99, cold herd (N clients at once on an uncached
# blob: wall time and bytes that crossed the upstream link), peak RSS during the warm blob and
# cold herd runs, `ctr images pull` of a 4-layer image cold (each system's cache emptied) and
# warm (a fresh containerd root) through each system and straight from the upstream, and
# pullcache's per-request cost with 1k, 10k and 100k blobs in its cache. Each scenario runs A B C A B C ... for several rounds; the table reports the
# median and the ratio to pullcache. Raw numbers go to raw.tsv.
#
# usage: bench/run.sh [--quick] [--out DIR]      (root: network namespace, tc)
#   --quick   small sizes, 1 round, short runs (under 3 minutes): the test suite's smoke run
set -euo pipefail
. "$(dirname "$0")/nginx_proxy.sh"
. "$(dirname "$0")/common.sh"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}
PULLCACHE=$BUILD/daemon/pullcache
MAKE_IMAGE=$BUILD/tests/make_test_image
HTTP_LOAD=$BUILD/bench/http_load
QUICK=0
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --out) OUT=$2; shift ;;
    *) echo "usage: bench/run.sh [--quick] [--out DIR]" >&2; exit 2 ;;
  esac
  shift
done
for tool in "$PULLCACHE" "$MAKE_IMAGE" "$HTTP_LOAD"; do
  [ -x "$tool" ] || { echo "bench: $tool not built (make build)" >&2; exit 1; }
done
for cmd in docker-registry nginx wrk curl skopeo; do
  command -v "$cmd" >/dev/null || { echo "bench: $cmd missing (scripts/setup.sh)" >&2; exit 1; }
done

if [ "$QUICK" = 1 ]; then
  BLOB_MIB=64; HERD_MIB=32; HERD_CLIENTS=16; ROUNDS=1; DURATION=2s
else
  BLOB_MIB=512; HERD_MIB=256; HERD_CLIENTS=32; ROUNDS=3; DURATION=10s
fi

WORK=$(mktemp -d /tmp/pullcache-bench.XXXXXX)
OUT=${OUT:-$WORK/out}
mkdir -p "$OUT"
RAW=$OUT/raw.tsv
printf 'system\tscenario\tround\tvalue\tunit\n' >"$RAW"
NS=pcbench$$
VETH=pcb$$
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${NGINX_CONFS:-}" ]; then
    for c in $NGINX_CONFS; do nginx -c "$c" -s stop 2>/dev/null || true; done
  fi
  ip netns del "$NS" 2>/dev/null || true
  ip link del "$VETH" 2>/dev/null || true
  rm -rf "$WORK/up" "$WORK/pc" "$WORK/dist" "$WORK/nginx-cache" "$WORK/blobs"
}
trap cleanup EXIT


wait_http() {  # url
  for _ in $(seq 1 200); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.05
  done
  echo "bench: $1 did not come up" >&2
  return 1
}

# ---- the upstream: docker-registry in a shaped network namespace -------------------------------
SHAPED=0
SHAPING="on loopback: not shaped (no network namespace here)"
UP_IP=127.0.0.1
if ip netns add "$NS" 2>/dev/null; then
  ip link add "$VETH" type veth peer name "${VETH}n"
  ip link set "${VETH}n" netns "$NS"
  ip addr add 10.201.7.1/24 dev "$VETH"
  ip link set "$VETH" up
  ip -n "$NS" addr add 10.201.7.2/24 dev "${VETH}n"
  ip -n "$NS" link set "${VETH}n" up
  ip -n "$NS" link set lo up
  # netem (rate and delay) where the kernel has it; else tbf (rate only).
  if tc qdisc add dev "$VETH" root netem delay 0.5ms rate 1gbit 2>/dev/null &&
     ip netns exec "$NS" tc qdisc add dev "${VETH}n" root netem delay 0.5ms rate 1gbit 2>/dev/null; then
    SHAPED=1
    SHAPING="netem: 1 Gbit/s, 0.5 ms each way"
  elif tc qdisc add dev "$VETH" root tbf rate 1gbit burst 256kb latency 50ms 2>/dev/null &&
       ip netns exec "$NS" tc qdisc add dev "${VETH}n" root tbf rate 1gbit burst 256kb latency 50ms 2>/dev/null; then
    SHAPED=1
    SHAPING="tbf: 1 Gbit/s, no added delay (this kernel has no netem)"
  else
    SHAPING="not shaped (no netem or tbf in this kernel)"
  fi
  UP_IP=10.201.7.2
fi
UP_PORT=5000
[ "$UP_IP" = 127.0.0.1 ] && UP_PORT=$(free_port)
UP=$UP_IP:$UP_PORT
mkdir -p "$WORK/up"
cat >"$WORK/up.yml" <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $WORK/up}, delete: {enabled: true}}
http: {addr: "$UP"}
EOF
if [ "$UP_IP" != 127.0.0.1 ]; then
  ip netns exec "$NS" docker-registry serve "$WORK/up.yml" >"$WORK/up.log" 2>&1 &
else
  docker-registry serve "$WORK/up.yml" >"$WORK/up.log" 2>&1 &
fi
PIDS+=($!)
wait_http "http://$UP/v2/"
upstream_rx() {  # bytes that crossed the link from the upstream so far
  if [ "$UP_IP" != 127.0.0.1 ]; then cat "/sys/class/net/$VETH/statistics/rx_bytes"; else echo 0; fi
}
in_ns() { if [ "$UP_IP" != 127.0.0.1 ]; then ip netns exec "$NS" "$@"; else "$@"; fi; }

# ---- content ----------------------------------------------------------------------------------
mkdir -p "$WORK/blobs"
push_blob() {  # repo file -> prints the digest (pushed inside the namespace: unshaped, fast)
  local repo=$1 file=$2 digest loc
  digest="sha256:$(sha256sum "$file" | cut -d' ' -f1)"
  loc=$(in_ns curl -s -D - -o /dev/null -X POST "http://$UP/v2/$repo/blobs/uploads/" |
        tr -d '\r' | awk 'tolower($1)=="location:"{print $2}')
  case "$loc" in http*) ;; *) loc="http://$UP$loc" ;; esac
  in_ns curl -sf -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' \
    --data-binary @"$file" "$loc&digest=$digest"
  echo "$digest"
}
head -c $((BLOB_MIB << 20)) /dev/urandom >"$WORK/blobs/warm"
WARM=$(push_blob bench/blob "$WORK/blobs/warm")
# One uncached blob per system and round for the herd, and one for the single-fetch baseline.
declare -A HERD
for r in $(seq 1 "$ROUNDS"); do
  for s in baseline pullcache distribution nginx-proxy; do
    head -c $((HERD_MIB << 20)) /dev/urandom >"$WORK/blobs/herd"
    HERD[$s.$r]=$(push_blob bench/blob "$WORK/blobs/herd")
  done
done
rm -f "$WORK/blobs/herd"
"$MAKE_IMAGE" "$WORK/image" v1 1:11 >/dev/null
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$WORK/image:v1" \
  "docker://$UP/bench/app:v1" >/dev/null
MANIFEST_TYPE="application/vnd.oci.image.manifest.v1+json"
MANIFEST=$(curl -s -D - -o /dev/null -H "Accept: $MANIFEST_TYPE" \
  "http://$UP/v2/bench/app/manifests/v1" | tr -d '\r' |
  awk 'tolower($1)=="docker-content-digest:"{print $2}')

# ---- the systems ------------------------------------------------------------------------------
PC_PORT=$(free_port); PC_HEALTH=$(free_port)
mkdir -p "$WORK/pc"
cat >"$WORK/pc.yml" <<EOF
listen: 127.0.0.1:$PC_PORT
metrics_listen: 127.0.0.1:$PC_HEALTH
threads: 2
cache: {dir: $WORK/pc/cache, max_bytes: 200GiB, min_free_bytes: 0}
upstreams: [{match: "$UP", url: "http://$UP"}]
default_upstream: "$UP"
log: {level: warn}
EOF
start_pullcache() {
  "$PULLCACHE" serve --config "$WORK/pc.yml" >>"$WORK/pc.log" 2>&1 &
  PC_PID=$!; PIDS+=($PC_PID)
}
start_pullcache

DIST_PORT=$(free_port)
cat >"$WORK/dist.yml" <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $WORK/dist}}
http: {addr: "127.0.0.1:$DIST_PORT"}
proxy: {remoteurl: "http://$UP"}
EOF
start_distribution() {
  docker-registry serve "$WORK/dist.yml" >>"$WORK/dist.log" 2>&1 &
  DIST_PID=$!; PIDS+=($DIST_PID)
}
start_distribution

NGP_PORT=$(free_port); NGS_PORT=$(free_port)
mkdir -p "$WORK/nginx-proxy" "$WORK/nginx-static" "$WORK/nginx-cache" "$WORK/static"
nginx_proxy_conf "$WORK/nginx-proxy" "$NGP_PORT" "$UP" "$WORK/nginx-cache"
cat >"$WORK/nginx-static/nginx.conf" <<EOF
user root;
worker_processes 2;
pid $WORK/nginx-static/nginx.pid;
error_log $WORK/nginx-static/error.log error;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on; tcp_nopush on; keepalive_requests 100000;
  server {
    listen 127.0.0.1:$NGS_PORT;
    location / { root $WORK/static; }
  }
}
EOF
NGINX_CONFS="$WORK/nginx-proxy/nginx.conf $WORK/nginx-static/nginx.conf"
nginx -c "$WORK/nginx-proxy/nginx.conf" -p "$WORK/nginx-proxy"
nginx -c "$WORK/nginx-static/nginx.conf" -p "$WORK/nginx-static"

wait_http "http://127.0.0.1:$PC_HEALTH/readyz"
wait_http "http://127.0.0.1:$DIST_PORT/v2/"
wait_http "http://127.0.0.1:$NGP_PORT/v2/" || true

base_url() {  # system -> URL prefix of /v2/ (pullcache adds ?ns=)
  case $1 in
    pullcache) echo "http://127.0.0.1:$PC_PORT" ;;
    distribution) echo "http://127.0.0.1:$DIST_PORT" ;;
    nginx-proxy) echo "http://127.0.0.1:$NGP_PORT" ;;
  esac
}
ns_query() { [ "$1" = pullcache ] && echo "?ns=$UP" || true; }
blob_url() {  # system digest
  if [ "$1" = nginx-static ]; then echo "http://127.0.0.1:$NGS_PORT/blob"; return; fi
  echo "$(base_url "$1")/v2/bench/blob/blobs/$2$(ns_query "$1")"
}
pids_of() {  # system -> its process ids
  case $1 in
    pullcache) echo "$PC_PID" ;;
    distribution) echo "$DIST_PID" ;;
    nginx-proxy) echo "$(cat "$WORK/nginx-proxy/nginx.pid") $(pgrep -P "$(cat "$WORK/nginx-proxy/nginx.pid")" | tr '\n' ' ')" ;;
    nginx-static) echo "$(cat "$WORK/nginx-static/nginx.pid") $(pgrep -P "$(cat "$WORK/nginx-static/nginx.pid")" | tr '\n' ' ')" ;;
  esac
}
reset_peak() { for p in $(pids_of "$1"); do echo 5 >"/proc/$p/clear_refs" 2>/dev/null || true; done; }
peak_rss_mib() {  # sum over the system's processes of VmHWM
  local kb=0 v
  for p in $(pids_of "$1"); do
    v=$(awk '/^VmHWM:/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    kb=$((kb + ${v:-0}))
  done
  awk -v kb="$kb" 'BEGIN{printf "%.1f", kb/1024}'
}
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$RAW"; }

# wrk output -> bytes/s and requests/s and p99 ms
wrk_field() {  # file field
  case $2 in
    transfer) awk '/^Transfer\/sec:/{v=$2; u=v; gsub(/[0-9.]/,"",u); gsub(/[A-Za-z]/,"",v);
                m=1; if(u=="KB")m=1024; if(u=="MB")m=1048576; if(u=="GB")m=1073741824;
                printf "%.3f", v*m/1e9}' "$1" ;;
    rps) awk '/^Requests\/sec:/{print $2}' "$1" ;;
    p99) awk '$1=="99%"{v=$2; u=v; gsub(/[0-9.]/,"",u); gsub(/[a-z]/,"",v);
               m=1; if(u=="us")m=0.001; if(u=="s")m=1000; printf "%.3f", v*m}' "$1" ;;
  esac
}

# ---- warm-up: every system has the warm blob and the manifest cached --------------------------
SYSTEMS="pullcache distribution nginx-proxy"
for s in $SYSTEMS; do
  curl -sf -o /dev/null "$(blob_url "$s" "$WARM")"
  curl -sf -o /dev/null -H "Accept: $MANIFEST_TYPE" \
    "$(base_url "$s")/v2/bench/app/manifests/$MANIFEST$(ns_query "$s")"
done
PC_BLOB="$WORK/pc/cache/blobs/sha256/${WARM:7:2}/${WARM#sha256:}"
for _ in $(seq 1 100); do [ -f "$PC_BLOB" ] && break; sleep 0.1; done
ln "$PC_BLOB" "$WORK/static/blob" 2>/dev/null || cp "$PC_BLOB" "$WORK/static/blob"

# ---- 1. warm blob throughput, 6. its peak RSS ----------------------------------------------------
for r in $(seq 1 "$ROUNDS"); do
  for s in pullcache nginx-static distribution nginx-proxy; do
    reset_peak "$s"
    wrk -t2 -c8 -d"$DURATION" --latency "$(blob_url "$s" "$WARM")" >"$WORK/wrk.out" 2>&1
    record "$s" "warm-blob" "$r" "$(wrk_field "$WORK/wrk.out" transfer)" "GB/s"
    record "$s" "rss-warm-blob" "$r" "$(peak_rss_mib "$s")" "MiB"
  done
done

# ---- 2. warm manifest GET (wrk) and HEAD (bench/http_load: wrk waits for a HEAD's body) --------
for r in $(seq 1 "$ROUNDS"); do
  for s in $SYSTEMS; do
    url="$(base_url "$s")/v2/bench/app/manifests/$MANIFEST$(ns_query "$s")"
    wrk -t2 -c32 -d"$DURATION" --latency -H "Accept: $MANIFEST_TYPE" "$url" >"$WORK/wrk.out" 2>&1
    record "$s" "manifest-get" "$r" "$(wrk_field "$WORK/wrk.out" rps)" "req/s"
    record "$s" "manifest-get-p99" "$r" "$(wrk_field "$WORK/wrk.out" p99)" "ms"
    read -r rps p99 errors < <("$HTTP_LOAD" --method HEAD --connections 32 \
      --seconds "${DURATION%s}" --header "Accept: $MANIFEST_TYPE" "$url")
    record "$s" "manifest-head" "$r" "$rps" "req/s"
    record "$s" "manifest-head-p99" "$r" "$p99" "ms"
    [ "$errors" = 0 ] || echo "bench: $errors HEAD errors against $s" >&2
  done
done

# ---- 3. cold herd, 6. its peak RSS -------------------------------------------------------------
now_s() { date +%s.%N; }
for r in $(seq 1 "$ROUNDS"); do
  # A single cold fetch straight from the upstream: the time the herd is compared with.
  t0=$(now_s)
  curl -sf -o /dev/null "http://$UP/v2/bench/blob/blobs/${HERD[baseline.$r]}"
  record "upstream-direct" "cold-single" "$r" "$(awk -v a="$t0" -v b="$(now_s)" 'BEGIN{printf "%.3f", b-a}')" "s"
  for s in $SYSTEMS; do
    digest=${HERD[$s.$r]}
    url=$(blob_url "$s" "$digest")
    reset_peak "$s"
    rx0=$(upstream_rx)
    t0=$(now_s)
    cpids=()
    rm -f "$WORK"/herd.*
    for i in $(seq 1 "$HERD_CLIENTS"); do
      # Clients only count bytes: on 2 cores, hashing 32 copies would measure the clients.
      curl -s -o /dev/null -w '%{http_code} %{size_download}\n' "$url" >"$WORK/herd.$i" &
      cpids+=($!)
    done
    for p in "${cpids[@]}"; do wait "$p" || true; done
    t1=$(now_s)
    rx1=$(upstream_rx)
    ok=$(cat "$WORK"/herd.* | awk -v n=$((HERD_MIB << 20)) '$1==200 && $2==n' | wc -l)
    record "$s" "cold-herd" "$r" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')" "s"
    record "$s" "cold-herd-complete" "$r" "$ok" "of $HERD_CLIENTS"
    if [ "$UP_IP" != 127.0.0.1 ]; then
      record "$s" "cold-herd-upstream" "$r" "$(awk -v d=$((rx1 - rx0)) -v n=$((HERD_MIB << 20)) 'BEGIN{printf "%.2f", d/n}')" "x blob"
    fi
    record "$s" "rss-cold-herd" "$r" "$(peak_rss_mib "$s")" "MiB"
  done
done

# ---- 4. cold and 5. warm image pull with containerd ------------------------------------------
stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
empty_cache() {  # system: stop it, drop everything it cached, start it again
  case $1 in
    pullcache)
      stop_pid "$PC_PID"; rm -rf "$WORK/pc/cache"; start_pullcache
      wait_http "http://127.0.0.1:$PC_HEALTH/readyz" ;;
    distribution)
      stop_pid "$DIST_PID"; rm -rf "$WORK/dist"; start_distribution
      wait_http "http://127.0.0.1:$DIST_PORT/v2/" ;;
    nginx-proxy)
      nginx -c "$WORK/nginx-proxy/nginx.conf" -p "$WORK/nginx-proxy" -s stop
      for _ in $(seq 1 100); do [ -f "$WORK/nginx-proxy/nginx.pid" ] || break; sleep 0.05; done
      rm -rf "$WORK/nginx-cache"; mkdir -p "$WORK/nginx-cache"
      nginx -c "$WORK/nginx-proxy/nginx.conf" -p "$WORK/nginx-proxy"
      wait_http "http://127.0.0.1:$NGP_PORT/v2/" || true ;;
  esac
}
ctr_pull_seconds() {  # mirror URL ("" = straight from the upstream) -> seconds for ctr images pull
  local d mirror=$1 cpid t0 t1
  d=$(mktemp -d "$WORK/ctrd.XXXXXX")
  mkdir -p "$d/hosts/$UP"
  printf 'server = "http://%s"\n' "$UP" >"$d/hosts/$UP/hosts.toml"
  if [ -n "$mirror" ]; then
    printf '\n[host."%s"]\n  capabilities = ["pull", "resolve"]\n' "$mirror" >>"$d/hosts/$UP/hosts.toml"
  fi
  cat >"$d/config.toml" <<EOF
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$d/containerd.sock"
[debug]
  level = "warn"
EOF
  containerd --config "$d/config.toml" >"$d/containerd.log" 2>&1 &
  cpid=$!
  for _ in $(seq 1 200); do ctr -a "$d/containerd.sock" version >/dev/null 2>&1 && break; sleep 0.05; done
  t0=$(now_s)
  if ! ctr -a "$d/containerd.sock" images pull --plain-http --hosts-dir "$d/hosts" \
      "$UP/bench/big:v1" >"$d/pull.log" 2>&1; then
    echo "bench: ctr pull through '${mirror:-upstream}' failed: $(tail -3 "$d/pull.log")" >&2
    t0=0
  fi
  t1=$(now_s)
  stop_pid "$cpid"
  grep -o " $d[^ ]*" /proc/mounts | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$d" 2>/dev/null || true
  awk -v a="$t0" -v b="$t1" 'BEGIN{ if (a == 0) print "nan"; else printf "%.3f", b-a }'
}
if [ "$(id -u)" = 0 ] && command -v containerd >/dev/null && command -v ctr >/dev/null; then
  LAYER_MIB=$([ "$QUICK" = 1 ] && echo 8 || echo 150)
  "$MAKE_IMAGE" "$WORK/big" v1 "$LAYER_MIB:21" "$LAYER_MIB:22" "$LAYER_MIB:23" "$LAYER_MIB:24" >/dev/null
  in_ns skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$WORK/big:v1" \
    "docker://$UP/bench/big:v1" >/dev/null
  rm -rf "$WORK/big"
  for r in $(seq 1 "$ROUNDS"); do
    record "upstream-direct" "ctr-pull-cold" "$r" "$(ctr_pull_seconds "")" "s"
    for s in $SYSTEMS; do
      empty_cache "$s"
      mirror=$(base_url "$s")
      record "$s" "ctr-pull-cold" "$r" "$(ctr_pull_seconds "$mirror")" "s"
      [ "$s" = pullcache ] && sleep 1  # let the last blob's commit land (served already)
      record "$s" "ctr-pull-warm" "$r" "$(ctr_pull_seconds "$mirror")" "s"
    done
  done
else
  echo "bench: containerd scenarios skipped (need root, containerd and ctr)" >&2
fi

# ---- 7. cost growth: pullcache with 1k, 10k, 100k cached blobs ---------------------------------
STARTUP_BENCH=$BUILD/bench/startup_bench
if [ -x "$STARTUP_BENCH" ]; then
  stop_pid "$PC_PID"
  GROWTH=$([ "$QUICK" = 1 ] && echo "1000 10000" || echo "1000 10000 100000")
  head -c $((4 << 20)) /dev/urandom >"$WORK/blobs/small"
  for n in $GROWTH; do
    rm -rf "$WORK/pc/cache"
    "$STARTUP_BENCH" --populate "$WORK/pc/cache" "$n"
    start_pullcache
    wait_http "http://127.0.0.1:$PC_HEALTH/readyz"
    url="$(base_url pullcache)/v2/bench/app/manifests/$MANIFEST$(ns_query pullcache)"
    curl -sf -o /dev/null -H "Accept: $MANIFEST_TYPE" "$url"
    wrk -t2 -c32 -d"$DURATION" --latency -H "Accept: $MANIFEST_TYPE" "$url" >"$WORK/wrk.out" 2>&1
    record "pullcache" "growth-$n-manifest-get" 1 "$(wrk_field "$WORK/wrk.out" rps)" "req/s"
    record "pullcache" "growth-$n-manifest-get-p99" 1 "$(wrk_field "$WORK/wrk.out" p99)" "ms"
    head -c 16 /dev/urandom >>"$WORK/blobs/small"  # a new digest each time: a cold fetch
    digest=$(push_blob bench/blob "$WORK/blobs/small")
    t0=$(now_s); curl -sf -o /dev/null "$(blob_url pullcache "$digest")"; t1=$(now_s)
    record "pullcache" "growth-$n-cold-4MiB" 1 "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.4f", b-a}')" "s"
    for _ in $(seq 1 50); do
      [ -f "$WORK/pc/cache/blobs/sha256/${digest:7:2}/${digest#sha256:}" ] && break; sleep 0.05
    done
    t0=$(now_s); curl -sf -o /dev/null "$(blob_url pullcache "$digest")"; t1=$(now_s)
    record "pullcache" "growth-$n-warm-4MiB" 1 "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.4f", b-a}')" "s"
    record "pullcache" "growth-$n-rss" 1 "$(awk '/^VmRSS:/{printf "%.1f", $2/1024}' "/proc/$PC_PID/status")" "MiB"
    stop_pid "$PC_PID"
  done
fi

# ---- the table ----------------------------------------------------------------------------------
MD=$OUT/results.md
{
  echo "# pullcache benchmark"
  echo
  echo "- machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r)"
  echo "- mode: $([ "$QUICK" = 1 ] && echo quick || echo full); rounds: $ROUNDS; wrk duration: $DURATION"
  echo "- upstream: docker-registry$([ "$UP_IP" != 127.0.0.1 ] && echo " in a network namespace behind a veth"), $SHAPING"
  echo "- warm blob: ${BLOB_MIB} MiB; cold herd: $HERD_CLIENTS clients on an uncached ${HERD_MIB} MiB blob"
  echo "- $(date -u +%Y-%m-%dT%H:%M:%SZ), pullcache $("$PULLCACHE" version | awk '{print $2, $3, $4}')"
  echo
  echo "| scenario | system | median | unit | ratio to pullcache |"
  echo "|---|---|---|---|---|"
  awk -F'\t' 'NR>1 {k=$2 "\t" $1; v[k]=v[k] " " $4; u[$2]=$5; order[$2]=order[$2] ? order[$2] : ++n; sys[k]=1}
    END {
      for (k in v) {
        split(v[k], a, " "); m=0; for (i in a) m++;
        # sort values
        for (i=1;i<=m;i++) for (j=i+1;j<=m;j++) if (a[j]+0 < a[i]+0) {t=a[i]; a[i]=a[j]; a[j]=t}
        med[k] = (m%2) ? a[(m+1)/2] : (a[m/2]+a[m/2+1])/2
      }
      for (k in med) { split(k, p, "\t"); if (p[2]=="pullcache") pc[p[1]]=med[k] }
      for (k in med) {
        split(k, p, "\t");
        r = (pc[p[1]] != "" && pc[p[1]]+0 != 0) ? sprintf("%.2f", med[k]/pc[p[1]]) : "-";
        printf "%d\t| %s | %s | %s | %s | %s |\n", order[p[1]], p[1], p[2], med[k], u[p[1]], r
      }
    }' "$RAW" | sort -t$'\t' -k1,1n -k2 | cut -f2-
  echo
  echo "Ratios are system / pullcache for the same scenario (for times, RSS and upstream bytes lower"
  echo "is better; for GB/s and req/s higher is better). Raw numbers: raw.tsv."
} >"$MD"
cat "$MD"
echo "bench: results in $OUT" >&2
