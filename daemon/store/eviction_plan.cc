#include "daemon/store/eviction_plan.h"

#include <algorithm>

namespace pullcache::store {

std::string_view evictReasonName(EvictReason reason) noexcept {
  switch (reason) {
    case EvictReason::kMaxAge:
      return "max_age";
    case EvictReason::kBudget:
      return "budget";
    case EvictReason::kDiskFree:
      return "min_free";
  }
  return "?";
}

EvictionPlan planEviction(std::vector<CachedBlob> blobs,
                          const std::unordered_set<std::string>& pinned_digests,
                          const EvictionPolicy& policy, std::uint64_t fs_free_bytes,
                          std::int64_t now_unix, std::uint64_t in_flight_bytes) {
  EvictionPlan plan;
  plan.blobs_before = blobs.size();
  std::vector<CachedBlob> candidates;
  candidates.reserve(blobs.size());
  for (auto& b : blobs) {
    plan.bytes_before += b.size;
    if (pinned_digests.count(b.digest.str())) {
      plan.pinned_bytes += b.size;
      continue;
    }
    if (policy.max_age_seconds > 0 && now_unix - b.last_access_unix > policy.max_age_seconds) {
      plan.victims.push_back({std::move(b), EvictReason::kMaxAge});
      continue;
    }
    candidates.push_back(std::move(b));
  }
  std::uint64_t freed = 0;
  for (const auto& v : plan.victims) freed += v.blob.size;
  const std::uint64_t remaining = plan.bytes_before - freed;
  const std::uint64_t committed_soon = remaining + in_flight_bytes;

  const auto high =
      static_cast<std::uint64_t>(static_cast<double>(policy.max_bytes) * policy.high_watermark);
  const auto low =
      static_cast<std::uint64_t>(static_cast<double>(policy.max_bytes) * policy.low_watermark);
  std::uint64_t need_budget = committed_soon > high ? committed_soon - low : 0;
  std::uint64_t need_disk = 0;
  if (fs_free_bytes + freed < policy.min_free_bytes)
    need_disk = policy.min_free_bytes - (fs_free_bytes + freed) + (high - low);
  const std::uint64_t need = std::max(need_budget, need_disk);
  const EvictReason reason =
      need_budget >= need_disk ? EvictReason::kBudget : EvictReason::kDiskFree;

  std::uint64_t freed_lru = 0;
  if (need > 0) {
    std::sort(candidates.begin(), candidates.end(), [](const CachedBlob& a, const CachedBlob& b) {
      if (a.last_access_unix != b.last_access_unix) return a.last_access_unix < b.last_access_unix;
      if (a.stored_unix != b.stored_unix) return a.stored_unix < b.stored_unix;
      return a.digest.str() < b.digest.str();
    });
    for (auto& c : candidates) {
      if (freed_lru >= need) break;
      freed_lru += c.size;
      plan.victims.push_back({std::move(c), reason});
    }
    if (freed_lru < need) plan.unmet_bytes = need - freed_lru;
  }
  plan.bytes_after = remaining - freed_lru;
  return plan;
}

}  // namespace pullcache::store
