#pragma once
// `pullcache stats`, `pullcache gc` and `pullcache prefetch`: operator commands on a node.
// stats and gc ask the running daemon (its admin API on the registry listener) and, when no
// daemon answers, open the cache directory themselves; prefetch pulls through the daemon.
// Each returns the process exit code: 0 ok, 1 failure (2 for a malformed image reference).
// stdout is the answer (scripts parse --json); on a terminal, stderr shows progress on one
// redrawn line (prefetch: blobs, bytes, rate; gc: that the pass runs, and for how long), and
// off a terminal stderr carries only errors.

#include <string>
#include <vector>

#include "daemon/config/config.h"
#include "daemon/prefetch/prefetcher.h"

namespace pullcache::cli {

int stats(const config::Config& config, bool json);
int gc(const config::Config& config, bool dry_run, bool json);
int prefetch(const config::Config& config, const std::vector<std::string>& images,
             bool all_platforms);

// The prefetch progress line: "docker.io/library/alpine:3  3/5 blobs  12.0 MiB / 30.1 MiB  40%
// 6.0 MiB/s" (the rate averaged over `seconds` since the image started).
std::string prefetchProgressLine(std::string_view image, const prefetch::Progress& progress,
                                 double seconds);

// Where the daemon's registry API answers locally: the listen address, with a wildcard bind
// (0.0.0.0, ::) replaced by loopback.
std::string localRegistryUrl(const config::Endpoint& listen);

}  // namespace pullcache::cli
