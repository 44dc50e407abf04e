#pragma once
// Human units in configuration: sizes ("512MiB", "50GiB", "1000000", "20%") and durations
// ("60s", "5m", "1h", "7d", "250ms").

#include <chrono>
#include <cstdint>
#include <string>
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

// "512 B", "1.5 KiB", "12.3 GiB": for people, not for parsing back.
std::string formatBytes(std::uint64_t bytes);
// "45s", "12m", "3h", "2d": the largest whole unit.
std::string formatAge(std::int64_t seconds);

}  // namespace pullcache
