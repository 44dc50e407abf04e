# Sourced by the benchmarks: the helpers more than one of them needs.

# free_port: a port nothing listens on, below the kernel's ephemeral range: a port that outgoing
# connections may take as their local port can be "free" when checked and in use by the time a
# server binds it (nginx then fails with EADDRINUSE; seen in CI).
EPHEMERAL_LOW=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
free_port() {
  local p
  while :; do
    p=$(( (RANDOM % (EPHEMERAL_LOW - 10000)) + 10000 ))
    (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }
  done
}

# loopback_registry DIR: a docker-registry on 127.0.0.1 storing under DIR/up, for the A/B loops;
# sets UP (host:port) and UP_PID, and returns once it answers.
loopback_registry() {
  local dir=$1
  UP=127.0.0.1:$(free_port)
  mkdir -p "$dir/up"
  printf 'version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: %s/up}}\nhttp: {addr: "%s"}\n' \
    "$dir" "$UP" >"$dir/up.yml"
  docker-registry serve "$dir/up.yml" >"$dir/up.log" 2>&1 &
  UP_PID=$!
  for _ in $(seq 50); do curl -sf "http://$UP/v2/" >/dev/null && return 0; sleep 0.1; done
  echo "bench: the loopback registry did not come up" >&2
  return 1
}
