#!/usr/bin/env bash
# Cluster mode on shaped links: N nodes, each a network namespace with its own pullcache and its
# own containerd, fetch one image at once, with and without peers. The client is `ctr content
# fetch`: every blob downloaded and verified into containerd's content store as a pull does, but
# not unpacked (N unpacking clients sharing this machine's cores would measure the CPU, not the
# network; on a cluster each node has its own).
#
#   upstream   docker-registry in its own namespace; what it sends is shaped to UP_RATE (default
#              100 Mbit/s: low enough that N clients on two cores keep up with it)
#   node i     pullcache (registry port on the namespace's loopback, peer port on its veth) and
#              containerd; what a node sends and what it receives are each shaped to NODE_RATE
#   all on one bridge; tc tbf (this kernel has no netem: rate only, no added delay)
#
# Scenarios, each from empty caches and fresh containerd roots, repeated for several rounds:
#   single     one node alone pulls the image (no peers): the cold pull the others compare with
#   no-peers   all N nodes at once, each on its own
#   peers      all N nodes at once, cluster mode (static member list, fanout 4)
# Per scenario: wall time until the last pull ends, bytes the upstream sent, the most bytes any
# one node sent (counted on the veths), each as a median over the rounds.
#
# usage: bench/cluster.sh [--quick] [--nodes N] [--out DIR]    (root: namespaces, tc)
#   --quick   8 MiB layers, upstream at 400 Mbit/s, 1 round (the test suite's smoke run)
# UP_RATE and NODE_RATE (tc rates, e.g. 500mbit, 2gbit) override the links' rates.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}
PULLCACHE=$BUILD/daemon/pullcache
MAKE_IMAGE=$BUILD/tests/make_test_image
QUICK=0
NODES=8
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --nodes) NODES=$2; shift ;;
    --out) OUT=$2; shift ;;
    *) echo "usage: bench/cluster.sh [--quick] [--nodes N] [--out DIR]" >&2; exit 2 ;;
  esac
  shift
done
[[ "$NODES" =~ ^[0-9]+$ ]] && [ "$NODES" -ge 2 ] && [ "$NODES" -le 200 ] ||
  { echo "bench: --nodes takes 2 to 200" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "bench: cluster.sh needs root (network namespaces, tc)" >&2; exit 1; }
for tool in "$PULLCACHE" "$MAKE_IMAGE"; do
  [ -x "$tool" ] || { echo "bench: $tool not built (make build)" >&2; exit 1; }
done
for cmd in docker-registry containerd ctr skopeo curl tc ip; do
  command -v "$cmd" >/dev/null || { echo "bench: $cmd missing (scripts/setup.sh)" >&2; exit 1; }
done

LAYERS=6
NODE_RATE=${NODE_RATE:-2gbit}
FANOUT=4
if [ "$QUICK" = 1 ]; then
  LAYER_MIB=8; ROUNDS=1; UP_RATE=${UP_RATE:-400mbit}
else
  LAYER_MIB=100; ROUNDS=3; UP_RATE=${UP_RATE:-100mbit}
fi
IMAGE_BYTES=$((LAYERS * LAYER_MIB << 20))

WORK=$(mktemp -d /tmp/pullcache-cluster.XXXXXX)
OUT=${OUT:-$WORK/out}
mkdir -p "$OUT"
RAW=$OUT/raw.tsv
printf 'scenario\tround\twall_s\tupstream_bytes\tmax_node_sent_bytes\tslowest_node_s\tpeer_bytes\tpeer_errors\tcpu_busy_pct\n' >"$RAW"
TAG=$$
BR=pcbr$TAG
UP_NS=pcu$TAG
UP_DEV=pcu$TAG
NET=10.203.$((TAG % 200)).
UP=${NET}2:5000
PIDS=()

