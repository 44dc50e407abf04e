#pragma once
// Which blobs to evict, and why: a pure function of the cached blobs, the pins, the policy and
// the filesystem's free space. The Evictor gathers the inputs and carries the plan out.
//
// Order: blobs not accessed within max_age go first (reason max_age). Then, if the cache is
// above its high watermark, or the filesystem has less free space than min_free_bytes, the
// least recently used blobs go until the cache is at its low watermark and the free space is
// back above min_free_bytes plus the same margin (high - low) of the budget. Pinned blobs are
// never evicted; what cannot be freed because of them is reported as unmet.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "common/digest.h"

namespace pullcache::store {

struct EvictionPolicy {
  std::uint64_t max_bytes = 0;  // the budget, resolved to bytes
  double high_watermark = 0.9;  // fractions of max_bytes
  double low_watermark = 0.8;
  std::uint64_t min_free_bytes = 0;  // free space the filesystem must keep, resolved to bytes
  std::int64_t max_age_seconds = 0;  // 0: no age limit
};

struct CachedBlob {
  Digest digest;
  std::uint64_t size = 0;
  std::int64_t last_access_unix = 0;
  std::int64_t stored_unix = 0;
};

enum class EvictReason { kMaxAge, kBudget, kDiskFree };
std::string_view evictReasonName(EvictReason reason) noexcept;

struct Victim {
  CachedBlob blob;
  EvictReason reason;
};

struct EvictionPlan {
  std::vector<Victim> victims;  // in eviction order
  std::uint64_t bytes_before = 0;
  std::uint64_t blobs_before = 0;
  std::uint64_t bytes_after = 0;
  std::uint64_t pinned_bytes = 0;
  std::uint64_t unmet_bytes = 0;  // still wanted free, but only pinned blobs were left
};

// `in_flight_bytes`: blobs being downloaded; they count against the budget (room is made for
// them before they land) but cannot be evicted.
EvictionPlan planEviction(std::vector<CachedBlob> blobs,
                          const std::unordered_set<std::string>& pinned_digests,
                          const EvictionPolicy& policy, std::uint64_t fs_free_bytes,
                          std::int64_t now_unix, std::uint64_t in_flight_bytes = 0);

}  // namespace pullcache::store
