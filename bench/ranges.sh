#!/usr/bin/env bash
# Range reads of blobs nobody has cached yet, side by side in one run:
#   upstream-direct    the registry itself (what a client gets without a cache)
#   pullcache          this project (ranges.* defaults)
#   distribution       CNCF distribution (Debian docker-registry) in proxy mode
#   nginx-proxy        nginx proxy_cache (proxy_cache_lock on), as bench/run.sh configures it
# The upstream is a docker-registry in a network namespace whose sending side is shaped to 1
# Gbit/s (tc tbf; this kernel has no netem). Every scenario of every system gets a blob of its
# own, so each one starts uncached. Scenarios, each on a BLOB_MIB blob:
#   span90     one 4 MiB span at 90% of the blob (a lazy-pulling snapshotter's read): seconds
#   chunked8   8 parallel open-ended ranges, each read for 1/8 of the blob and hung up
#              (containerd 2.1's parallel chunked fetch): seconds until all 8 are done
#   soci5      5% of the blob in 4 MiB spans at random offsets, one after the other (a lazily
#              started container's reads): seconds
# with the bytes that crossed the upstream link for each, relative to what the client read.
#
# usage: bench/ranges.sh [--quick] [--rounds N] [--out DIR]    (root: network namespace, tc)
#   --quick   64 MiB blobs (the test suite's smoke run); default: 1 GiB blobs, 1 round (the
#             caches keep what they fetched: about 8 GiB of disk per round)
set -euo pipefail
. "$(dirname "$0")/nginx_proxy.sh"
. "$(dirname "$0")/common.sh"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}
PULLCACHE=$BUILD/daemon/pullcache
QUICK=0
ROUNDS=""
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --rounds) ROUNDS=$2; shift ;;
    --out) OUT=$2; shift ;;
    *) echo "usage: bench/ranges.sh [--quick] [--rounds N] [--out DIR]" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || { echo "bench: ranges.sh needs root (network namespace, tc)" >&2; exit 1; }
[ -x "$PULLCACHE" ] || { echo "bench: $PULLCACHE not built (make build)" >&2; exit 1; }
for cmd in docker-registry nginx curl tc ip sha256sum; do
  command -v "$cmd" >/dev/null || { echo "bench: $cmd missing (scripts/setup.sh)" >&2; exit 1; }
done
if [ "$QUICK" = 1 ]; then BLOB_MIB=64; ROUNDS=${ROUNDS:-1}; else BLOB_MIB=1024; ROUNDS=${ROUNDS:-1}; fi
BLOB_BYTES=$((BLOB_MIB << 20))
SPAN=$((4 << 20))

WORK=$(mktemp -d /tmp/pullcache-ranges.XXXXXX)
OUT=${OUT:-$WORK/out}
mkdir -p "$OUT"
RAW=$OUT/raw.tsv
printf 'system\tscenario\tround\tseconds\tupstream_bytes\tclient_bytes\n' >"$RAW"
TAG=$$
NS=pcrb$TAG
DEV=pcrb$TAG
NET=10.207.$((TAG % 250)).
UP=${NET}2:5000
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -f "$WORK/nginx/nginx.pid" ] && nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" -s stop 2>/dev/null
  ip netns del "$NS" 2>/dev/null || true
  ip link del "${DEV}a" 2>/dev/null || true
  find "$WORK" -mindepth 1 -maxdepth 1 ! -name out -exec rm -rf {} + 2>/dev/null || true
}
trap cleanup EXIT
now_s() { date +%s.%N; }
wait_http() {
  for _ in $(seq 1 300); do curl -s -o /dev/null "$1" && return 0; sleep 0.05; done
  echo "bench: $1 did not come up" >&2; return 1
}