node_ns() { echo "pcn${TAG}_$1"; }
node_dev() { echo "pcn${TAG}_$1"; }
node_ip() { echo "${NET}$((10 + $1))"; }
now_s() { date +%s.%N; }
stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  grep -o " $WORK[^ ]*" /proc/mounts | xargs -r -n1 umount -l 2>/dev/null || true
  for i in $(seq 1 "$NODES"); do ip netns del "$(node_ns "$i")" 2>/dev/null || true; done
  ip netns del "$UP_NS" 2>/dev/null || true
  ip link del "$BR" 2>/dev/null || true
  find "$WORK" -mindepth 1 -maxdepth 1 ! -name out -exec rm -rf {} + 2>/dev/null || true
}
trap cleanup EXIT

# ---- the network ------------------------------------------------------------------------------
shape() {  # netns ("" = this one) dev rate: shape what dev sends
  local burst=$(( $(echo "$3" | sed 's/gbit/000/; s/mbit//') * 1000000 / 8 / 250 ))
  [ "$burst" -lt 65536 ] && burst=65536
  if [ -n "$1" ]; then
    ip netns exec "$1" tc qdisc add dev "$2" root tbf rate "$3" burst "$burst" latency 50ms
  else
    tc qdisc add dev "$2" root tbf rate "$3" burst "$burst" latency 50ms
  fi
}
add_host() {  # netns dev ip: a namespace on the bridge
  ip netns add "$1"
  ip link add "${2}a" type veth peer name "${2}b"
  ip link set "${2}b" netns "$1"
  ip link set "${2}a" master "$BR" up
  ip -n "$1" addr add "$3/24" dev "${2}b"
  ip -n "$1" link set "${2}b" up
  ip -n "$1" link set lo up
}
ip link add "$BR" type bridge
ip addr add "${NET}1/24" dev "$BR"
ip link set "$BR" up
add_host "$UP_NS" "$UP_DEV" "${NET}2"
shape "$UP_NS" "${UP_DEV}b" "$UP_RATE"
for i in $(seq 1 "$NODES"); do
  add_host "$(node_ns "$i")" "$(node_dev "$i")" "$(node_ip "$i")"
  shape "$(node_ns "$i")" "$(node_dev "$i")b" "$NODE_RATE"   # what the node sends
  shape "" "$(node_dev "$i")a" "$NODE_RATE"                  # what the node receives
done
# What a namespace sends arrives on its bridge-side veth end.
sent_by() { cat "/sys/class/net/${1}a/statistics/rx_bytes"; }

wait_http() {  # netns url
  for _ in $(seq 1 300); do
    ip netns exec "$1" curl -s -o /dev/null "$2" && return 0
    sleep 0.05
  done
  echo "bench: $2 in $1 did not come up" >&2
  return 1
}

# ---- the upstream and the image ---------------------------------------------------------------
mkdir -p "$WORK/up"
cat >"$WORK/up.yml" <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $WORK/up}}
http: {addr: "$UP"}
EOF
ip netns exec "$UP_NS" docker-registry serve "$WORK/up.yml" >"$WORK/up.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 300); do curl -s -o /dev/null "http://$UP/v2/" && break; sleep 0.05; done
layer_args=()
for l in $(seq 1 "$LAYERS"); do layer_args+=("$LAYER_MIB:$((300 + l))"); done
"$MAKE_IMAGE" "$WORK/image" v1 "${layer_args[@]}" >/dev/null
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$WORK/image:v1" \
  "docker://$UP/bench/cluster:v1" >/dev/null
rm -rf "$WORK/image"
head -c 48 /dev/urandom | base64 >"$WORK/peer-secret"
MEMBERS=""
for i in $(seq 1 "$NODES"); do MEMBERS+="${MEMBERS:+, }\"$(node_ip "$i"):5001\""; done

