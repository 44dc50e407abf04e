#pragma once
// What a cached image consists of, from the index alone: starting at a manifest or index
// digest, every nested manifest and every blob (config and layers) it names. Used for pins
// (never evict these) and for per-repository usage in `pullcache stats`. Blocking (index reads).

#include <string>
#include <unordered_set>

#include "common/digest.h"
#include "daemon/index/index.h"

namespace pullcache::index {

// Adds `root` and everything it refers to to `out` (digest strings). Manifests not in the
// index, and nesting deeper than index -> image manifest, end the walk there. Returns whether
// `root` itself is a cached manifest.
bool collectImage(Index& index, const Digest& root, std::unordered_set<std::string>& out);

}  // namespace pullcache::index
