#include "daemon/peers/ranking.h"

#include <algorithm>
#include <numeric>

namespace pullcache::peers {
namespace {

// SplitMix64's finaliser: a bijection with full avalanche.
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

constexpr std::uint64_t fnv1a64(std::string_view s) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

// The digest is already uniformly distributed: its first 16 hex digits are its key.
std::uint64_t digestKey(const Digest& digest) noexcept {
  std::uint64_t v = 0;
  std::string_view hex = digest.hex();
  for (std::size_t i = 0; i < 16 && i < hex.size(); ++i) {
    char c = hex[i];
    v = (v << 4) | static_cast<std::uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  }
  return v;
}

std::uint64_t weightOf(std::uint64_t key, std::string_view member) noexcept {
  return mix64(key ^ mix64(fnv1a64(member)));
}

// Strict weak order: higher weight first, then member text.
bool before(std::uint64_t wa, std::string_view a, std::uint64_t wb, std::string_view b) noexcept {
  return wa != wb ? wa > wb : a < b;
}

}  // namespace

std::uint64_t rendezvousWeight(const Digest& digest, std::string_view member) noexcept {
  return weightOf(digestKey(digest), member);
}

std::vector<std::size_t> rankMembers(const Digest& digest, std::span<const std::string> members) {
  const std::uint64_t key = digestKey(digest);
  std::vector<std::uint64_t> weights(members.size());
  for (std::size_t i = 0; i < members.size(); ++i) weights[i] = weightOf(key, members[i]);
  std::vector<std::size_t> order(members.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return before(weights[a], members[a], weights[b], members[b]);
  });
  return order;
}

Placement place(const Digest& digest, std::span<const std::string> members, std::string_view self,
                std::size_t fanout) {
  const std::uint64_t key = digestKey(digest);
  const std::uint64_t self_weight = weightOf(key, self);
  // The ranking of everyone but `self`, and where `self` falls in it.
  struct Ranked {
    std::uint64_t weight;
    std::string_view member;
  };
  std::vector<Ranked> others;
  others.reserve(members.size());
  std::size_t rank = 0;
  for (const std::string& m : members) {
    if (m == self) continue;
    const std::uint64_t w = weightOf(key, m);
    if (before(w, m, self_weight, self)) ++rank;
    others.push_back({w, m});
  }
  auto cmp = [](const Ranked& a, const Ranked& b) {
    return before(a.weight, a.member, b.weight, b.member);
  };
  Placement p;
  p.rank = rank;
  if (rank == 0) {
    p.root = std::string(self);
    return p;
  }
  // Rank i among all members is rank i among the others for every i < rank.
  const std::size_t parent_rank = treeParent(rank, std::max<std::size_t>(fanout, 1));
  std::nth_element(others.begin(), others.begin() + static_cast<std::ptrdiff_t>(parent_rank),
                   others.end(), cmp);
  p.parent = std::string(others[parent_rank].member);
  if (parent_rank == 0) {
    p.root = *p.parent;
  } else {
    auto top = std::min_element(others.begin(),
                                others.begin() + static_cast<std::ptrdiff_t>(parent_rank), cmp);
    p.root = std::string(top->member);
  }
  return p;
}

}  // namespace pullcache::peers