# ---- nodes ------------------------------------------------------------------------------------
declare -A PC_PID
start_pullcache() {  # node peers(0|1)
  local d=$WORK/node$1
  mkdir -p "$d"
  cat >"$d/pc.yml" <<EOF
listen: 127.0.0.1:5000
metrics_listen: 127.0.0.1:5002
cache: {dir: $d/cache, max_bytes: 100GiB, min_free_bytes: 0}
upstreams: [{match: "$UP", url: "http://$UP"}]
default_upstream: "$UP"
log: {level: warn}
EOF
  if [ "$2" = 1 ]; then
    cat >>"$d/pc.yml" <<EOF
peers:
  listen: $(node_ip "$1"):5001
  static: [$MEMBERS]
  fanout: $FANOUT
  secret_file: $WORK/peer-secret
EOF
  fi
  ip netns exec "$(node_ns "$1")" "$PULLCACHE" serve --config "$d/pc.yml" >>"$d/pc.log" 2>&1 &
  PC_PID[$1]=$!
  PIDS+=($!)
}
stop_pullcache() {  # node
  [ -n "${PC_PID[$1]:-}" ] && stop_pid "${PC_PID[$1]}"
  PC_PID[$1]=""
  rm -rf "$WORK/node$1/cache"
}
# containerd and one `ctr images pull` in the node's namespace, from a fresh root; prints the
# pull's seconds (nan if it failed).
ctr_pull() {  # node
  local ns d cpid t0 t1 ok=1
  ns=$(node_ns "$1")
  d=$(mktemp -d "$WORK/node$1/ctrd.XXXXXX")
  mkdir -p "$d/hosts/$UP"
  printf 'server = "http://%s"\n\n[host."http://127.0.0.1:5000"]\n  capabilities = ["pull", "resolve"]\n' \
    "$UP" >"$d/hosts/$UP/hosts.toml"
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
  ip netns exec "$ns" containerd --config "$d/config.toml" >"$d/containerd.log" 2>&1 &
  cpid=$!
  for _ in $(seq 1 300); do ctr -a "$d/containerd.sock" version >/dev/null 2>&1 && break; sleep 0.05; done
  # Wait here until every node's containerd is up, so that the pulls start together.
  touch "$WORK/ready.$1"
  while [ ! -e "$WORK/go" ]; do sleep 0.01; done
  t0=$(now_s)
  ip netns exec "$ns" ctr -a "$d/containerd.sock" content fetch --plain-http --hosts-dir "$d/hosts" \
    "$UP/bench/cluster:v1" >"$d/pull.log" 2>&1 || ok=0
  t1=$(now_s)
  [ "$ok" = 1 ] || echo "bench: node $1: ctr pull failed: $(tail -3 "$d/pull.log")" >&2
  stop_pid "$cpid"
  grep -o " $d[^ ]*" /proc/mounts | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$d" 2>/dev/null || true
  awk -v a="$t0" -v b="$t1" -v ok="$ok" 'BEGIN{ if (!ok) print "nan"; else printf "%.3f", b-a }'
}

