#include "daemon/registry/filled_spans.h"

#include <algorithm>
#include <limits>

namespace pullcache::registry {

void FilledSpans::add(std::uint64_t begin, std::uint64_t end) {
  if (begin >= end) return;
  // The first span that could touch [begin, end): the one starting at or before begin, if it
  // reaches begin; else the first one after.
  auto it = spans_.upper_bound(begin);
  if (it != spans_.begin() && std::prev(it)->second >= begin) --it;
  while (it != spans_.end() && it->first <= end) {
    begin = std::min(begin, it->first);
    end = std::max(end, it->second);
    total_ -= it->second - it->first;
    it = spans_.erase(it);
  }
  spans_.emplace(begin, end);
  total_ += end - begin;
}

std::uint64_t FilledSpans::filledFrom(std::uint64_t offset) const {
  auto it = spans_.upper_bound(offset);
  if (it == spans_.begin()) return offset;
  --it;
  return it->second > offset ? it->second : offset;
}

std::uint64_t FilledSpans::nextFilled(std::uint64_t offset) const {
  auto it = spans_.upper_bound(offset);
  if (it != spans_.begin() && std::prev(it)->second > offset) return offset;
  return it == spans_.end() ? std::numeric_limits<std::uint64_t>::max() : it->first;
}

}  // namespace pullcache::registry
