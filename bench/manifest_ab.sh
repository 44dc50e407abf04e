#!/usr/bin/env bash
# A/B of cached manifest GET (wrk) and HEAD (bench/http_load) between two pullcache binaries,
# with nginx proxy_cache (configured as bench/run.sh does) measured in the same loop: each round
# runs OLD, NEW, nginx in turn, 8 s each, 32 connections, on loopback. For profiling-driven
# changes to the small-response path, where `make bench` (about 40 minutes) is too slow a loop.
#
# usage: bench/manifest_ab.sh OLD_PULLCACHE NEW_PULLCACHE [ROUNDS]   (prints one line per run)
set -euo pipefail
. "$(dirname "$0")/nginx_proxy.sh"
. "$(dirname "$0")/common.sh"
B=${BUILD_DIR:-$(cd "$(dirname "$0")/.." && pwd)/build}
A_BIN=$1; B_BIN=$2; ROUNDS=${3:-3}
W=$(mktemp -d /tmp/pullcache-ab.XXXXXX)
trap 'rm -rf "$W"' EXIT
loopback_registry "$W"
$B/tests/make_test_image $W/image v1 1:11 >/dev/null
skopeo --insecure-policy copy -q --dest-tls-verify=false oci:$W/image:v1 docker://$UP/bench/app:v1
T="application/vnd.oci.image.manifest.v1+json"
M=$(curl -s -D - -o /dev/null -H "Accept: $T" http://$UP/v2/bench/app/manifests/v1 | tr -d '\r' | awk 'tolower($1)=="docker-content-digest:"{print $2}')
run_one() {  # bin label
  local P H PC
  P=$(free_port); H=$(free_port)
  rm -rf $W/cache
  cat > $W/pc.yml <<EOT
listen: 127.0.0.1:$P
metrics_listen: 127.0.0.1:$H
threads: 2
cache: {dir: $W/cache, max_bytes: 20GiB, min_free_bytes: 0}
upstreams: [{match: "$UP", url: "http://$UP"}]
default_upstream: "$UP"
log: {level: warn}
EOT
  $1 serve --config $W/pc.yml > $W/pc.log 2>&1 & PC=$!
  for i in $(seq 50); do curl -sf http://127.0.0.1:$H/readyz >/dev/null && break; sleep 0.1; done
  local URL="http://127.0.0.1:$P/v2/bench/app/manifests/$M?ns=$UP"
  curl -sf -H "Accept: $T" "$URL" -o /dev/null
  local get head
  get=$(wrk -t2 -c32 -d8s -H "Accept: $T" "$URL" | awk '/Requests\/sec/{print $2}')
  head=$($B/bench/http_load --method HEAD --connections 32 --seconds 8 --header "Accept: $T" "$URL" 2>&1 | tr "\n" " ")
  kill $PC; wait $PC 2>/dev/null || true
  echo "$2 get=$get head=[$head]"
}
NGP=$(free_port)
mkdir -p $W/ngx $W/ngx-cache
nginx_proxy_conf "$W/ngx" "$NGP" "$UP" "$W/ngx-cache"
nginx -c $W/ngx/nginx.conf -p $W/ngx
run_nginx() {
  local URL="http://127.0.0.1:$NGP/v2/bench/app/manifests/$M"
  curl -sf -H "Accept: $T" "$URL" -o /dev/null; curl -sf -I -H "Accept: $T" "$URL" -o /dev/null
  local get head
  get=$(wrk -t2 -c32 -d8s -H "Accept: $T" "$URL" | awk '/Requests\/sec/{print $2}')
  head=$($B/bench/http_load --method HEAD --connections 32 --seconds 8 --header "Accept: $T" "$URL" 2>&1 | tr "\n" " ")
  echo "nginx get=$get head=[$head]"
}
for r in $(seq $ROUNDS); do run_one "$A_BIN" old; run_one "$B_BIN" new; run_nginx; done
nginx -c $W/ngx/nginx.conf -p $W/ngx -s stop
kill $UP_PID
