#pragma once
// `pullcache doctor --config FILE [--image REF]...`: what a platform engineer checks by hand when
// pulls do not go through the cache, as one report, with the daemon's own code paths (the same
// credential chain, token source and registry client):
//
//   config          valid
//   containerd      will CRI pulls read pullcache's hosts.toml (containerd_check.h: config.toml,
//                   version, transfer service, read-only config), and are those files written;
//                   a failure only when containerd answers on its socket (else a warning)
//   cache dir       writable, free space against min_free_bytes
//   daemon          answering on the listen address (a warning only: doctor also runs before it)
//   aws credentials which provider answered and who it is (role ARN, key id prefix; no secret)
//   ecr token       fetched for each ECR registry the config names, and when it expires
//   registry        /v2/ of every upstream the config names (with the token for ECR)
//   layer download  the first layer of the --image references (and of cache.pin/prefetch) with
//                   a one-byte range, through the registry's redirect (S3 for ECR)
//
// Stops at the first broken link; exit 0 when nothing failed, 1 otherwise, 3 on a bad config.

#include <string>
#include <vector>

namespace pullcache::cli {

struct DoctorOptions {
  std::string config_path;
  std::vector<std::string> images;  // --image, repeatable
  // The containerd link (--host-root, --containerd-config, --containerd-address, --certs-dir):
  // where the node's containerd configuration, socket and certs.d are (host paths, read
  // under host_root when doctor runs in a container with the host mounted).
  std::string host_root;
  std::string containerd_config = "/etc/containerd/config.toml";
  std::string containerd_address = "/run/containerd/containerd.sock";
  std::string certs_dir = "/etc/containerd/certs.d";
};

int doctor(const DoctorOptions& options);

}  // namespace pullcache::cli
