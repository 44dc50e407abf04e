#include "daemon/store/cache_stats.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <unordered_set>

#include "daemon/index/image_walk.h"

namespace pullcache::store {
namespace {}  // namespace

Result<CacheStats> collectStats(index::Index& index, Evictor& evictor, std::size_t top_n) {
  CacheStats stats;
  std::unordered_map<std::string, std::uint64_t> sizes;
  auto blobs = index.forEachBlob([&](const Digest& d, const index::BlobMeta& meta) {
    stats.bytes += meta.size;
    ++stats.blobs;
    sizes.emplace(d.str(), meta.size);
  });
  if (!blobs) return blobs.error();

  struct Repo {
    std::unordered_set<std::string> blobs;
    std::size_t tags = 0;
  };
  std::map<std::pair<std::string, std::string>, Repo> repos;
  auto tags = index.forEachTag([&](const index::TagKey& key, const index::TagRecord& record) {
    ++stats.tags;
    auto& repo = repos[{key.upstream, key.repository}];
    ++repo.tags;
    if (auto d = Digest::parse(record.digest)) index::collectImage(index, d.value(), repo.blobs);
  });
  if (!tags) return tags.error();
  for (auto& [key, repo] : repos) {
    RepositoryUsage usage{key.first, key.second, 0, repo.tags};
    for (const auto& b : repo.blobs) {
      if (auto it = sizes.find(b); it != sizes.end()) usage.bytes += it->second;
    }
    stats.top_repositories.push_back(std::move(usage));
  }
  std::sort(stats.top_repositories.begin(), stats.top_repositories.end(),
            [](const RepositoryUsage& a, const RepositoryUsage& b) {
              return a.bytes != b.bytes ? a.bytes > b.bytes : a.repository < b.repository;
            });
  if (stats.top_repositories.size() > top_n) stats.top_repositories.resize(top_n);

  auto disk = evictor.disk();
  if (!disk) return disk.error();
  stats.disk = disk.value();
  stats.policy = evictor.resolvePolicy(stats.disk);
  stats.pins = evictor.options().pins.size();
  for (const auto& d : evictor.pinnedDigests(&stats.pins_missing)) {
    if (auto it = sizes.find(d); it != sizes.end()) stats.pinned_bytes += it->second;
  }
  return stats;
}

nlohmann::json statsToJson(const CacheStats& s) {
  nlohmann::json top = nlohmann::json::array();
  for (const auto& r : s.top_repositories) {
    top.push_back({{"upstream", r.upstream},
                   {"repository", r.repository},
                   {"bytes", r.bytes},
                   {"tags", r.tags}});
  }
  return {{"bytes", s.bytes},
          {"blobs", s.blobs},
          {"tags", s.tags},
          {"max_bytes", s.policy.max_bytes},
          {"high_watermark", s.policy.high_watermark},
          {"low_watermark", s.policy.low_watermark},
          {"min_free_bytes", s.policy.min_free_bytes},
          {"max_age_seconds", s.policy.max_age_seconds},
          {"filesystem_bytes", s.disk.total_bytes},
          {"filesystem_free_bytes", s.disk.free_bytes},
          {"pins", s.pins},
          {"pins_not_cached", s.pins_missing},
          {"pinned_bytes", s.pinned_bytes},
          {"top_repositories", top}};
}

nlohmann::json evictionToJson(const EvictionReport& r, std::int64_t now_unix, bool dry_run) {
  nlohmann::json victims = nlohmann::json::array();
  for (const auto& v : r.plan.victims) {
    victims.push_back({{"digest", v.blob.digest.str()},
                       {"bytes", v.blob.size},
                       {"reason", std::string(evictReasonName(v.reason))},
                       {"last_read_seconds_ago", now_unix - v.blob.last_access_unix}});
  }
  std::uint64_t planned = 0;
  for (const auto& v : r.plan.victims) planned += v.blob.size;
  return {{"dry_run", dry_run},
          {"bytes_before", r.plan.bytes_before},
          {"blobs_before", r.plan.blobs_before},
          {"bytes_after", r.plan.bytes_before - planned},
          {"evict_blobs", r.plan.victims.size()},
          {"evict_bytes", planned},
          {"evicted_blobs", r.deleted},
          {"evicted_bytes", r.deleted_bytes},
          {"pinned_bytes", r.plan.pinned_bytes},
          {"unmet_bytes", r.plan.unmet_bytes},
          {"max_bytes", r.policy.max_bytes},
          {"high_watermark", r.policy.high_watermark},
          {"low_watermark", r.policy.low_watermark},
          {"min_free_bytes", r.policy.min_free_bytes},
          {"victims", victims}};
}

}  // namespace pullcache::store
