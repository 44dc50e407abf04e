#pragma once
// `pullcache stats`, `pullcache gc` and `pullcache prefetch`: operator commands on a node.
// stats and gc ask the running daemon (its admin API on the registry listener) and, when no
// daemon answers, open the cache directory themselves; prefetch pulls through the daemon.
// Each returns the process exit code: 0 ok, 1 failure.

#include <string>
#include <vector>

#include "daemon/config/config.h"

namespace pullcache::cli {

int stats(const config::Config& config, bool json);
int gc(const config::Config& config, bool dry_run, bool json);
int prefetch(const config::Config& config, const std::vector<std::string>& images,
             bool all_platforms);

// Where the daemon's registry API answers locally: the listen address, with a wildcard bind
// (0.0.0.0, ::) replaced by loopback.
std::string localRegistryUrl(const config::Endpoint& listen);

}  // namespace pullcache::cli
