#!/usr/bin/env bash
# The README's two commands, `./make.sh run` and `./make.sh test`, on a machine that has nothing
# but Debian bookworm's minimal base (no make, no sudo): installs make if it is missing, then
# runs `make "$@"` (whose targets call scripts/setup.sh for everything else).
#
#   as root                 installs make with apt-get
#   as a user with sudo     installs it with sudo apt-get (sudo may ask for a password)
#   neither                 prints the command to run as root, exits 1
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v make >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    cat >&2 <<'EOF'
make.sh: `make` is not installed, and installing it needs root: this user is not root and
sudo is not installed. As root, run:

    apt-get update && apt-get install -y make sudo

(sudo too, if this user is to run the setup: it installs the build and test dependencies with
apt-get), then run this command again. Or run it as root.
EOF
    exit 1
  fi
  echo "make.sh: installing make (${sudo[*]:+${sudo[*]} }apt-get install make)" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" apt-get install -y -q --no-install-recommends make
fi

exec make "$@"