# One scenario: `count` nodes (1..count) pull at once; appends a row to raw.tsv.
run_scenario() {  # name round count peers(0|1)
  local name=$1 round=$2 count=$3 peers=$4 i up0 t0 wall failed=0 max_sent=0
  declare -A sent0
  for i in $(seq 1 "$count"); do start_pullcache "$i" "$peers"; done
  for i in $(seq 1 "$count"); do wait_http "$(node_ns "$i")" "http://127.0.0.1:5002/readyz"; done
  rm -f "$WORK"/ready.* "$WORK/go" "$WORK"/time.*
  local pulls=()
  for i in $(seq 1 "$count"); do
    ctr_pull "$i" >"$WORK/time.$i" &
    pulls+=($!)
  done
  while [ "$(find "$WORK" -maxdepth 1 -name 'ready.*' | wc -l)" -lt "$count" ]; do sleep 0.02; done
  up0=$(sent_by "$UP_DEV")
  for i in $(seq 1 "$count"); do sent0[$i]=$(sent_by "$(node_dev "$i")"); done
  t0=$(now_s)
  local cpu0; cpu0=$(awk '/^cpu /{print $2+$3+$4, $5}' /proc/stat)
  touch "$WORK/go"
  for p in "${pulls[@]}"; do wait "$p" || failed=1; done
  # Share of the machine's CPU time that was busy while the pulls ran.
  local busy; busy=$(awk -v c0="$cpu0" '/^cpu /{split(c0, a, " "); b=$2+$3+$4-a[1]; i=$5-a[2]; printf "%.0f", 100*b/(b+i)}' /proc/stat)
  wall=$(awk -v a="$t0" -v b="$(now_s)" 'BEGIN{printf "%.3f", b-a}')
  for i in $(seq 1 "$count"); do
    grep -q nan "$WORK/time.$i" && failed=1
    local s=$(( $(sent_by "$(node_dev "$i")") - ${sent0[$i]} ))
    [ "$s" -gt "$max_sent" ] && max_sent=$s
  done
  local up=$(( $(sent_by "$UP_DEV") - up0 ))
  # What the nodes say: bytes they got from peers, peer fetches that failed; the slowest pull.
  local peer_bytes=0 peer_errors=0 slowest
  for i in $(seq 1 "$count"); do
    local m
    m=$(ip netns exec "$(node_ns "$i")" curl -s http://127.0.0.1:5002/metrics)
    peer_bytes=$(( peer_bytes + $(echo "$m" | awk '/^pullcache_source_bytes_total\{source="peer"\}/{printf "%d", $2; f=1} END{if(!f) print 0}') ))
    peer_errors=$(( peer_errors + $(echo "$m" | awk '/^pullcache_peer_fetch_errors_total\{/{n+=$2} END{printf "%d", n}') ))
  done
  slowest=$(awk 1 "$WORK"/time.* | sort -g | tail -1)
  for i in $(seq 1 "$count"); do stop_pullcache "$i"; done
  [ "$failed" = 0 ] || wall=nan
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$round" "$wall" "$up" "$max_sent" \
    "$slowest" "$peer_bytes" "$peer_errors" "$busy" >>"$RAW"
  echo "bench: $name round $round: ${wall}s (slowest pull ${slowest}s), upstream sent $up," \
    "most sent by a node $max_sent, from peers $peer_bytes, peer errors $peer_errors, CPU busy $busy%" >&2
}

# no-peers runs once: its upstream bytes are N × the image by construction, and at the default
# rates it is the longest scenario by far.
for r in $(seq 1 "$ROUNDS"); do
  run_scenario single "$r" 1 0
  [ "$r" = 1 ] && run_scenario no-peers "$r" "$NODES" 0
  run_scenario peers "$r" "$NODES" 1
done

# ---- the table --------------------------------------------------------------------------------
{
  echo "Cluster mode: $NODES nodes pull one ${LAYERS}-layer image of $((IMAGE_BYTES >> 20)) MiB at once"
  echo "(\`ctr content fetch\`, each node its own containerd and pullcache in its own network namespace)."
  echo "Links (tc tbf, rate only): upstream sends at $UP_RATE; each node sends and receives at $NODE_RATE."
  echo "Median of $ROUNDS round(s) (no-peers: one); byte columns relative to the image size;"
  echo "CPU busy: the share of this machine's CPU time in use while the pulls ran."
  echo
  echo "| scenario | nodes | wall s | × single | slowest node s | upstream bytes / image | most sent by one node / image | from peers / image | peer errors | CPU busy |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  awk -F'\t' -v img="$IMAGE_BYTES" -v n="$NODES" '
    function median(list,   a, k, i, j, t) {
      k = split(list, a, " ")
      for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
      return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
    }
    NR > 1 { wall[$1] = wall[$1] " " $3; up[$1] = up[$1] " " $4; sent[$1] = sent[$1] " " $5;
             slow[$1] = slow[$1] " " $6; peer[$1] = peer[$1] " " $7; err[$1] = err[$1] " " $8;
             busy[$1] = busy[$1] " " $9; if ($3 == "nan") bad[$1] = 1 }
    END {
      single = median(wall["single"])
      split("single no-peers peers", order, " ")
      for (o = 1; o <= 3; o++) {
        s = order[o]
        if (!(s in wall)) continue
        w = bad[s] ? "failed" : sprintf("%.2f", median(wall[s]))
        x = bad[s] || bad["single"] ? "-" : sprintf("%.2f", median(wall[s]) / single)
        printf "| %s | %d | %s | %s | %.2f | %.2f | %.2f | %.2f | %d | %d%% |\n", s, s == "single" ? 1 : n,
               w, x, median(slow[s]), median(up[s]) / img, median(sent[s]) / img,
               median(peer[s]) / img, median(err[s]), median(busy[s])
      }
    }' "$RAW"
} >"$OUT/results.md"
cat "$OUT/results.md"
