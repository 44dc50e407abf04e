// Eviction decisions as a pure function: order, watermarks, pins, max_age, free disk space.
#include "daemon/store/eviction_plan.h"

#include <gtest/gtest.h>

namespace pullcache::store {
namespace {

constexpr std::int64_t kNow = 1'700'000'000;
constexpr std::uint64_t kMiB = 1 << 20;
constexpr std::uint64_t kPlentyFree = 1ull << 40;

CachedBlob blob(const std::string& name, std::uint64_t mib, std::int64_t last_access_ago,
                std::int64_t stored_ago = 100'000) {
  return {sha256Of(name), mib * kMiB, kNow - last_access_ago, kNow - stored_ago};
}

EvictionPolicy budget(std::uint64_t mib) {
  EvictionPolicy p;
  p.max_bytes = mib * kMiB;
  p.high_watermark = 0.9;
  p.low_watermark = 0.8;
  return p;
}

std::vector<std::string> victimNames(const EvictionPlan& plan,
                                     const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const auto& v : plan.victims) {
    for (const auto& n : names) {
      if (sha256Of(n) == v.blob.digest) out.push_back(n);
    }
  }
  return out;
}

TEST(EvictionPlan, NothingBelowTheHighWatermark) {
  // 90 MiB of a 100 MiB budget: at the high watermark, not above it.
  auto plan =
      planEviction({blob("a", 50, 10), blob("b", 40, 5)}, {}, budget(100), kPlentyFree, kNow);
  EXPECT_TRUE(plan.victims.empty());
  EXPECT_EQ(plan.bytes_before, 90 * kMiB);
  EXPECT_EQ(plan.bytes_after, 90 * kMiB);
}

TEST(EvictionPlan, AboveHighFreesDownToLowLeastRecentlyUsedFirst) {
  const std::vector<std::string> names = {"old", "mid", "new", "newest"};
  // 120 MiB in a 100 MiB budget: must get to <= 80 MiB, so 40+ MiB go, oldest access first.
  auto plan = planEviction(
      {blob("new", 30, 20), blob("old", 30, 300), blob("newest", 30, 1), blob("mid", 30, 100)}, {},
      budget(100), kPlentyFree, kNow);
  EXPECT_EQ(victimNames(plan, names), (std::vector<std::string>{"old", "mid"}));
  EXPECT_EQ(plan.bytes_after, 60 * kMiB);
  for (const auto& v : plan.victims) EXPECT_EQ(v.reason, EvictReason::kBudget);
  EXPECT_EQ(plan.unmet_bytes, 0u);
}

TEST(EvictionPlan, EqualAccessTimesFallBackToStorageOrder) {
  const std::vector<std::string> names = {"first", "second", "third"};
  auto plan =
      planEviction({blob("third", 40, 0, 10), blob("first", 40, 0, 30), blob("second", 40, 0, 20)},
                   {}, budget(100), kPlentyFree, kNow);
  EXPECT_EQ(victimNames(plan, names), (std::vector<std::string>{"first"}));
}

TEST(EvictionPlan, PinnedBlobsStayAndWhatCannotBeFreedIsReported) {
  const std::vector<std::string> names = {"pinned-old", "a", "b"};
  std::unordered_set<std::string> pins = {sha256Of("pinned-old").str()};
  auto plan = planEviction({blob("pinned-old", 60, 1000), blob("a", 30, 10), blob("b", 30, 5)},
                           pins, budget(100), kPlentyFree, kNow);
  // 120 MiB, target 80: 40 MiB must go, the pinned (oldest) one cannot: a, then b.
  EXPECT_EQ(victimNames(plan, names), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(plan.pinned_bytes, 60 * kMiB);
  EXPECT_EQ(plan.bytes_after, 60 * kMiB);

  // Pins alone over budget: nothing else to evict, and the shortfall is reported.
  auto over = planEviction({blob("pinned-old", 120, 1000)}, pins, budget(100), kPlentyFree, kNow);
  EXPECT_TRUE(over.victims.empty());
  EXPECT_EQ(over.unmet_bytes, 40 * kMiB);
}

TEST(EvictionPlan, MaxAgeExpiresUnreadBlobsEvenUnderBudget) {
  const std::vector<std::string> names = {"stale", "fresh", "stale-pinned"};
  auto policy = budget(1000);
  policy.max_age_seconds = 7 * 86400;
  std::unordered_set<std::string> pins = {sha256Of("stale-pinned").str()};
  auto plan = planEviction({blob("stale", 1, 8 * 86400), blob("fresh", 1, 6 * 86400),
                            blob("stale-pinned", 1, 30 * 86400)},
                           pins, policy, kPlentyFree, kNow);
  EXPECT_EQ(victimNames(plan, names), (std::vector<std::string>{"stale"}));
  ASSERT_EQ(plan.victims.size(), 1u);
  EXPECT_EQ(plan.victims[0].reason, EvictReason::kMaxAge);
}

TEST(EvictionPlan, LowDiskSpaceEvictsUnderBudget) {
  const std::vector<std::string> names = {"a", "b", "c"};
  auto policy = budget(100);  // margin (high - low) = 10 MiB
  policy.min_free_bytes = 50 * kMiB;
  // The cache holds 30 MiB (far under budget), but the disk has only 45 MiB free: free 5 MiB
  // to reach min_free, plus the 10 MiB margin.
  auto plan = planEviction({blob("a", 10, 30), blob("b", 10, 20), blob("c", 10, 10)}, {}, policy,
                           45 * kMiB, kNow);
  EXPECT_EQ(victimNames(plan, names), (std::vector<std::string>{"a", "b"}));
  for (const auto& v : plan.victims) EXPECT_EQ(v.reason, EvictReason::kDiskFree);
  // Plenty of free space: nothing.
  EXPECT_TRUE(planEviction({blob("a", 10, 30)}, {}, policy, 60 * kMiB, kNow).victims.empty());
}

TEST(EvictionPlan, ExpiredBlobsCountTowardsTheBudget) {
  const std::vector<std::string> names = {"expired", "a", "b"};
  auto policy = budget(100);
  policy.max_age_seconds = 3600;
  // 130 MiB; the expired 50 go first, leaving 80 = low watermark: nothing else goes.
  auto plan = planEviction({blob("expired", 50, 7200), blob("a", 40, 60), blob("b", 40, 30)}, {},
                           policy, kPlentyFree, kNow);
  EXPECT_EQ(victimNames(plan, names), (std::vector<std::string>{"expired"}));
  EXPECT_EQ(plan.bytes_after, 80 * kMiB);
}

TEST(EvictionPlan, RoomIsMadeForBlobsBeingDownloaded) {
  const std::vector<std::string> names = {"a", "b"};
  // 60 MiB cached, 50 MiB arriving: 110 > 90, so free down to 80 including the arrival.
  auto plan = planEviction({blob("a", 30, 20), blob("b", 30, 10)}, {}, budget(100), kPlentyFree,
                           kNow, 50 * kMiB);
  EXPECT_EQ(victimNames(plan, names), (std::vector<std::string>{"a"}));
  EXPECT_EQ(plan.bytes_after, 30 * kMiB);
}

}  // namespace
}  // namespace pullcache::store
