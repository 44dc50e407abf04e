#!/usr/bin/env bash
# Assembles the pullcache runtime image as an OCI image layout, without a container engine:
# the built binary, the shared libraries it links (from this Debian bookworm machine), the CA
# bundle, and nothing else. The same runtime the Dockerfile's last stage produces.
#
#   scripts/build-image.sh BINARY LAYOUT_DIR TAG
# then e.g.: skopeo copy oci:LAYOUT_DIR:TAG docker://registry.example.com/pullcache:TAG
set -euo pipefail
binary=${1:?binary}
layout=${2:?layout dir}
tag=${3:?tag}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs="$work/bundle/rootfs"

rm -rf "$layout"
umoci init --layout "$layout"
umoci new --image "$layout:$tag"
umoci unpack --rootless --image "$layout:$tag" "$work/bundle" >/dev/null

# The binary, every library it links (and their own), the dynamic loader.
install -D -m 0755 "$binary" "$rootfs/usr/bin/pullcache"
strip --strip-unneeded "$rootfs/usr/bin/pullcache"
ldd "$binary" | awk '/=>/ {print $3} /^[ \t]*\// {print $1}' | sort -u | while read -r lib; do
  [ -n "$lib" ] && [ -e "$lib" ] || continue
  install -D -m 0755 "$(readlink -f "$lib")" "$rootfs$lib"
done
# TLS to the upstreams; a root user for the securityContext's uid 0; writable places.
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
mkdir -p "$rootfs/tmp" "$rootfs/var/lib/pullcache" "$rootfs/etc/pullcache"
chmod 1777 "$rootfs/tmp"
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\n' >"$rootfs/etc/group"

umoci repack --image "$layout:$tag" "$work/bundle" >/dev/null
umoci config --image "$layout:$tag" \
  --config.entrypoint /usr/bin/pullcache --config.cmd serve --config.cmd --config \
  --config.cmd /etc/pullcache/config.yaml \
  --config.env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  --config.workingdir / --os linux --architecture "$(dpkg --print-architecture)" \
  --config.label org.opencontainers.image.title=pullcache >/dev/null
umoci gc --layout "$layout"
echo "$layout:$tag"
