#pragma once
// RFC 9110 single byte-range requests: "bytes=first-last", "bytes=first-", "bytes=-suffix".
// A header that is not a single well-formed byte range is ignored (full 200 answer), as the
// RFC allows; a well-formed range that starts past the end is not satisfiable (416).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"

namespace pullcache {

struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;  // inclusive
  [[nodiscard]] std::uint64_t length() const noexcept { return last - first + 1; }
  // "bytes first-last/size"
  [[nodiscard]] std::string contentRange(std::uint64_t size) const;
};

// nullopt: serve the whole entity. Error kRangeInvalid: answer 416.
Result<std::optional<ByteRange>> resolveRange(std::string_view header, std::uint64_t size);

}  // namespace pullcache
