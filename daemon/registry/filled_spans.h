#pragma once
// Which bytes of a blob being fetched are in its staging file: a set of disjoint, non-adjacent
// half-open spans [begin, end). A blob is written by more than one stream at once when clients
// read ranges of it (the whole-blob fill from the front, and one stream per range that the fill
// is not about to reach), so what is there is no longer one prefix. Not thread-safe: the
// in-flight blob guards it.

#include <cstdint>
#include <map>

namespace pullcache::registry {

class FilledSpans {
 public:
  // Marks [begin, end) as written (merging with the spans it touches).
  void add(std::uint64_t begin, std::uint64_t end);
  // The end of the span that holds byte `offset`, or `offset` itself when it is not written.
  [[nodiscard]] std::uint64_t filledFrom(std::uint64_t offset) const;
  // The first written byte at or after `offset`, or UINT64_MAX when there is none.
  [[nodiscard]] std::uint64_t nextFilled(std::uint64_t offset) const;
  // The bytes [0, prefix()) are all written: what the hasher may read.
  [[nodiscard]] std::uint64_t prefix() const { return filledFrom(0); }
  [[nodiscard]] std::uint64_t total() const noexcept { return total_; }  // bytes written
  [[nodiscard]] std::size_t spans() const noexcept { return spans_.size(); }

 private:
  std::map<std::uint64_t, std::uint64_t> spans_;  // begin -> end
  std::uint64_t total_ = 0;
};

}  // namespace pullcache::registry