# ---- the upstream behind a shaped veth ---------------------------------------------------------
ip netns add "$NS"
ip link add "${DEV}a" type veth peer name "${DEV}b"
ip link set "${DEV}b" netns "$NS"
ip addr add "${NET}1/24" dev "${DEV}a"
ip link set "${DEV}a" up
ip -n "$NS" addr add "${NET}2/24" dev "${DEV}b"
ip -n "$NS" link set "${DEV}b" up
ip -n "$NS" link set lo up
ip netns exec "$NS" tc qdisc add dev "${DEV}b" root tbf rate 1gbit burst 1mb latency 50ms
upstream_sent() { cat "/sys/class/net/${DEV}a/statistics/rx_bytes"; }
mkdir -p "$WORK/up"
cat >"$WORK/up.yml" <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $WORK/up}, delete: {enabled: true}}
http: {addr: "$UP"}
EOF
ip netns exec "$NS" docker-registry serve "$WORK/up.yml" >"$WORK/up.log" 2>&1 &
PIDS+=($!)
wait_http "http://$UP/v2/"
push_blob() {  # -> digest of a fresh random blob in bench/ranges
  local file=$WORK/blob digest loc
  head -c "$BLOB_BYTES" /dev/urandom >"$file"
  digest="sha256:$(sha256sum "$file" | cut -d' ' -f1)"
  loc=$(curl -s -D - -o /dev/null -X POST "http://$UP/v2/bench/ranges/blobs/uploads/" |
    tr -d '\r' | awk 'tolower($1)=="location:"{print $2}')
  # -T streams the file (--data-binary would hold a 1 GiB blob in memory, and curl refuses).
  curl -sf -T "$file" -H 'Content-Type: application/octet-stream' "$loc&digest=$digest" \
    >/dev/null || { echo "bench: upload of a blob to the upstream failed" >&2; exit 1; }
  rm -f "$file"
  echo "$digest"
}

# ---- the systems -------------------------------------------------------------------------------
PC_PORT=$(free_port); PC_HEALTH=$(free_port); DIST_PORT=$(free_port); NG_PORT=$(free_port)
mkdir -p "$WORK/pc" "$WORK/dist" "$WORK/nginx" "$WORK/nginx-cache"
cat >"$WORK/pc.yml" <<EOF
listen: 127.0.0.1:$PC_PORT
metrics_listen: 127.0.0.1:$PC_HEALTH
cache: {dir: $WORK/pc/cache, max_bytes: 200GiB, min_free_bytes: 0}
upstreams: [{match: "$UP", url: "http://$UP"}]
default_upstream: "$UP"
log: {level: warn}
EOF
"$PULLCACHE" serve --config "$WORK/pc.yml" >"$WORK/pc.log" 2>&1 &
PIDS+=($!)
cat >"$WORK/dist.yml" <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $WORK/dist}}
http: {addr: "127.0.0.1:$DIST_PORT"}
proxy: {remoteurl: "http://$UP"}
EOF
docker-registry serve "$WORK/dist.yml" >"$WORK/dist.log" 2>&1 &
PIDS+=($!)
nginx_proxy_conf "$WORK/nginx" "$NG_PORT" "$UP" "$WORK/nginx-cache"
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx"
wait_http "http://127.0.0.1:$PC_HEALTH/readyz"
wait_http "http://127.0.0.1:$DIST_PORT/v2/"
wait_http "http://127.0.0.1:$NG_PORT/v2/" || true
SYSTEMS="upstream-direct pullcache distribution nginx-proxy"
blob_url() {  # system digest
  case $1 in
    upstream-direct) echo "http://$UP/v2/bench/ranges/blobs/$2" ;;
    pullcache) echo "http://127.0.0.1:$PC_PORT/v2/bench/ranges/blobs/$2?ns=$UP" ;;
    distribution) echo "http://127.0.0.1:$DIST_PORT/v2/bench/ranges/blobs/$2" ;;
    nginx-proxy) echo "http://127.0.0.1:$NG_PORT/v2/bench/ranges/blobs/$2" ;;
  esac
}

