#!/usr/bin/env bash
# `make fresh-check`: the README's two commands on a bare Debian bookworm root, from a fresh clone.
#
#   1. a root from `debootstrap --variant=minbase bookworm` (what the debian:bookworm image has:
#      no make, git, sudo or ca-certificates), unpacked from a cached tarball
#   2. the host's apt sources and Acquire settings, DNS and CA certificates copied in (behind a
#      TLS-intercepting proxy the root needs the proxy's CA, as an enterprise machine would)
#   3. make.sh's refusal as a user with neither root nor sudo (no make installed yet)
#   4. `git clone` of this repository's committed HEAD into /root/pullcache, then in the root,
#      as root: `./make.sh run` until the daemon answers /healthz (polled from here: a chroot
#      shares the network), then `./make.sh test`
#   5. make.sh's bootstrap as a user with sudo (make removed again): `./make.sh setup`
#
# Root (debootstrap, chroot, mounts). Slow: installs every dependency and builds from scratch.
# Environment: FRESH_CHECK_CACHE (default /var/cache/pullcache-fresh-check) keeps the debootstrap
# tarball, so a rerun skips the download; FRESH_CHECK_DIR (default /var/tmp) is where the root
# goes. `--keep` leaves the root (and its logs in <root>/fresh-check-logs) in place.
# Exit 0 when every step passed.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${FRESH_CHECK_CACHE:-/var/cache/pullcache-fresh-check}
keep=0
[ "${1:-}" = "--keep" ] && keep=1
suite=bookworm
arch=$(dpkg --print-architecture)

say() { printf '\n=== fresh-check: %s (%s)\n' "$*" "$(date +%T)"; }
die() {
  echo "fresh-check: FAILED: $*" >&2
  exit 1
}

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot and mounts); run: sudo make fresh-check"

if ! command -v debootstrap >/dev/null; then
  say "installing debootstrap on this machine"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap ||
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap; }
fi

