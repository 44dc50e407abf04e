#include "daemon/peers/ranking.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

namespace pullcache::peers {
namespace {

Digest digestNo(int i) { return sha256Of("blob " + std::to_string(i)); }

std::vector<std::string> members(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i)
    out.push_back("10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1) + ":5001");
  return out;
}

// Nodes of different builds and versions must rank alike (a rolling upgrade runs two versions
// side by side): the weights are pinned.
TEST(Ranking, WeightsArePinnedAcrossBuilds) {
  const Digest d =
      Digest::parse("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
          .value();
  EXPECT_EQ(rendezvousWeight(d, "10.0.0.1:5001"), rendezvousWeight(d, "10.0.0.1:5001"));
  EXPECT_EQ(rendezvousWeight(d, "10.0.0.1:5001"), 0x1f41e34a2b626600ULL)
      << std::hex << rendezvousWeight(d, "10.0.0.1:5001");
  EXPECT_NE(rendezvousWeight(d, "10.0.0.1:5001"), rendezvousWeight(d, "10.0.0.2:5001"));
}

TEST(Ranking, EveryNodeComputesTheSameTreeFromTheSameView) {
  constexpr std::size_t kFanout = 4;
  auto view = members(40);
  for (int b = 0; b < 50; ++b) {
    const Digest d = digestNo(b);
    const auto order = rankMembers(d, view);
    // The view in another order (another node's listing) ranks the same.
    auto shuffled = view;
    std::mt19937 rng(static_cast<unsigned>(b));
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    const auto order2 = rankMembers(d, shuffled);
    for (std::size_t r = 0; r < order.size(); ++r) ASSERT_EQ(view[order[r]], shuffled[order2[r]]);
    // Each member's own placement agrees with the global order.
    for (std::size_t r = 0; r < order.size(); ++r) {
      const std::string& self = view[order[r]];
      const Placement p = place(d, shuffled, self, kFanout);
      ASSERT_EQ(p.rank, r) << self;
      EXPECT_EQ(p.root, view[order[0]]);
      if (r == 0) {
        EXPECT_TRUE(p.selfIsRoot());
        EXPECT_FALSE(p.parent);
      } else {
        ASSERT_TRUE(p.parent);
        EXPECT_EQ(*p.parent, view[order[treeParent(r, kFanout)]]);
      }
    }
  }
}

TEST(Ranking, TheTreeBoundsChildrenAndDepth) {
  for (std::size_t fanout : {1u, 2u, 4u, 8u}) {
    auto view = members(500);
    const Digest d = digestNo(7);
    std::map<std::string, std::size_t> children;
    std::size_t max_depth = 0;
    for (const auto& m : view) {
      Placement p = place(d, view, m, fanout);
      if (p.parent) ++children[*p.parent];
      // Depth: follow parents to the root.
      std::size_t depth = 0;
      std::string at = m;
      while (true) {
        Placement q = place(d, view, at, fanout);
        if (!q.parent) break;
        at = *q.parent;
        ASSERT_LT(++depth, view.size()) << "a cycle";
      }
      max_depth = std::max(max_depth, depth);
    }
    for (const auto& [m, n] : children) EXPECT_LE(n, fanout) << m;
    if (fanout == 4) {
      EXPECT_LE(max_depth, 5u);  // a complete 4-ary tree of 500 nodes has depth 5
    }
    if (fanout == 1) {
      EXPECT_EQ(max_depth, view.size() - 1);
    }
  }
}

TEST(Ranking, AMemberLeavingMovesOnlyTheBlobsItWasRootOf) {
  auto view = members(30);
  const std::string leaving = view[11];
  auto after = view;
  after.erase(after.begin() + 11);
  int moved = 0;
  for (int b = 0; b < 3000; ++b) {
    const Digest d = digestNo(b);
    const std::string before_root = view[rankMembers(d, view)[0]];
    const std::string after_root = after[rankMembers(d, after)[0]];
    if (before_root == leaving) {
      ++moved;
      EXPECT_NE(after_root, leaving);
    } else {
      EXPECT_EQ(after_root, before_root) << "blob " << b << " moved though its root stayed";
    }
  }
  EXPECT_GT(moved, 50);  // ~1/30 of 3000
  EXPECT_LT(moved, 150);
}

TEST(Ranking, RootsAreSpreadEvenly) {
  auto view = members(10);
  std::map<std::string, int> roots;
  for (int b = 0; b < 10000; ++b) ++roots[view[rankMembers(digestNo(b), view)[0]]];
  ASSERT_EQ(roots.size(), 10u);
  for (const auto& [m, n] : roots) {
    EXPECT_GT(n, 850) << m;
    EXPECT_LT(n, 1150) << m;
  }
}

TEST(Ranking, ANodeNotYetInTheViewRanksItselfIn) {
  auto view = members(12);
  const std::string newcomer = "10.0.9.9:5001";
  auto with = view;
  with.push_back(newcomer);
  for (int b = 0; b < 100; ++b) {
    const Digest d = digestNo(b);
    Placement outside = place(d, view, newcomer, 4);
    Placement inside = place(d, with, newcomer, 4);
    EXPECT_EQ(outside.rank, inside.rank);
    EXPECT_EQ(outside.root, inside.root);
    EXPECT_EQ(outside.parent, inside.parent);
  }
}

TEST(Ranking, AloneItIsTheRoot) {
  Placement p = place(digestNo(1), std::vector<std::string>{}, "10.0.0.1:5001", 4);
  EXPECT_TRUE(p.selfIsRoot());
  EXPECT_EQ(p.root, "10.0.0.1:5001");
}

}  // namespace
}  // namespace pullcache::peers