# ---- the scenarios -----------------------------------------------------------------------------
# Each prints "seconds client_bytes"; a failed or short read prints "nan".
# A read that is not the span (an error, or the whole blob instead of 206) is a failure; what
# came back goes to stderr.
read_span() {  # url first
  local n code
  code=$(curl -s -r "$2-$(($2 + SPAN - 1))" -o "$WORK/span" -w '%{http_code}' "$1") || code=000
  n=$(stat -c %s "$WORK/span" 2>/dev/null || echo 0)
  rm -f "$WORK/span"
  if [ "$code" = 206 ] && [ "$n" = "$SPAN" ]; then echo "$n"; return; fi
  # The whole blob instead of the range (a server may ignore Range): counted, and marked.
  if [ "$code" = 200 ] && [ "$n" = "$BLOB_BYTES" ]; then echo "whole"; return; fi
  echo "bench: $1 answered HTTP $code with $n bytes to a 4 MiB range" >&2
  echo 0
}
span90() {
  local n
  n=$(read_span "$1" $((BLOB_BYTES / 10 * 9)))
  case $n in "$SPAN") echo "$n" ;; whole) echo "whole:$BLOB_BYTES" ;; *) echo nan ;; esac
}
chunked8() {
  local url=$1 chunk=$((BLOB_BYTES / 8)) i pids=() total=0 n
  for i in 0 1 2 3 4 5 6 7; do
    (curl -s -r "$((i * chunk))-" "$url" 2>/dev/null | head -c "$chunk" | wc -c >"$WORK/chunk.$i") &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || true; done
  for i in 0 1 2 3 4 5 6 7; do
    n=$(cat "$WORK/chunk.$i"); [ "$n" = "$chunk" ] || { echo nan; return; }
    total=$((total + n))
  done
  echo "$total"
}
soci5() {
  local url=$1 spans=$(( (BLOB_BYTES / 20 + SPAN - 1) / SPAN )) i first total=0 n
  for i in $(seq 1 "$spans"); do
    first=$(( (RANDOM * 32768 + RANDOM) % ((BLOB_BYTES - SPAN) / 4096) * 4096 ))
    n=$(read_span "$url" "$first")
    [ "$n" = whole ] && { echo "whole:$BLOB_BYTES"; return; }  # it answers every span so
    [ "$n" = "$SPAN" ] || { echo nan; return; }
    total=$((total + n))
  done
  echo "$total"
}
for r in $(seq 1 "$ROUNDS"); do
  for scenario in span90 chunked8 soci5; do
    for s in $SYSTEMS; do
      d=$(push_blob)
      sleep 0.2
      up0=$(upstream_sent)
      t0=$(now_s)
      bytes=$($scenario "$(blob_url "$s" "$d")")
      t1=$(now_s)
      # What the caches go on fetching after the client is done is theirs to count too.
      sleep 1
      [ "$s" != upstream-direct ] && for _ in $(seq 1 60); do
        a=$(upstream_sent); sleep 0.5; [ "$a" = "$(upstream_sent)" ] && break
      done
      up=$(( $(upstream_sent) - up0 ))
      secs=$(awk -v a="$t0" -v b="$t1" -v n="$bytes" 'BEGIN{ if (n == "nan") print "nan"; else printf "%.3f", b-a }')
      curl -s -o /dev/null -X DELETE "http://$UP/v2/bench/ranges/blobs/$d" || true  # disk
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$scenario" "$r" "$secs" "$up" "$bytes" >>"$RAW"
      echo "bench: $scenario $s round $r: ${secs}s, upstream $up bytes for $bytes read" >&2
    done
  done
done

# ---- the table ---------------------------------------------------------------------------------
{
  echo "Range reads of uncached ${BLOB_MIB} MiB blobs; upstream behind a 1 Gbit/s tbf link;"
  echo "median of $ROUNDS round(s); × direct: seconds / upstream-direct's seconds; upstream bytes: what"
  echo "crossed the upstream link (until it went quiet after the client was done) / what the client read."
  echo
  echo "| scenario | system | seconds | × direct | upstream bytes / read |"
  echo "|---|---|---|---|---|"
  awk -F'\t' '
    function median(list,   a, k, i, j, t) {
      k = split(list, a, " ")
      for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
      return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
    }
    NR > 1 { key = $2 "|" $1; secs[key] = secs[key] " " $4
             read_bytes = $6; if (read_bytes ~ /^whole:/) { whole[key] = 1; sub(/^whole:/, "", read_bytes) }
             ratio[key] = ratio[key] " " (read_bytes > 0 ? $5 / read_bytes : 0)
             if ($4 == "nan") bad[key] = 1 }
    END {
      split("span90 chunked8 soci5", sc, " "); split("upstream-direct pullcache distribution nginx-proxy", sy, " ")
      for (i = 1; i <= 3; i++) {
        direct = median(secs[sc[i] "|upstream-direct"])
        for (j = 1; j <= 4; j++) {
          key = sc[i] "|" sy[j]
          if (!(key in secs)) continue
          if (bad[key]) { printf "| %s | %s | failed | - | - |\n", sc[i], sy[j]; continue }
          m = median(secs[key])
          x = (direct > 0) ? m / direct : 0
          note = whole[key] ? " (answered 200, the whole blob)" : ""
          printf "| %s | %s%s | %.3f | %.2f | %.2f |\n", sc[i], sy[j], note, m, x, median(ratio[key])
        }
      }
    }' "$RAW"
} >"$OUT/results.md"
cat "$OUT/results.md"