# The Debian mirror this machine uses (a local mirror or deb.debian.org).
mirror=$(
  { cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ {print $2}'
    grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
      awk '{for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) {print $i; break}}'
  } | grep -E '/debian/?$' | head -1
) || true
mirror=${mirror:-http://deb.debian.org/debian}

# 1. The root.
mkdir -p "$cache" "${FRESH_CHECK_DIR:-/var/tmp}"
tarball="$cache/$suite-minbase-$arch.tgz"
if [ ! -s "$tarball" ]; then
  say "downloading $suite minbase from $mirror into $tarball"
  work=$(mktemp -d "$cache/make-tarball.XXXXXX")
  debootstrap --variant=minbase --arch="$arch" --make-tarball="$tarball.part" "$suite" "$work" "$mirror"
  rm -rf "$work"
  mv "$tarball.part" "$tarball"
fi
root=$(realpath "$(mktemp -d "${FRESH_CHECK_DIR:-/var/tmp}/pullcache-fresh-root.XXXXXX")")
chmod 0755 "$root"  # mktemp's 0700 would keep the root's own users out
logs="$root/fresh-check-logs"
run_pid=""

processes_in_root() {  # the processes whose root directory is the fresh root
  local p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && echo "${p#/proc/}"
  done
  return 0
}
stop_root_processes() {
  local pids
  pids=$(processes_in_root)
  [ -n "$pids" ] || return 0
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  for _ in $(seq 50); do
    [ -z "$(processes_in_root)" ] && return 0
    sleep 0.2
  done
  pids=$(processes_in_root)
  # shellcheck disable=SC2086
  [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
}
cleanup() {
  local rc=$?
  stop_root_processes
  # Everything mounted below the root (ours, and what tests left), deepest first.
  awk -v r="$root" '$2 == r || index($2, r "/") == 1 {print $2}' /proc/mounts | sort -r |
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  if [ "$keep" -eq 1 ] || [ "$rc" -ne 0 ]; then
    echo "fresh-check: the root is kept at $root (logs: $logs); remove it with rm -rf $root" >&2
  else
    rm -rf --one-file-system "$root"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "unpacking $suite minbase into $root"
debootstrap --variant=minbase --arch="$arch" --unpack-tarball="$tarball" "$suite" "$root" "$mirror" \
  >"$root.debootstrap.log" 2>&1 || { tail -30 "$root.debootstrap.log"; die "debootstrap"; }
mkdir -p "$logs"
mv "$root.debootstrap.log" "$logs/debootstrap.log"
for p in make git sudo ca-certificates; do
  # shellcheck disable=SC2016
  if chroot "$root" dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    die "$p is installed in the bare root: not what a newcomer starts from"
  fi
done

# 2. What the machine's network needs. The apt sources and Acquire settings (proxy, a mirror
# whose Release files are past Valid-Until) of this host; its DNS; its CA certificates: the
# local ones (a proxy's CA) where update-ca-certificates picks them up when setup installs
# ca-certificates, and the bundle, for anything TLS before that.
say "copying apt sources, DNS and CA certificates"
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/"
  : >"$root/etc/apt/sources.list"
elif [ -s /etc/apt/sources.list ]; then
  cp /etc/apt/sources.list "$root/etc/apt/sources.list"
fi
for f in /etc/apt/apt.conf /etc/apt/apt.conf.d/*; do
  if [ -f "$f" ] && grep -q 'Acquire::' "$f"; then cp "$f" "$root$f"; fi
done
cp /etc/resolv.conf "$root/etc/resolv.conf"
mkdir -p "$root/usr/local/share/ca-certificates" "$root/etc/ssl/certs"
cp -r /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
# The root shares this machine's network: packages' services (nginx on :80, docker-registry on
# :5000) must not start there (a container has a network of its own; this is a chroot's only
# difference that matters). setup.sh also stops them where they do start.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"

# The root is a mount point of its own, as a container's is: runc (ctr run) and `ip netns exec`
# remount / as a slave and fail with EINVAL on a chroot whose / is a plain directory.
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys" && mount --make-rslave "$root/sys"
mount --rbind /dev "$root/dev" && mount --make-rslave "$root/dev"
mount -t tmpfs -o mode=0755 tmpfs "$root/run"

in_root() {  # [--user UID] COMMAND...: a login-like clean environment in the root
  local user=0 home=/root
  if [ "$1" = "--user" ]; then user=$2 home=/home/newcomer; shift 2; fi
  chroot --userspec="$user:$user" "$root" /usr/bin/env -i HOME="$home" LANG=C.UTF-8 TERM=dumb \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt "$@"
}

# 3. Neither root nor sudo: make.sh says what to run, and fails.
say "make.sh as a user with neither root nor sudo"
chroot "$root" useradd --uid 4242 --user-group --create-home --shell /bin/bash newcomer
git clone -q --branch main "$repo" "$root/home/newcomer/pullcache"
chroot "$root" chown -R newcomer:newcomer /home/newcomer/pullcache
set +e
in_root --user 4242 bash -c 'cd ~/pullcache && ./make.sh run' >"$logs/no-sudo.log" 2>&1
rc=$?
set -e
cat "$logs/no-sudo.log"
[ "$rc" -ne 0 ] || die "make.sh succeeded without make, root or sudo"
grep -q "apt-get install -y make" "$logs/no-sudo.log" || die "make.sh did not say what to run"

# 4. The README's two commands, as root.
git clone -q --branch main "$repo" "$root/root/pullcache"
echo "fresh-check: cloned $(git -C "$root/root/pullcache" log -1 --format='%h %s')"
health=$(sed -n 's/^metrics_listen: *\([^ #]*\).*/\1/p' "$root/root/pullcache/examples/public-mirrors.yaml")
listen=$(sed -n 's/^listen: *\([^ #]*\).*/\1/p' "$root/root/pullcache/examples/public-mirrors.yaml")
for ep in "$health" "$listen"; do
  if curl -s -o /dev/null --max-time 2 "http://$ep/"; then
    die "something on this machine already answers on $ep (the example's ports; the root shares the network)"
  fi
done

say "./make.sh run (until http://$health/healthz answers; log: $logs/run.log)"
start=$(date +%s)
in_root bash -c 'cd /root/pullcache && exec ./make.sh run' >"$logs/run.log" 2>&1 &
run_pid=$!
deadline=$((start + ${FRESH_CHECK_RUN_TIMEOUT:-5400}))
until curl -sf --max-time 2 "http://$health/healthz" >/dev/null; do
  if ! kill -0 "$run_pid" 2>/dev/null; then
    tail -40 "$logs/run.log"
    die "./make.sh run ended before /healthz answered"
  fi
  [ "$(date +%s)" -lt "$deadline" ] || { tail -40 "$logs/run.log"; die "/healthz did not answer in time"; }
  sleep 5
done
echo "fresh-check: /healthz answered after $(($(date +%s) - start)) s: $(curl -s "http://$health/healthz")"
stop_root_processes
wait "$run_pid" 2>/dev/null || true

say "./make.sh test (log: $logs/test.log)"
start=$(date +%s)
set +e
in_root bash -c 'cd /root/pullcache && ./make.sh test' >"$logs/test.log" 2>&1
rc=$?
set -e
grep -E '^[0-9]+% tests passed|tests failed|\*\*\*Failed|\(Failed\)|Not Run|Skipped' "$logs/test.log" || true
[ "$rc" -eq 0 ] || { tail -60 "$logs/test.log"; die "./make.sh test exited $rc"; }
echo "fresh-check: ./make.sh test passed in $(($(date +%s) - start)) s"

# 5. A user with sudo: make.sh installs make through sudo, setup finds nothing missing.
say "make.sh as a user with sudo (make removed first)"
in_root apt-get install -y -q --no-install-recommends sudo >"$logs/sudo.log" 2>&1
echo 'newcomer ALL=(ALL) NOPASSWD: ALL' >"$root/etc/sudoers.d/newcomer"
chmod 0440 "$root/etc/sudoers.d/newcomer"
in_root apt-get remove -y -q make >>"$logs/sudo.log" 2>&1
set +e
in_root --user 4242 bash -c 'cd ~/pullcache && ./make.sh setup' >"$logs/sudo-setup.log" 2>&1
rc=$?
set -e
cat "$logs/sudo-setup.log"
[ "$rc" -eq 0 ] || die "./make.sh setup as a user with sudo exited $rc"
grep -q "installing make (sudo apt-get" "$logs/sudo-setup.log" || die "make.sh did not install make with sudo"

say "passed"
