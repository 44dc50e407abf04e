#pragma once
// Who holds what in cluster mode: rendezvous (highest-random-weight) hashing of (digest, member).
// Pure and deterministic across nodes, builds and platforms (no std::hash): every node that has
// the same view computes the same order, so no coordination is needed.
//
// The ranking is also a distribution tree: the member at rank r > 0 gets a blob from the member
// at rank (r - 1) / fanout, so no member serves more than `fanout` children per blob and the
// depth grows as log_fanout(N).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/digest.h"

namespace pullcache::peers {

// The weight of `member` ("ip:port") for `digest`; higher ranks first.
std::uint64_t rendezvousWeight(const Digest& digest, std::string_view member) noexcept;

// Indexes into `members`, best-ranked first. Equal weights (never seen in practice) are ordered
// by member text, so the order is still total.
std::vector<std::size_t> rankMembers(const Digest& digest, std::span<const std::string> members);

// The tree parent of rank `rank` (> 0).
constexpr std::size_t treeParent(std::size_t rank, std::size_t fanout) noexcept {
  return (rank - 1) / fanout;
}

// Where one member gets a blob from, in one view.
struct Placement {
  std::size_t rank = 0;               // of `self` among the members
  std::string root;                   // the top-ranked member: it fetches from the upstream
  std::optional<std::string> parent;  // tree parent of `self` (absent for the root)
  [[nodiscard]] bool selfIsRoot() const noexcept { return rank == 0; }
};

// `members` need not contain `self`: a node that just joined ranks itself in among them, as the
// others will once their view has it. O(N), no allocation beyond the weights.
Placement place(const Digest& digest, std::span<const std::string> members, std::string_view self,
                std::size_t fanout);

}  // namespace pullcache::peers
