#pragma once
// RFC 9110 single byte-range requests: "bytes=first-last", "bytes=first-", "bytes=-suffix".
// A header that is not a single well-formed byte range is ignored (full 200 answer), as the
// RFC allows; a well-formed range that starts past the end is not satisfiable (416).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace pullcache {

struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;  // inclusive
  [[nodiscard]] std::uint64_t length() const noexcept { return last - first + 1; }
  // "bytes first-last/size"
  [[nodiscard]] std::string contentRange(std::uint64_t size) const;
};

// What a Range header asks for, before the entity's size is known.
struct RangeAsk {
  std::optional<std::uint64_t> first;  // nullopt: a suffix range ("bytes=-N")
  std::optional<std::uint64_t> last;   // inclusive; nullopt: to the end
  std::uint64_t suffix = 0;            // N of a suffix range
  // Bytes asked for, when the header says (a closed or suffix range).
  [[nodiscard]] std::optional<std::uint64_t> length() const {
    if (!first) return suffix;
    if (last) return *last - *first + 1;
    return std::nullopt;
  }
};
// nullopt: not a single well-formed byte range (the header is ignored).
std::optional<RangeAsk> parseRangeAsk(std::string_view header);
// Every range of a header ("bytes=0-1,100-199,-50"); nullopt when any is malformed (the whole
// header is then ignored, as RFC 9110 allows).
std::optional<std::vector<RangeAsk>> parseRangeAsks(std::string_view header);

// What to answer to a set of ranges, once the size is known (RFC 9110 §14.2): the satisfiable
// ranges in the order asked; empty: the whole entity (200: more than `max_ranges`, or ranges
// that overlap, which a server may ignore); error kRangeInvalid: none is satisfiable (416).
Result<std::vector<ByteRange>> resolveRangeAsks(const std::vector<RangeAsk>& asks,
                                                std::uint64_t size, std::size_t max_ranges);
// `ask` against the entity's size. nullopt: serve the whole entity (not given here: the RFC's
// "ignore" cases come from parseRangeAsk). Error kRangeInvalid: answer 416.
Result<ByteRange> resolveRangeAsk(const RangeAsk& ask, std::uint64_t size);

// nullopt: serve the whole entity. Error kRangeInvalid: answer 416.
Result<std::optional<ByteRange>> resolveRange(std::string_view header, std::uint64_t size);

}  // namespace pullcache
