#!/usr/bin/env bash
# Installs what pullcache needs to build and test on Debian bookworm (apt, as root or via sudo).
# Idempotent: does nothing when everything is installed.
set -euo pipefail

packages=(
  # build
  g++ cmake make pkg-config ccache git
  libboost1.81-dev libcurl4-openssl-dev libssl-dev librocksdb-dev libyaml-cpp-dev
  libspdlog-dev libfmt-dev nlohmann-json3-dev libgtest-dev libgmock-dev prometheus-cpp-dev
  # the real parts the integration tests and the demo run against
  docker-registry containerd skopeo prometheus curl ca-certificates iproute2
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "setup: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: run as root (apt-get needs it)" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# libboost1.81-dev conflicts with the default 1.74 headers; apt removes those if present.
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
# The Debian packages start these services; pullcache's tests run their own instances.
for svc in docker-registry containerd prometheus; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
    $SUDO systemctl stop "$svc" || true
  fi
done
