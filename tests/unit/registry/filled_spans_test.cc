#include "daemon/registry/filled_spans.h"

#include <gtest/gtest.h>

#include <limits>

namespace pullcache::registry {
namespace {

constexpr std::uint64_t kNone = std::numeric_limits<std::uint64_t>::max();

TEST(FilledSpans, SpansMergeWhenTheyTouchOrOverlapAndCountEachByteOnce) {
  FilledSpans f;
  f.add(10, 20);
  f.add(30, 40);
  EXPECT_EQ(f.spans(), 2u);
  EXPECT_EQ(f.total(), 20u);
  f.add(20, 30);  // touches both: one span
  EXPECT_EQ(f.spans(), 1u);
  EXPECT_EQ(f.total(), 30u);
  f.add(5, 45);  // covers it
  EXPECT_EQ(f.spans(), 1u);
  EXPECT_EQ(f.total(), 40u);
  f.add(15, 25);  // inside: nothing new
  EXPECT_EQ(f.total(), 40u);
  f.add(7, 7);  // empty
  EXPECT_EQ(f.total(), 40u);
}

TEST(FilledSpans, FilledFromNextFilledAndPrefix) {
  FilledSpans f;
  EXPECT_EQ(f.prefix(), 0u);
  EXPECT_EQ(f.nextFilled(0), kNone);
  f.add(100, 200);
  EXPECT_EQ(f.prefix(), 0u) << "nothing from byte 0 yet";
  EXPECT_EQ(f.filledFrom(150), 200u);
  EXPECT_EQ(f.filledFrom(200), 200u) << "end is exclusive";
  EXPECT_EQ(f.filledFrom(99), 99u);
  EXPECT_EQ(f.nextFilled(0), 100u);
  EXPECT_EQ(f.nextFilled(150), 150u) << "inside a span: that byte";
  EXPECT_EQ(f.nextFilled(200), kNone);
  f.add(0, 50);
  EXPECT_EQ(f.prefix(), 50u);
  f.add(50, 100);
  EXPECT_EQ(f.prefix(), 200u) << "the gap closed: the prefix runs through the later span";
}

TEST(FilledSpans, ManyRandomSpansAgreeWithAByteMap) {
  FilledSpans f;
  std::vector<bool> bytes(4096, false);
  std::uint64_t seed = 7;
  for (int i = 0; i < 500; ++i) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    std::uint64_t a = (seed >> 33) % 4096;
    std::uint64_t len = (seed >> 20) % 64;
    std::uint64_t b = std::min<std::uint64_t>(4096, a + len);
    f.add(a, b);
    for (auto k = a; k < b; ++k) bytes[k] = true;
    std::uint64_t total = 0;
    for (bool x : bytes) total += x ? 1 : 0;
    ASSERT_EQ(f.total(), total) << "after " << i;
    std::uint64_t probe = (seed >> 7) % 4096;
    std::uint64_t end = probe;
    while (end < 4096 && bytes[end]) ++end;
    ASSERT_EQ(f.filledFrom(probe), end);
    std::uint64_t next = probe;
    while (next < 4096 && !bytes[next]) ++next;
    ASSERT_EQ(f.nextFilled(probe), next == 4096 ? kNone : next);
  }
}

}  // namespace
}  // namespace pullcache::registry
