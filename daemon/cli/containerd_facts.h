#pragma once
// The I/O half of the containerd check (daemon/cli/containerd_check.h): the node's config file,
// its permissions, and containerd's version from its gRPC version API over the socket, else
// from the binary.

#include <optional>
#include <string>
#include <string_view>

#include "daemon/cli/containerd_check.h"

namespace pullcache::cli {

struct ContainerdPaths {
  std::string host_root;  // prefix for every path below ("" on the host itself)
  std::string config = "/etc/containerd/config.toml";
  std::string address = "/run/containerd/containerd.sock";
  std::string certs_dir = "/etc/containerd/certs.d";
};

// Reads what checkContainerd needs. The version comes from the gRPC version API on `address`
// (HTTP/2 over the unix socket, 3 s timeout); when that fails and host_root is empty, from
// `containerd --version`. Never fails: what it cannot learn is left unset with a reason.
ContainerdFacts readContainerdFacts(const ContainerdPaths& paths);

// The containerd version from a gRPC answer body (the length-prefixed VersionResponse message).
std::optional<std::string> versionFromGrpcBody(std::string_view body);

}  // namespace pullcache::cli
