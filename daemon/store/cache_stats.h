#pragma once
// What the cache holds, for `pullcache stats` and GET /pullcache/v1/stats: size against the
// budget, the filesystem, pins, and the repositories that take the most space. Also the JSON
// forms of that and of an eviction report (`pullcache gc`), shared by the admin endpoint and
// the stand-alone CLI, so both print the same thing.

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "common/error.h"
#include "daemon/index/index.h"
#include "daemon/store/evictor.h"

namespace pullcache::store {

struct RepositoryUsage {
  std::string upstream;
  std::string repository;
  std::uint64_t bytes = 0;  // cached blobs its tagged images use (a shared blob counts in each)
  std::size_t tags = 0;
};

struct CacheStats {
  std::uint64_t bytes = 0;
  std::uint64_t blobs = 0;
  std::uint64_t tags = 0;
  EvictionPolicy policy;
  DiskUsage disk;
  std::uint64_t pinned_bytes = 0;
  std::size_t pins = 0;
  std::size_t pins_missing = 0;
  std::vector<RepositoryUsage> top_repositories;  // largest first
};

// Blocking (index scans): call it on the blocking pool or from a CLI.
Result<CacheStats> collectStats(index::Index& index, Evictor& evictor, std::size_t top_n);

nlohmann::json statsToJson(const CacheStats& stats);
nlohmann::json evictionToJson(const EvictionReport& report, std::int64_t now_unix, bool dry_run);

}  // namespace pullcache::store
