#pragma once
// `pullcache stats`, `pullcache gc` and `pullcache prefetch`: operator commands on a node.
// stats and gc ask the running daemon (its admin API on the registry listener) and, when no
// daemon answers, open the cache directory themselves; prefetch pulls through the daemon.
// Each returns the process exit code: 0 ok, 1 failure (2 for a malformed image reference).
// stdout is the answer (scripts parse --json), line by line; on a terminal, stderr shows
// progress on one redrawn line (progressLine(): blobs, bytes, rate; prefetch per image, gc as
// its pass removes blobs, or only that the pass runs and for how long when the daemon runs it),
// and off a terminal stderr carries only errors.

#include <string>
#include <vector>

#include "daemon/config/config.h"
#include "daemon/prefetch/prefetcher.h"

namespace pullcache::cli {

int stats(const config::Config& config, bool json);
int gc(const config::Config& config, bool dry_run, bool json);
int prefetch(const config::Config& config, const std::vector<std::string>& images,
             bool all_platforms);

// The progress line of prefetch and gc: "docker.io/library/alpine:3  3/5 blobs  12.0 MiB /
// 30.1 MiB  40%  6.0 MiB/s" (`label` first; the rate averaged over `seconds` since the work
// started). `progress` counts blobs and bytes done of a total, fetched or removed.
std::string progressLine(std::string_view label, const prefetch::Progress& progress,
                         double seconds);

// Where the daemon's registry API answers locally: the listen address, with a wildcard bind
// (0.0.0.0, ::) replaced by loopback.
std::string localRegistryUrl(const config::Endpoint& listen);

}  // namespace pullcache::cli
