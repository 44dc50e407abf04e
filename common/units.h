#pragma once
// Human units in configuration: sizes ("512MiB", "50GiB", "1000000", "20%") and durations
// ("60s", "5m", "1h", "7d", "250ms").

#include <chrono>
#include <cstdint>
#include <string_view>
#include <variant>

#include "common/error.h"

namespace pullcache {

struct Percent {
  double value = 0;  // 0 < value <= 100
  friend bool operator==(const Percent&, const Percent&) = default;
};
using SizeSpec = std::variant<std::uint64_t, Percent>;

Result<std::uint64_t> parseBytes(std::string_view text);
Result<SizeSpec> parseSizeSpec(std::string_view text);  // bytes or percentage
Result<std::chrono::milliseconds> parseDuration(std::string_view text);

}  // namespace pullcache
